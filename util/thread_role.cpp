#include "util/thread_role.hpp"

#include <cstdio>
#include <cstdlib>

namespace ingot {

namespace {
thread_local bool t_io_thread = false;
} // namespace

IoThreadGuard::IoThreadGuard() : m_was(t_io_thread) {
  t_io_thread = true;
}

IoThreadGuard::~IoThreadGuard() {
  t_io_thread = m_was;
}

bool on_io_thread() {
  return t_io_thread;
}

void expect_may_block(const char* what) {
#ifndef NDEBUG
  if (t_io_thread) {
    std::fprintf(stderr, "ingot: bug: %s would wait for the disk on an I/O thread\n", what);
    std::abort();
  }
#else
  (void)what;
#endif
}

} // namespace ingot
