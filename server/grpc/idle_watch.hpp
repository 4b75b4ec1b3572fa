// Internal to server/grpc/: cancels a client-streaming call (a ByteStream Write) whose client
// has sent nothing for longer than --read-timeout, as HTTP cuts off a stalled body: a live
// client that stops sending must not hold an upload's reserved space for ever (BuildStream
// sets no deadlines; keepalive only catches clients that vanished). Also runs `tick` once a
// second, for other housekeeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace grpc {
class CallbackServerContext;
}

namespace ingot::server::grpc_front {

class IdleWatch {
public:
  IdleWatch(std::chrono::milliseconds limit, std::function<void()> tick);
  ~IdleWatch();
  IdleWatch(const IdleWatch&) = delete;
  IdleWatch& operator=(const IdleWatch&) = delete;

  using Id = std::uint64_t;
  Id add(grpc::CallbackServerContext* call);
  // The call now waits for its client's next message (from now), or has one to handle.
  void waiting(Id id);
  void working(Id id);
  // Before the call's reactor is destroyed: it is never cancelled from here afterwards.
  void remove(Id id);

private:
  struct Entry {
    grpc::CallbackServerContext* call;
    bool waiting = false;
    bool cancelled = false;
    std::chrono::steady_clock::time_point since;
  };
  void run();

  const std::chrono::milliseconds m_limit;
  const std::function<void()> m_tick;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  Id m_next = 1;
  std::map<Id, Entry> m_calls;
  std::thread m_thread; // last: started once everything above exists
};

} // namespace ingot::server::grpc_front
