#include "server/grpc/idle_watch.hpp"

#include <grpcpp/grpcpp.h>

namespace ingot::server::grpc_front {

IdleWatch::IdleWatch(std::chrono::milliseconds limit, std::function<void()> tick)
    : m_limit(limit), m_tick(std::move(tick)), m_thread([this] { run(); }) {}

IdleWatch::~IdleWatch() {
  {
    const std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  m_thread.join();
}

IdleWatch::Id IdleWatch::add(grpc::CallbackServerContext* call) {
  const std::lock_guard lock(m_mutex);
  const Id id = m_next++;
  m_calls.emplace(id, Entry{call, false, false, std::chrono::steady_clock::now()});
  return id;
}

void IdleWatch::waiting(Id id) {
  const std::lock_guard lock(m_mutex);
  if (const auto it = m_calls.find(id); it != m_calls.end()) {
    it->second.waiting = true;
    it->second.since = std::chrono::steady_clock::now();
  }
}

void IdleWatch::working(Id id) {
  const std::lock_guard lock(m_mutex);
  if (const auto it = m_calls.find(id); it != m_calls.end()) {
    it->second.waiting = false;
  }
}

void IdleWatch::remove(Id id) {
  const std::lock_guard lock(m_mutex);
  m_calls.erase(id);
}

void IdleWatch::run() {
  std::unique_lock lock(m_mutex);
  while (!m_stop) {
    // A timer, not a synchronisation: once a second is the resolution the limit needs.
    m_wake.wait_for(lock, std::chrono::seconds(1));
    if (m_stop) {
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, entry] : m_calls) {
      if (entry.waiting && !entry.cancelled && now - entry.since > m_limit) {
        // Under the lock: remove() has not run, so the call's context is alive.
        entry.call->TryCancel();
        entry.cancelled = true;
      }
    }
    lock.unlock();
    m_tick();
    lock.lock();
  }
}

} // namespace ingot::server::grpc_front
