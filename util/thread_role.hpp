// Which threads must never wait for the disk. A server marks the threads that run its
// network event loops; code that may wait for the disk (reservations and the eviction they
// can run, RocksDB writes and compactions, fsync) calls expect_may_block(), which stops a
// build with assertions at once when called from such a thread. So a front end that calls
// the store from the wrong thread fails its tests, instead of stalling every connection of
// that thread in production.
#pragma once

namespace ingot {

// Marks the calling thread as an event-loop thread while the guard lives.
class IoThreadGuard {
public:
  IoThreadGuard();
  ~IoThreadGuard();
  IoThreadGuard(const IoThreadGuard&) = delete;
  IoThreadGuard& operator=(const IoThreadGuard&) = delete;

private:
  bool m_was;
};

bool on_io_thread();

// `what` may wait for the disk: aborts, naming it, when called on an event-loop thread in a
// build with assertions (NDEBUG not defined); does nothing otherwise.
void expect_may_block(const char* what);

} // namespace ingot
