#include "server/grpc/front_end.hpp"

#include "server/grpc/services.hpp"

#include <grpcpp/grpcpp.h>

namespace ingot::server {

namespace {

// Bazel and BuildStream send keepalive pings every 60 s during long calls; gRPC's default
// minimum interval (5 minutes) would answer them with "too many pings" and end the call.
constexpr int k_min_ping_interval_ms = 30'000;
// Largest message taken: a batch at its limit with its digests, or a Write chunk (clients send
// 64 KiB to 1 MiB).
constexpr int k_max_receive = 8 << 20;

class GrpcServer final : public GrpcFrontEnd {
public:
  explicit GrpcServer(ServerContext& ctx)
      : m_capabilities(ctx), m_cas(ctx), m_action_cache(ctx), m_bytestream(ctx), m_references(ctx) {
  }

  Result<void> start(const ListenAddress& address) {
    const bool v6 = address.host.find(':') != std::string::npos;
    const std::string target =
        (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(target, grpc::InsecureServerCredentials(), &m_port);
    builder.SetMaxReceiveMessageSize(k_max_receive);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               k_min_ping_interval_ms);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.RegisterService(&m_capabilities);
    builder.RegisterService(&m_cas);
    builder.RegisterService(&m_action_cache);
    builder.RegisterService(&m_bytestream);
    builder.RegisterService(&m_references);
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
  grpc_front::CapabilitiesService m_capabilities;
  grpc_front::CasService m_cas;
  grpc_front::ActionCacheService m_action_cache;
  grpc_front::ByteStreamService m_bytestream;
  grpc_front::ReferenceStorageService m_references;
  int m_port = 0;
  std::unique_ptr<grpc::Server> m_server;
};

} // namespace

Result<std::unique_ptr<GrpcFrontEnd>> GrpcFrontEnd::start(ServerContext& ctx,
                                                          const ListenAddress& address) {
  auto server = std::make_unique<GrpcServer>(ctx);
  INGOT_TRY(server->start(address));
  return std::unique_ptr<GrpcFrontEnd>(std::move(server));
}

} // namespace ingot::server
