// The gRPC front end (docs/architecture.md "gRPC"): REAPI's Capabilities,
// ContentAddressableStorage and ActionCache, google.bytestream, and BuildStream 1.x's
// ReferenceStorage, over the same operations as HTTP (server/ops/). On grpc++'s callback API:
// no thread per call; every operation that may wait for the disk runs on the server's blocking
// pool, and a long read or write holds no thread between its messages. This header is kept
// free of grpc++ so that server.cpp need not compile it.
#pragma once

#include "server/server.hpp"
#include "util/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>

namespace ingot::server {

struct ServerContext;

class GrpcFrontEnd {
public:
  // Binds `address` (plain HTTP/2) and starts serving: Errc::io naming the address when it
  // cannot bind. `ctx` outlives the front end.
  [[nodiscard]] static Result<std::unique_ptr<GrpcFrontEnd>> start(ServerContext& ctx,
                                                                   const ListenAddress& address);
  virtual ~GrpcFrontEnd() = default;

  virtual std::uint16_t port() const = 0;
  // Takes no new calls; calls in flight may finish until `deadline` and are cancelled then.
  // Returns once every call has ended. The blocking pool must still run (calls finish there).
  virtual void shutdown(std::chrono::system_clock::time_point deadline) = 0;
};

} // namespace ingot::server
