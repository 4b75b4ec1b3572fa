// The order of eviction (cas/evictor.cpp, cas/recency.cpp): least recently used first, a read
// moving a blob behind newer ones, and a recent read protecting a blob for its time only. The
// bound itself, completeness and dry runs: gc_test.cpp.
//
// Recency is in seconds of StoreOptions::clock, which these tests move by hand: the order of
// eviction never depends on how fast the machine is.
#include "cas/gc_fixture.hpp"

namespace ingot::cas {
namespace {

using namespace gc_test;

TEST_F(GcTest, BlobsReadRegularlySurviveAFlood) {
  ASSERT_NO_FATAL_FAILURE(open(k_max));
  std::vector<Digest> hot;
  for (std::uint64_t i = 0; i < 10; ++i) {
    hot.push_back(put_file_blob(100 + i));
  }
  const Digest first_flood = put_file_blob(1000);
  for (int i = 0; i < k_flood; ++i) {
    advance();
    put_file_blob(1001 + static_cast<std::uint64_t>(i));
    if (i % 10 != 9) {
      continue;
    }
    // Every 1 MiB of new data, a client reads the hot set, each way a client can.
    advance();
    for (std::size_t j = 0; j < hot.size(); ++j) {
      switch ((static_cast<std::size_t>(i) / 10 + j) % 3) {
      case 0:
        ASSERT_TRUE(ok(read_blob(store(), hot[j].hash))) << "hot blob " << j << " at " << i;
        break;
      case 1:
        ASSERT_TRUE(ok(store().stat(hot[j].hash))) << "hot blob " << j << " at " << i;
        break;
      default:
        ASSERT_TRUE(store().contains(hot[j].hash)) << "hot blob " << j << " at " << i;
        break;
      }
    }
    ASSERT_TRUE(ok(store().flush_recency()));
  }
  for (const auto& d : hot) {
    EXPECT_TRUE(reads_back(d));
  }
  EXPECT_FALSE(on_disk(first_flood)) << "the flood evicted nothing: the test proves nothing";
}

// Eviction one blob at a time, with a target just under the current use: the first run must
// take the oldest, the next the next oldest.
TEST_F(GcTest, ColdBlobsAreEvictedOldestFirst) {
  ASSERT_NO_FATAL_FAILURE(open(0)); // no bound: only these GC runs evict
  advance();
  const Digest a = put_file_blob(1);
  advance();
  const Digest b = put_file_blob(2);
  advance();
  const Digest c = put_file_blob(3);
  advance();
  const Digest newest = put_file_blob(4);

  const std::vector<Digest> order{a, b, c};
  for (int run = 0; run < 10 && on_disk(c); ++run) {
    const auto report = store().gc(down_to(store().space().used - 1));
    ASSERT_TRUE(ok(report));
    EXPECT_GE(report->cas.entries, 1U);
    for (std::size_t i = 1; i < order.size(); ++i) {
      if (!on_disk(order[i])) {
        ASSERT_FALSE(on_disk(order[i - 1]))
            << "blob " << i << " was evicted before the older blob " << i - 1;
      }
    }
  }
  EXPECT_FALSE(on_disk(a));
  EXPECT_FALSE(on_disk(b));
  EXPECT_FALSE(on_disk(c));
  EXPECT_TRUE(on_disk(newest)) << "GC went further than its target";
}

TEST_F(GcTest, AReadMovesABlobBehindNewerOnes) {
  ASSERT_NO_FATAL_FAILURE(open(0));
  advance();
  const Digest a = put_file_blob(1);
  advance();
  const Digest b = put_file_blob(2);
  advance();
  const Digest c = put_file_blob(3);
  advance();
  ASSERT_TRUE(ok(read_blob(store(), a.hash))); // a is now the most recently used

  ASSERT_TRUE(ok(store().gc(down_to(store().space().used - 1))));
  EXPECT_FALSE(on_disk(b));
  EXPECT_TRUE(on_disk(a));
  EXPECT_TRUE(on_disk(c));
  ASSERT_TRUE(ok(store().gc(down_to(store().space().used - 1))));
  EXPECT_FALSE(on_disk(c));
  EXPECT_TRUE(on_disk(a));
}

// Issue 14: four writers putting ten times the bound in a few seconds turned it over faster
// than recency's one-second grain, and evicted the hot set that readers were reading all
// along. The rule: a blob read within the last StoreOptions::read_protection_s seconds is
// evicted only after every unpinned blob not read since, however fast the writes come.
TEST_F(GcTest, ABlobReadRecentlyOutlivesAFloodOfWritesInTheSameSecond) {
  ASSERT_NO_FATAL_FAILURE(open(k_max));
  advance();
  const Digest hot = put_file_blob(1);
  const Digest cold = put_file_blob(2);
  ASSERT_TRUE(ok(read_blob(store(), hot.hash)));
  // The whole bound turns over ten times within one second of the store's clock: the writes
  // evict for themselves, before any background flush of the read need have happened.
  for (int i = 0; i < k_flood; ++i) {
    put_file_blob(100 + static_cast<std::uint64_t>(i));
    if (i % 10 == 0) {
      ASSERT_TRUE(ok(read_blob(store(), hot.hash))) << "after write " << i;
    }
  }
  EXPECT_TRUE(on_disk(hot));
  EXPECT_FALSE(on_disk(cold)) << "the flood evicted nothing older";
  EXPECT_TRUE(reads_back(hot));
}

TEST_F(GcTest, ARecentReadGoesOnlyAfterEveryBlobNotReadSince) {
  ASSERT_NO_FATAL_FAILURE(open(0));
  const auto protection = m_options.read_protection_s;
  advance();
  const Digest hot = put_file_blob(1);
  std::vector<Digest> others;
  for (std::uint64_t i = 0; i < 10; ++i) {
    others.push_back(put_file_blob(10 + i)); // the same second as the read below
  }
  ASSERT_TRUE(ok(read_blob(store(), hot.hash)));
  ASSERT_TRUE(ok(store().flush_recency())); // recency's time is when it is written
  for (int i = 1; i <= 3; ++i) {
    advance(protection / 4); // still within the read's protection
    others.push_back(put_file_blob(100 + static_cast<std::uint64_t>(i)));
  }
  // Every blob but one goes: the one left is the one read.
  const auto files = static_cast<std::uint64_t>(others.size()) * k_blob;
  auto report = store().gc(down_to(store().space().used - files + k_blob / 2));
  ASSERT_TRUE(ok(report));
  EXPECT_TRUE(on_disk(hot));
  for (const auto& d : others) {
    EXPECT_FALSE(on_disk(d)) << d.hex() << " was not read, and outlived a blob that was";
  }
}

TEST_F(GcTest, AReadProtectsOnlyForItsTime) {
  ASSERT_NO_FATAL_FAILURE(open(0));
  advance();
  const Digest read_long_ago = put_file_blob(1);
  ASSERT_TRUE(ok(read_blob(store(), read_long_ago.hash)));
  ASSERT_TRUE(ok(store().flush_recency()));
  advance(m_options.read_protection_s + 1);
  const Digest written_since = put_file_blob(2);
  // Least recently used again: the read is older than its protection, the write is not.
  ASSERT_TRUE(ok(store().gc(down_to(store().space().used - 1))));
  EXPECT_FALSE(on_disk(read_long_ago));
  EXPECT_TRUE(on_disk(written_since));
}

} // namespace
} // namespace ingot::cas
