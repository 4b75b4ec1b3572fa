// SpaceAccount on its own, over a real index: reservations held and given back, the bound and
// the disk refusing what does not fit, the evictor asked for room when the bound is full, and
// the credit evicted inline bytes get until a compaction frees them.
#include "cas/parts_fixture.hpp"
#include "cas/space_account.hpp"
#include "support/result_assertions.hpp"

#include <cstdint>
#include <memory>

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

using test::fails_with;
using test::ok;

constexpr std::uint64_t k_mib = 1024 * 1024;

// Counts what the account asks of the evictor; evicts nothing.
class CountingReclaimer final : public Reclaimer {
public:
  Result<void> reclaim(std::uint64_t) override {
    ++reclaims;
    return {};
  }
  void request_gc() override { ++gc_requests; }

  int reclaims = 0;
  int gc_requests = 0;
};

class SpaceAccountTest : public PartsTest {
protected:
  // An account over the options as set by the test, measured once.
  SpaceAccount& account() {
    if (!m_account) {
      m_account = std::make_unique<SpaceAccount>(m_options, *m_index, m_usage);
      m_account->set_reclaimer(m_reclaimer);
      m_account->measure_disk();
    }
    return *m_account;
  }

  CountingReclaimer m_reclaimer;
  std::unique_ptr<SpaceAccount> m_account;
};

TEST_F(SpaceAccountTest, AReservationHoldsItsBytesUntilItGoes) {
  const auto before = account().space();
  {
    auto r = account().reserve(5000);
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(r->bytes(), 5000U);
    EXPECT_EQ(account().space().reserved, 5000U);
    EXPECT_EQ(account().used_bytes(), before.used + 5000);
  }
  EXPECT_EQ(account().space().reserved, 0U);
  EXPECT_EQ(account().used_bytes(), before.used);
}

TEST_F(SpaceAccountTest, AbsorbedReservationsAreGivenBackOnce) {
  auto first = account().reserve(1000);
  auto second = account().reserve(2000);
  ASSERT_TRUE(ok(first));
  ASSERT_TRUE(ok(second));
  first->absorb(std::move(*second));
  EXPECT_EQ(first->bytes(), 3000U);
  EXPECT_EQ(second->bytes(), 0U);
  second->release();
  EXPECT_EQ(account().space().reserved, 3000U);
  first->release();
  first->release();
  EXPECT_EQ(account().space().reserved, 0U);
}

TEST_F(SpaceAccountTest, AWriteLargerThanTheBoundIsRefusedWithoutEvicting) {
  m_options.max_size = 8 * k_mib;
  EXPECT_TRUE(fails_with(account().reserve(9 * k_mib), Errc::no_space));
  EXPECT_EQ(m_reclaimer.reclaims, 0);
  EXPECT_EQ(account().space().reserved, 0U);
}

TEST_F(SpaceAccountTest, AFullDiskRefusesWhateverTheBound) {
  m_options.free_space = [] {
    return std::uint64_t{0};
  };
  const auto r = account().reserve(1);
  ASSERT_TRUE(fails_with(r, Errc::no_space));
  EXPECT_NE(r.error().message.find("is full"), std::string::npos) << r.error().message;
  EXPECT_EQ(account().space().reserved, 0U);
}

TEST_F(SpaceAccountTest, ReservationsInFlightCountAgainstTheDisk) {
  // Room for one half of the free space besides what the index keeps, not for two.
  constexpr std::uint64_t k_free = 1024 * k_mib;
  m_options.free_space = [] {
    return k_free;
  };
  auto held = account().reserve(k_free / 2);
  ASSERT_TRUE(ok(held));
  EXPECT_TRUE(fails_with(account().reserve(k_free / 2), Errc::no_space));
  held->release();
  EXPECT_TRUE(ok(account().reserve(k_free / 2)));
}

TEST_F(SpaceAccountTest, AFullBoundAsksTheEvictorAndRefusesWhenNothingGoes) {
  m_options.max_size = 16 * k_mib;
  const std::uint64_t free = m_options.max_size - account().used_bytes();
  auto held = account().reserve(free - 1000);
  ASSERT_TRUE(ok(held));
  const auto r = account().reserve(2000);
  ASSERT_TRUE(fails_with(r, Errc::no_space));
  EXPECT_NE(r.error().message.find("raise --max-size"), std::string::npos) << r.error().message;
  EXPECT_GT(m_reclaimer.reclaims, 0);
  held->release();
  EXPECT_TRUE(ok(account().reserve(2000)));
}

TEST_F(SpaceAccountTest, PassingTheHighWatermarkAsksForAGcRun) {
  m_options.max_size = 16 * k_mib;
  m_options.gc_high = 0.9;
  const std::uint64_t high = account().space().gc_high;
  auto below = account().reserve(high - account().used_bytes());
  ASSERT_TRUE(ok(below));
  EXPECT_EQ(m_reclaimer.gc_requests, 0);
  auto above = account().reserve(1);
  ASSERT_TRUE(ok(above));
  EXPECT_EQ(m_reclaimer.gc_requests, 1);
  EXPECT_EQ(m_reclaimer.reclaims, 0);
}

TEST_F(SpaceAccountTest, EvictedInlineBytesCountAsFreedUpToTheCap) {
  m_options.max_size = 32 * k_mib; // a cap of 1 MiB
  const std::uint64_t index = account().space().index;
  account().note_index_write(3 * k_mib);
  EXPECT_EQ(account().space().index, index + 3 * k_mib);
  account().note_inline_freed(512 * 1024);
  EXPECT_EQ(account().space().index, index + 3 * k_mib - 512 * 1024);
  account().note_inline_freed(10 * k_mib);
  EXPECT_EQ(account().credit(), 10 * k_mib + 512 * 1024);
  EXPECT_EQ(account().space().index, index + 3 * k_mib - account().credit_cap());
  EXPECT_EQ(account().credit_cap(), k_mib);
}

TEST_F(SpaceAccountTest, FilesAndPinnedBytesComeFromTheUsageCounters) {
  UsageDelta delta;
  delta.file_bytes = 7000;
  delta.pinned_bytes = 3000;
  m_usage.apply(delta);
  const auto s = account().space();
  EXPECT_EQ(s.files, 7000U);
  EXPECT_EQ(s.pinned, 3000U);
  EXPECT_EQ(s.used, s.files + s.index + s.other + s.reserved);
}

} // namespace
} // namespace ingot::cas
