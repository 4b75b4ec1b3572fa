// The guard that keeps disk waits off I/O threads: it marks only the thread it lives on, only
// while it lives, and a build with assertions stops at a disk wait on a marked thread.
#include "util/thread_role.hpp"

#include <thread>

#include <gtest/gtest.h>

namespace ingot {
namespace {

TEST(ThreadRole, AGuardMarksItsThreadWhileItLives) {
  EXPECT_FALSE(on_io_thread());
  {
    const IoThreadGuard guard;
    EXPECT_TRUE(on_io_thread());
    bool other = true;
    std::thread([&] { other = on_io_thread(); }).join();
    EXPECT_FALSE(other) << "another thread was marked too";
  }
  EXPECT_FALSE(on_io_thread());
}

TEST(ThreadRole, DiskWaitsOffIoThreadsAreFine) {
  expect_may_block("a test's disk wait"); // returns
  SUCCEED();
}

#ifndef NDEBUG
TEST(ThreadRoleDeathTest, ADiskWaitOnAnIoThreadStopsABuildWithAssertions) {
  EXPECT_DEATH(
      {
        const IoThreadGuard guard;
        expect_may_block("Store::reserve");
      },
      "Store::reserve would wait for the disk on an I/O thread");
}
#endif

} // namespace
} // namespace ingot
