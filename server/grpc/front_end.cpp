#include "server/grpc/front_end.hpp"

#include "server/context.hpp"
#include "server/grpc/services.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <iterator>

namespace ingot::server {

namespace {

// grpc-core's own messages (a failed handshake, a port it could not bind) on stderr in the
// server's words, one line each, like the rest of its log.
void log_grpc(gpr_log_func_args* args) {
  std::fprintf(stderr, "ingot: gRPC: %s\n", args->message);
}

// Bazel and BuildStream send keepalive pings every 60 s during long calls; gRPC's default
// minimum interval (5 minutes) would answer them with "too many pings" and end the call.
constexpr int k_min_ping_interval_ms = 30'000;
// Server pings on an idle connection, and how long an answer may take.
constexpr int k_keepalive_ms = 120'000;
constexpr int k_keepalive_timeout_ms = 20'000;
// Largest message taken: a batch at its limit with its digests, or a Write chunk (clients send
// 64 KiB to 1 MiB).
constexpr int k_max_receive = 8 << 20;

class GrpcServer final : public GrpcFrontEnd {
public:
  explicit GrpcServer(ServerContext& ctx)
      : m_capabilities(ctx), m_cas(ctx), m_action_cache(ctx), m_bytestream(ctx), m_references(ctx),
        m_fetch(ctx), m_push(ctx) {}

  Result<void> start(const ServerOptions& options, const ListenAddress& address) {
    const bool v6 = address.host.find(':') != std::string::npos;
    const std::string target =
        (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
    auto credentials = credentials_for(options);
    if (!credentials) {
      return std::move(credentials).error();
    }
    grpc::ServerBuilder builder;
    builder.AddListeningPort(target, *credentials, &m_port);
    builder.SetMaxReceiveMessageSize(k_max_receive);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               k_min_ping_interval_ms);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // The server pings too: a client that vanished without closing (a killed VM, a cut link)
    // has its calls cancelled, and what they held (a write's reserved space) released, within
    // a few minutes rather than never. BuildStream sets no deadlines.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, k_keepalive_ms);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, k_keepalive_timeout_ms);
    // gRPC sets SO_REUSEPORT by default: a second server on the same port would then start,
    // and take half of the first one's connections.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(&m_capabilities);
    builder.RegisterService(&m_cas);
    builder.RegisterService(&m_action_cache);
    builder.RegisterService(&m_bytestream);
    builder.RegisterService(&m_references);
    builder.RegisterService(&m_fetch);
    builder.RegisterService(&m_push);
    m_server = builder.BuildAndStart();
    if (!m_server || m_port == 0) {
      return make_error(Errc::io, "cannot listen on " + target +
                                      " (--grpc-listen): the address is in use or not local");
    }
    return {};
  }

  std::uint16_t port() const override { return static_cast<std::uint16_t>(m_port); }

  void shutdown(std::chrono::system_clock::time_point deadline) override {
    m_server->Shutdown(deadline);
    m_server->Wait();
  }

private:
  // Plain HTTP/2, or TLS with the certificate and key, verifying client certificates when
  // there is a client CA.
  static Result<std::shared_ptr<grpc::ServerCredentials>> credentials_for(const ServerOptions& o) {
    if (o.grpc_tls_cert.empty() != o.grpc_tls_key.empty()) {
      return make_error(Errc::invalid_argument,
                        "--grpc-tls-cert and --grpc-tls-key go "
                        "together: pass both for gRPC over TLS, or neither");
    }
    if (o.grpc_tls_cert.empty()) {
      if (!o.grpc_client_ca.empty()) {
        return make_error(Errc::invalid_argument,
                          "--grpc-client-ca verifies client certificates over TLS: it needs "
                          "--grpc-tls-cert and --grpc-tls-key");
      }
      return grpc::InsecureServerCredentials();
    }
    auto pem = [](const std::filesystem::path& path, const char* flag) -> Result<std::string> {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        const int e = errno;
        return make_error(e == ENOENT ? Errc::invalid_argument : Errc::io,
                          std::string(flag) + ": " + path.string() + ": " +
                              (e == ENOENT ? std::string("no such file; pass a PEM file")
                                           : "cannot open: " + std::string(std::strerror(e))));
      }
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find("-----BEGIN ") == std::string::npos) {
        return make_error(Errc::invalid_argument,
                          std::string(flag) + ": " + path.string() + " is not PEM");
      }
      return text;
    };
    // Checked here for a clear error at start; gRPC reads the files itself, again every
    // grpc_tls_refresh, so that a renewed certificate is served without a restart (a pair
    // whose key does not match its certificate is not taken: the previous one goes on).
    INGOT_TRY(pem(o.grpc_tls_cert, "--grpc-tls-cert"));
    INGOT_TRY(pem(o.grpc_tls_key, "--grpc-tls-key"));
    if (!o.grpc_client_ca.empty()) {
      INGOT_TRY(pem(o.grpc_client_ca, "--grpc-client-ca"));
    }
    namespace tls = grpc::experimental;
    const auto refresh =
        static_cast<unsigned>(std::max<std::int64_t>(1, o.grpc_tls_refresh.count()));
    const auto absolute = [](const std::filesystem::path& p) {
      return std::filesystem::absolute(p).string();
    };
    auto files = std::make_shared<tls::FileWatcherCertificateProvider>(
        absolute(o.grpc_tls_key), absolute(o.grpc_tls_cert),
        o.grpc_client_ca.empty() ? std::string() : absolute(o.grpc_client_ca), refresh);
    tls::TlsServerCredentialsOptions options(files);
    options.watch_identity_key_cert_pairs();
    if (o.grpc_client_ca.empty()) {
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    } else {
      options.watch_root_certs();
      // A certificate, when sent, must verify; a client without one may still use a token.
      options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    }
    return tls::TlsServerCredentials(options);
  }

  grpc_front::CapabilitiesService m_capabilities;
  grpc_front::CasService m_cas;
  grpc_front::ActionCacheService m_action_cache;
  grpc_front::ByteStreamService m_bytestream;
  grpc_front::ReferenceStorageService m_references;
  grpc_front::FetchService m_fetch;
  grpc_front::PushService m_push;
  int m_port = 0;
  std::unique_ptr<grpc::Server> m_server;
};

} // namespace

Result<std::unique_ptr<GrpcFrontEnd>> GrpcFrontEnd::start(ServerContext& ctx,
                                                          const ListenAddress& address) {
  gpr_set_log_function(log_grpc);
  auto server = std::make_unique<GrpcServer>(ctx);
  INGOT_TRY(server->start(ctx.options, address));
  return std::unique_ptr<GrpcFrontEnd>(std::move(server));
}

} // namespace ingot::server
