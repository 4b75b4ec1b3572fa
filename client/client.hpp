// The Ingot client: blobs, trees and refs over HTTP, with the retry policy in one place.
#pragma once

#include "cas/digest.hpp"
#include "client/options.hpp"
#include "client/transport.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::client {

// Blobs up to this size travel in batch requests; larger ones stream in a request of their own.
inline constexpr std::uint64_t k_batch_blob_limit = 64u * 1024;
// A batch carries at most this many bytes of blobs (before base64) and this many blobs.
inline constexpr std::uint64_t k_batch_bytes = 4u << 20;
inline constexpr std::size_t k_batch_count = 4096;

struct BlobData {
  cas::Digest digest;
  std::string bytes;
};

enum class Pinned { no, yes };

struct RefInfo {
  std::string name;
  cas::Digest digest;
  bool pinned = false;
  std::int64_t updated_unix_ms = 0;
};

struct RefListing {
  std::vector<RefInfo> refs;
  bool truncated = false; // the server lists at most 1000; narrow the prefix for more
};

struct TransferCounters {
  std::uint64_t requests = 0;
  std::uint64_t retries = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
};

struct MirrorSnapshotInfo {
  std::string ref;
  cas::Digest root;
  std::uint64_t files = 0;
  std::uint64_t skipped = 0;
  bool pinned = false;
};

class Client {
public:
  // Checks the options; connects lazily, on the first request.
  [[nodiscard]] static Result<std::unique_ptr<Client>> create(ClientOptions options);
  // Sends through `transport` instead of HTTP to options.server (tests script one).
  [[nodiscard]] static Result<std::unique_ptr<Client>> create(ClientOptions options,
                                                              std::unique_ptr<Transport> transport);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return m_options; }
  TransferCounters counters() const;

  // Blobs. Every blob downloaded is checked against its digest: a mismatch is Errc::corrupt.
  // get and get_to_file take a size of 0 as unknown (a bare hash); any other size must be the
  // blob's, else Errc::not_found names both sizes.
  [[nodiscard]] Result<std::vector<cas::Digest>> find_missing(std::span<const cas::Digest> digests);
  [[nodiscard]] Result<void> put(const cas::Digest& digest, std::string_view bytes);
  // Streams the file; the server verifies it against `digest` (a file changed since it was
  // hashed is refused, not stored).
  [[nodiscard]] Result<void> put_file(const cas::Digest& digest, const std::filesystem::path& file);
  // One request for many small blobs; an error names the first blob the server refused.
  [[nodiscard]] Result<void> batch_update(std::span<const BlobData> blobs);
  // One request for many small blobs: one result per digest, in order.
  [[nodiscard]] Result<std::vector<Result<std::string>>>
  batch_read(std::span<const cas::Digest> digests);
  [[nodiscard]] Result<std::string> get(const cas::Digest& digest);
  // Streams the blob into `file`: written beside it under a temporary name, checked, given
  // `mode`, then renamed over it, so `file` is never seen half-written or unverified.
  [[nodiscard]] Result<void> get_to_file(const cas::Digest& digest,
                                         const std::filesystem::path& file, unsigned mode = 0644);

  // Trees: the serialized REAPI `Tree` (root and every Directory) of a root Directory digest.
  [[nodiscard]] Result<std::string> get_tree(const cas::Digest& root);

  // Refs.
  [[nodiscard]] Result<RefInfo> get_ref(std::string_view name);
  [[nodiscard]] Result<RefInfo> put_ref(std::string_view name, const cas::Digest& digest,
                                        Pinned pinned);
  [[nodiscard]] Result<void> delete_ref(std::string_view name);
  [[nodiscard]] Result<RefListing> list_refs(std::string_view prefix);

  // Releases. Answers are the server's JSON, as text: the CLI prints them as they are.
  struct ReleaseArtifact {
    std::string name;
    cas::Digest digest;
  };
  // 201 → the record; an existing version is Errc::busy ("409 …: releases are immutable").
  [[nodiscard]] Result<std::string> publish_release(std::string_view project,
                                                    std::string_view version,
                                                    std::span<const ReleaseArtifact> artifacts);
  [[nodiscard]] Result<std::string> get_release(std::string_view project, std::string_view version);
  [[nodiscard]] Result<std::string> list_releases(std::string_view project);
  [[nodiscard]] Result<std::string> yank_release(std::string_view project, std::string_view version,
                                                 std::string_view reason);
  // A small file of a release (SHA256SUMS and its signatures), as it is; not checked here.
  [[nodiscard]] Result<std::string> release_file(std::string_view project, std::string_view version,
                                                 std::string_view name);
  [[nodiscard]] Result<std::string> keys();

  // Nix: pins a store path's closure (by the path's 32-character hash part) against GC, and
  // returns how many blobs the pin holds; unpins it.
  [[nodiscard]] Result<std::uint64_t> pin_nix(std::string_view hash32);
  [[nodiscard]] Result<void> unpin_nix(std::string_view hash32);
  // POST /v1/mirror/NAME/snapshots/SNAPSHOT: every file the mirror has fetched, as a tree
  // under the ref mirror/NAME/SNAPSHOT.
  [[nodiscard]] Result<MirrorSnapshotInfo> snapshot_mirror(std::string_view name,
                                                           std::string_view snapshot, bool pin);
  // PUT or DELETE /v1/mirror/NAME/overrides/PATH (admin scope).
  [[nodiscard]] Result<void> override_mirror(std::string_view name, std::string_view path,
                                             const std::optional<cas::Digest>& digest);

private:
  Client(ClientOptions options, std::unique_ptr<Transport> transport);
  // GET of a JSON or text answer; any status but 2xx is an error about `what`.
  [[nodiscard]] Result<std::string> get_text(const std::string& target, const std::string& what);
  // The retry policy, for every request: connection errors, timeouts and 5xx other than 501
  // and 507 are tried again after a jittered backoff, up to options().max_attempts tries. Any
  // 4xx, and a sink's own error (a full disk), return at once.
  [[nodiscard]] Result<Response> call(const Request& request, BodySink* sink = nullptr);

  ClientOptions m_options;
  std::unique_ptr<Transport> m_transport;
  struct Counters;
  std::unique_ptr<Counters> m_counters;
};

// SHA-256 and size of a file's content, read in a bounded buffer.
[[nodiscard]] Result<cas::Digest> digest_file(const std::filesystem::path& file);

} // namespace ingot::client
