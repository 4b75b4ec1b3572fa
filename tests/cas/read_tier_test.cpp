// Reads from memory alone: what the store answers inside a MemoryOnlyReads scope, and that
// it never claims "not stored" for what it could not look at.
#include "cas/read_tier.hpp"
#include "cas/store.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

class ReadTierTest : public ::testing::Test {
protected:
  void SetUp() override {
    StoreOptions options;
    options.dir = m_dir.path() / "data";
    options.inline_threshold = 1024;
    options.compression = Compression::off;
    auto store = Store::open(options);
    ASSERT_TRUE(store) << store.error().message;
    m_store = std::move(*store);
  }

  test::TempDir m_dir;
  std::unique_ptr<Store> m_store;
};

TEST_F(ReadTierTest, TheScopeEndsWithItsGuardAndNests) {
  EXPECT_FALSE(memory_only_reads());
  {
    const MemoryOnlyReads outer;
    {
      const MemoryOnlyReads inner;
      EXPECT_TRUE(memory_only_reads());
    }
    EXPECT_TRUE(memory_only_reads());
  }
  EXPECT_FALSE(memory_only_reads());
}

TEST_F(ReadTierTest, AnInlineBlobJustWrittenIsReadFromMemory) {
  const auto small = test::must_put(*m_store, "small and inline");
  const MemoryOnlyReads memory_only;
  std::string bytes;
  auto read = test::read_and_hash(*m_store, small.hash, &bytes);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(bytes, "small and inline");
}

TEST_F(ReadTierTest, AFileBlobIsOpenedWhenItsRecordIsInMemory) {
  const std::string big(4096, 'f');
  const auto file = test::must_put(*m_store, big);
  const MemoryOnlyReads memory_only;
  auto reader = m_store->open_read(file.hash);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->length(), big.size());
}

TEST_F(ReadTierTest, AMissIsAMissFromMemoryToo) {
  const MemoryOnlyReads memory_only;
  auto reader = m_store->open_read(digest_of("never stored").hash);
  ASSERT_FALSE(reader);
  // Nothing was ever flushed: the memtable and the filters in memory know it is not there.
  EXPECT_EQ(reader.error().code, Errc::not_found) << reader.error().message;
}

TEST_F(ReadTierTest, AnEntryIsReadFromMemoryOrSaysItWouldWaitButNeverThatItIsGone) {
  const auto value = test::must_put(*m_store, "value");
  ASSERT_TRUE(m_store->ns_put(Namespace::kv, "k", value));
  const MemoryOnlyReads memory_only;
  auto entry = m_store->ns_get(Namespace::kv, "k");
  if (!entry) {
    EXPECT_EQ(entry.error().code, Errc::would_block) << entry.error().message;
  } else {
    EXPECT_EQ(entry->value, value);
  }
}

} // namespace
} // namespace ingot::cas
