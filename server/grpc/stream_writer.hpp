// Internal to server/grpc/: a server-streaming call's reactor. What to send is produced on the
// blocking pool one message at a time, and written with no thread held in between.
#pragma once

#include "server/context.hpp"
#include "server/grpc/call.hpp"

#include <functional>
#include <grpcpp/grpcpp.h>
#include <memory>
#include <variant>

namespace ingot::server::grpc_front {

template <class Message>
class StreamWriter final : public grpc::ServerWriteReactor<Message> {
public:
  // The next message to send, or the status that ends the call (OK once all is sent). Runs on
  // the blocking pool, never twice at once.
  using Next = std::function<std::variant<Message, grpc::Status>()>;

  StreamWriter(ServerContext& ctx, GrpcMethod method, Next next)
      : m_ctx(ctx), m_clock{method}, m_next(std::move(next)) {
    produce();
  }

  // A call refused before it starts (bad credentials, a malformed request).
  static StreamWriter* refuse(ServerContext& ctx, GrpcMethod method, grpc::Status status) {
    return new StreamWriter(ctx, method,
                            [status] { return std::variant<Message, grpc::Status>(status); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      // Cancelled: the client went away, or the deadline passed.
      this->Finish(
          m_clock.ended(m_ctx.metrics, {grpc::StatusCode::CANCELLED, "the call was cancelled"}));
      return;
    }
    produce();
  }
  void OnDone() override { delete this; }

private:
  void produce() {
    m_ctx.run_blocking([this] {
      auto next = m_next();
      if (auto* status = std::get_if<grpc::Status>(&next)) {
        this->Finish(m_clock.ended(m_ctx.metrics, *status));
        return;
      }
      m_message = std::move(std::get<Message>(next));
      this->StartWrite(&m_message);
    });
  }

  ServerContext& m_ctx;
  CallClock m_clock;
  Next m_next;
  Message m_message;
};

} // namespace ingot::server::grpc_front
