// Internal to server/grpc/: what every service shares. Who is calling (bearer token metadata,
// the same tokens and scopes as HTTP), errors as gRPC status codes, digests from REAPI
// messages, and how a unary call runs its operation on the blocking pool.
#pragma once

#include "reapi.pb.h"
#include "server/context.hpp"
#include "server/ops/ops.hpp"
#include "server/route.hpp"

#include <chrono>
#include <grpcpp/grpcpp.h>
#include <optional>
#include <string>
#include <string_view>

namespace ingot::server::grpc_front {

namespace reapi = build::bazel::remote::execution::v2;

// The status a front end answers an operation's error with: not_found NOT_FOUND, no_space
// RESOURCE_EXHAUSTED, unauthorized UNAUTHENTICATED, forbidden PERMISSION_DENIED, and so on.
grpc::StatusCode status_code(Errc code);
grpc::Status to_status(const Error& error);
inline grpc::Status invalid(std::string message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, std::move(message)};
}

// The caller a call's `authorization` metadata names ("Bearer TOKEN"); anonymous without it.
[[nodiscard]] Result<Caller> caller_of(ServerContext& ctx, const grpc::CallbackServerContext& call);

// A REAPI digest: 64 lowercase hex digits and a size >= 0. `what` names it in the error.
[[nodiscard]] Result<cas::Digest> digest_of(const reapi::Digest& digest, std::string_view what);
void set_digest(reapi::Digest& out, const cas::Digest& digest);

// The route of the HTTP front end that names the same blob or entry (cas or ac): operations
// take routes, and a gRPC call must see exactly what the matching HTTP request sees.
Route blob_route(RouteKind kind, const cas::Digest& digest);

// Fills `out` from `reader`; DATA_LOSS when the stored blob ends first.
[[nodiscard]] grpc::Status read_fully(cas::BlobReader& reader, MutableByteView out);
[[nodiscard]] grpc::Status read_fully(cas::BlobReader& reader, std::string& out);

// The caller, once its credentials and scope allow `op` and the server is not draining.
[[nodiscard]] Result<Caller> admit(ServerContext& ctx, const grpc::CallbackServerContext& call,
                                   Op op);

// The answer to an empty write a client sends to learn whether it may push (BuildStream 1.6
// sends an empty BatchUpdateBlobs and PushDirectory, takes PERMISSION_DENIED as "no", and
// drops the server for the session on anything else it does not expect): nullopt when the
// caller may write, PERMISSION_DENIED saying why otherwise, even with no credentials at all.
[[nodiscard]] std::optional<grpc::Status>
refuse_write_probe(ServerContext& ctx, const grpc::CallbackServerContext& call);

// When a call started and what it is, to count it in /metrics once it ends.
struct CallClock {
  GrpcMethod method;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  // Counts the call's end with `status` and returns it, to pass on to Finish.
  const grpc::Status& ended(Metrics& metrics, const grpc::Status& status) const {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    metrics.record_grpc(method, static_cast<int>(status.error_code()), took.count());
    return status;
  }
};

// Checks the caller may run `op` (and that the server is not draining), then runs `work` on
// the blocking pool, or on the upstream pool for an op that may wait for an upstream server
// (Waits::upstream); `work(caller)` returns the call's status, having filled its response.
template <class Work>
grpc::ServerUnaryReactor* run_unary(ServerContext& ctx, grpc::CallbackServerContext* call,
                                    GrpcMethod method, Op op, Work work) {
  const CallClock clock{method};
  auto* reactor = call->DefaultReactor();
  auto caller = admit(ctx, *call, op);
  if (!caller) {
    reactor->Finish(clock.ended(ctx.metrics, to_status(caller.error())));
    return reactor;
  }
  auto run = [&ctx, clock, reactor, caller = std::move(*caller), work = std::move(work)]() mutable {
    reactor->Finish(clock.ended(ctx.metrics, work(caller)));
  };
  if (waits_of(op) == Waits::upstream) {
    ctx.run_upstream(std::move(run));
  } else {
    ctx.run_blocking(std::move(run));
  }
  return reactor;
}

} // namespace ingot::server::grpc_front
