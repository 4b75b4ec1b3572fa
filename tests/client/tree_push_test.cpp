// push_tree (client/tree_push.cpp) against a real Ingot server in this process.
#include "running_server.hpp"
#include "support/printers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

using test::fails_with;
using test::ok;
using ::testing::HasSubstr;

TEST_F(ClientTest, PushingAgainTransfersNothing) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);
  auto first = push_tree(*client, source);
  ASSERT_TRUE(ok(first));
  EXPECT_GT(first->transferred_files, 0u);

  auto second = push_tree(*client, source);
  ASSERT_TRUE(ok(second));
  EXPECT_EQ(second->root, first->root);
  EXPECT_EQ(second->transferred_files, 0u);
  EXPECT_EQ(second->transferred_bytes, 0u);
  EXPECT_EQ(second->present_files, k_sample_files);
}

TEST_F(ClientTest, PushReportsProgressThatAddsUpToItsTotals) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  // Distinct contents, none empty: every file is one upload, so the totals are the tree's.
  std::uint64_t bytes = 0;
  for (std::uint64_t i = 0; i < 40; ++i) {
    const auto data = test::random_bytes(i == 7 || i == 23 ? k_large : 100 + i * 50, 200 + i);
    write_file(source / ("d" + std::to_string(i % 4)) / ("f" + std::to_string(i)), data);
    bytes += data.size();
  }

  RecordingProgress progress;
  auto pushed = push_tree(*client, source, {}, &progress);
  ASSERT_TRUE(ok(pushed));
  EXPECT_EQ(pushed->files, 40u);
  EXPECT_EQ(pushed->bytes, bytes);
  const auto seen = progress.seen();
  EXPECT_EQ(seen.starts, 1);
  EXPECT_EQ(seen.start_files, 40u);
  EXPECT_EQ(seen.start_bytes, bytes);
  EXPECT_GE(seen.advances, 3); // two large files alone, the small ones in batches
  EXPECT_EQ(seen.advanced_files, seen.start_files);
  EXPECT_EQ(seen.advanced_bytes, seen.start_bytes);
  EXPECT_EQ(seen.finishes, 1);
  EXPECT_EQ(seen.out_of_order, 0);
}

TEST_F(ClientTest, SettingARefToATreeThatLostABlobPushesItAgain) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_file(source / "kept", "kept");
  write_file(source / "evicted", "evicted before the ref could pin it");
  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));
  // As GC would between the push and the ref: the server now holds the tree incomplete.
  const auto evicted = cas::digest_of(std::string_view("evicted before the ref could pin it"));
  ASSERT_TRUE(ok(m_store->remove(evicted.hash)));
  ASSERT_TRUE(
      fails_with(client->put_ref("main", pushed->root, Pinned::no), Errc::invalid_argument));

  auto ref = set_ref_to_pushed_tree(*client, source, pushed->root, "main", Pinned::yes);
  ASSERT_TRUE(ok(ref));
  EXPECT_EQ(ref->digest, pushed->root);
  EXPECT_TRUE(ref->pinned);
  EXPECT_TRUE(m_store->contains(evicted.hash));
}

TEST_F(ClientTest, SettingARefToATreeTheServerNeverHadFailsAfterOnePushMore) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_file(source / "a", "a");
  const auto unknown = cas::digest_of(std::string_view("not a tree of this directory"));
  const auto before = client->counters();
  auto ref = set_ref_to_pushed_tree(*client, source, unknown, "main", Pinned::no);
  ASSERT_TRUE(fails_with(ref, Errc::invalid_argument));
  EXPECT_THAT(ref.error().message, HasSubstr("main"));
  // The ref, a push (findMissing and the one blob), the ref again: nothing more.
  EXPECT_EQ(client->counters().requests - before.requests, 4u);
}

} // namespace
} // namespace ingot::client
