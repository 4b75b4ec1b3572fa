// `ingot serve`: the HTTP cache server over a Store (ARCHITECTURE.md "HTTP API").
#pragma once

#include "cas/store.hpp"
#include "server/auth.hpp"
#include "util/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ingot::server {

enum class LogFormat { text, json, off };

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0; // 0 picks a free port
};

// --mirror NAME=URL: an upstream served at /mirror/NAME/ (server/ops/mirror.hpp).
struct MirrorSpec {
  std::string name;
  std::string url; // http:// or https://, with or without a path
  // --mirror-mutable NAME=GLOB,...: the paths that change in place (glob_matches); empty: the
  // built-in list of repository indexes (is_mutable_path).
  std::vector<std::string> mutable_globs;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080; // 0 picks a free port (see Server::port())
  // With both, the listener above serves HTTPS: a PEM certificate chain and its key, read
  // again on SIGHUP (a renewed certificate needs no restart).
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  // A second listener serving plain HTTP beside an HTTPS one (e.g. on loopback for local
  // tools); only with TLS.
  std::optional<ListenAddress> http_listen;
  // The gRPC front end (REAPI cache services, ByteStream) on its own port; off without it.
  std::optional<ListenAddress> grpc_listen;
  // With both, gRPC is served over TLS (grpcs://): a PEM certificate chain and its key, checked
  // at start and read again every `grpc_tls_refresh` (with the client CA): a renewed pair is
  // served from the next connection on.
  std::filesystem::path grpc_tls_cert;
  std::filesystem::path grpc_tls_key;
  std::chrono::seconds grpc_tls_refresh{30};
  // With TLS: client certificates signed by these CAs (PEM) are verified, and a call over a
  // verified one is given `grpc_client_cert_scopes` (BuildStream 1.6 can send no token, only
  // a certificate). A call without one is anonymous or uses its token, as over plain gRPC.
  std::filesystem::path grpc_client_ca;
  Scopes grpc_client_cert_scopes = k_scope_read | k_scope_write;
  unsigned threads = 0; // 0: one per core
  Scopes anonymous = k_scope_read;
  // Largest request body accepted (413 above it). Bodies are streamed, so this bounds disk
  // use per request, not memory.
  std::uint64_t max_blob_size = 64ull << 30;
  std::size_t max_connections = 1024;
  // A request header must arrive whole within this time, and so must each piece of a body;
  // an idle keep-alive connection is closed after it too.
  std::chrono::milliseconds read_timeout{30'000};
  // A body that arrives slower than this on average, once past its first read timeout, is cut
  // off with 408: a client trickling bytes holds a connection for a bounded time only.
  std::uint64_t min_body_rate = 16 * 1024;
  // On SIGTERM/SIGINT, requests in flight get this long to finish.
  std::chrono::milliseconds shutdown_grace{10'000};
  LogFormat log_format = LogFormat::text;
  // Ed25519 keys for releases (`ingot keygen`): the first signs, every one is published.
  std::vector<std::filesystem::path> signing_keys;
  // The Priority nix-cache-info announces (lower is tried first; cache.nixos.org says 40).
  unsigned nix_priority = 40;
  // The version the page at / shows, e.g. "0.1.0 (commit abc1234)"; empty: the project's.
  std::string version;
  // Upstreams served at /mirror/NAME/, and how long a repository index is served before it is
  // checked with its upstream again.
  std::vector<MirrorSpec> mirrors;
  std::chrono::seconds mirror_ttl{300};
};

class Server {
public:
  // Loads the signing keys (an unreadable or loosely permitted key file is an error naming it),
  // then binds and listens: Errc::io naming the address when it cannot.
  [[nodiscard]] static Result<std::unique_ptr<Server>>
  create(const ServerOptions& options, cas::Store& store, const std::filesystem::path& data_dir);
  virtual ~Server() = default;

  // The port of the main listener (HTTPS with TLS), and of the plain --http-listen one (0
  // without it).
  virtual std::uint16_t port() const = 0;
  virtual std::uint16_t http_port() const = 0;
  // The gRPC port (--grpc-listen), 0 without it.
  virtual std::uint16_t grpc_port() const = 0;
  // Serves until SIGINT or SIGTERM (or stop()), then drains: stops accepting, lets requests
  // in flight finish within the grace period, and returns.
  virtual void run() = 0;
  // Thread-safe; starts the same drain as a signal.
  virtual void stop() = 0;
};

} // namespace ingot::server
