// Recency on its own, over a real index: the eviction order's time never goes back, uses are
// kept in memory until a flush writes them (a read's in the future, a write's now), lookups
// are persisted with them, and the floor an eviction run raises is forgotten on demand.
#include "cas/blob_records.hpp"
#include "cas/parts_fixture.hpp"
#include "cas/recency.hpp"
#include "cas/space_account.hpp"
#include "support/result_assertions.hpp"

#include <cstdint>
#include <memory>
#include <string_view>

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

using test::ok;

constexpr std::int64_t k_protection_s = 60;

class RecencyTest : public PartsTest {
protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(PartsTest::SetUp());
    BlobFiles files(m_tmp.path());
    ASSERT_TRUE(ok(files.prepare()));
    m_space = std::make_unique<SpaceAccount>(m_options, *m_index, m_usage);
    m_recency = std::make_unique<Recency>(
        *m_index, m_usage, [this] { return m_now; }, k_protection_s);
    m_records =
        std::make_unique<BlobRecords>(*m_index, std::move(files), m_usage, *m_space, *m_recency);
  }

  // An inline blob, committed at the current tick.
  Hash stored(std::string_view data) {
    const Digest digest = digest_of(data);
    BlobRecord record;
    record.size = data.size();
    record.stored_size = data.size();
    record.is_inline = true;
    EXPECT_TRUE(ok(m_records->commit_inline(digest, record, as_bytes(data))));
    return digest.hash;
  }

  std::optional<std::int64_t> last_use(const Hash& hash) {
    auto last = m_index->last_use(hash);
    EXPECT_TRUE(ok(last));
    return last ? *last : std::nullopt;
  }

  std::int64_t m_now = 1000;
  std::unique_ptr<SpaceAccount> m_space;
  std::unique_ptr<Recency> m_recency;
  std::unique_ptr<BlobRecords> m_records;
};

TEST_F(RecencyTest, TheTickNeverGoesBackWithTheClock) {
  EXPECT_EQ(m_recency->tick(), 1000);
  m_now = 900; // a wall clock stepped back
  EXPECT_EQ(m_recency->now(), 900);
  EXPECT_EQ(m_recency->tick(), 1000);
  m_now = 1200;
  EXPECT_EQ(m_recency->tick(), 1200);
}

TEST_F(RecencyTest, AUseIsKeptInMemoryUntilAFlushWritesIt) {
  const Hash hash = stored("a blob");
  EXPECT_EQ(last_use(hash), 1000);
  m_now = 1100;
  m_recency->touch(hash, Use::write);
  EXPECT_TRUE(m_recency->touched(hash));
  EXPECT_EQ(last_use(hash), 1000);
  ASSERT_TRUE(ok(m_recency->flush(*m_records)));
  EXPECT_FALSE(m_recency->touched(hash));
  EXPECT_EQ(last_use(hash), 1100);
}

TEST_F(RecencyTest, AReadCountsAsAUseInTheFutureAndOutranksAWrite) {
  const Hash hash = stored("a blob");
  m_now = 1100;
  m_recency->touch(hash, Use::read);
  m_recency->touch(hash, Use::write); // after the read: the read still protects it
  ASSERT_TRUE(ok(m_recency->flush(*m_records)));
  EXPECT_EQ(last_use(hash), 1100 + k_protection_s);
}

TEST_F(RecencyTest, AUseOfABlobRemovedSinceIsDropped) {
  const Hash hash = stored("a blob");
  auto blob = m_index->get_blob(hash, WithData::no);
  ASSERT_TRUE(ok(blob));
  ASSERT_TRUE(blob->has_value());
  m_recency->touch(hash, Use::read);
  {
    std::lock_guard lock(m_records->lock(hash));
    ASSERT_TRUE(ok(m_records->erase(hash, (*blob)->record)));
  }
  ASSERT_TRUE(ok(m_recency->flush(*m_records)));
  EXPECT_EQ(last_use(hash), std::nullopt);
  auto order = m_index->lru_scan({}, 10);
  ASSERT_TRUE(ok(order));
  EXPECT_TRUE(order->empty());
}

TEST_F(RecencyTest, AFlushPersistsTheLookupsCounted) {
  m_usage.count_lookup(true);
  m_usage.count_lookup(true);
  m_usage.count_lookup(false);
  EXPECT_EQ(m_usage.usage().hits, 2U);
  ASSERT_TRUE(ok(m_recency->flush(*m_records)));
  auto persisted = m_index->load_usage();
  ASSERT_TRUE(ok(persisted));
  EXPECT_EQ(persisted->hits, 2);
  EXPECT_EQ(persisted->misses, 1);
  EXPECT_EQ(m_usage.usage().hits, 2U); // counted once, not again when persisted
  EXPECT_EQ(m_usage.usage().misses, 1U);
}

TEST_F(RecencyTest, AnEvictionRunRaisesTheFloorAndUnpinningForgetsIt) {
  EXPECT_EQ(m_recency->floor(), LruKey{});
  {
    auto run = m_recency->begin_run();
    EXPECT_EQ(run.floor(), LruKey{});
    run.raise(LruKey{500, {}});
    EXPECT_EQ(run.floor(), (LruKey{500, {}}));
  }
  EXPECT_EQ(m_recency->floor(), (LruKey{500, {}}));
  m_recency->forget_floor();
  EXPECT_EQ(m_recency->floor(), LruKey{});
}

} // namespace
} // namespace ingot::cas
