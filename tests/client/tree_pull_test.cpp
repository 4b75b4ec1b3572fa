// pull_tree (client/tree_pull.cpp) against a real Ingot server in this process.
#include "running_server.hpp"
#include "support/printers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

using test::fails_with;
using test::ok;
using ::testing::HasSubstr;

TEST_F(ClientTest, PushThenPullReproducesTheTree) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);

  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));
  EXPECT_EQ(pushed->files, k_sample_files);
  EXPECT_EQ(pushed->symlinks, 2u);
  EXPECT_EQ(pushed->transferred_files + pushed->present_files, k_sample_files);

  const auto dest = m_tmp.path() / "dest";
  auto pulled = pull_tree(*client, pushed->root, dest);
  ASSERT_TRUE(ok(pulled));
  EXPECT_EQ(pulled->files, k_sample_files);
  EXPECT_EQ(pulled->transferred_files, k_sample_files);
  EXPECT_EQ(pulled->present_files, 0u);
  EXPECT_EQ(describe_tree(dest), describe_tree(source));
  // Spelled out, in case both sides were wrong the same way.
  EXPECT_EQ(mode_of(dest / "bin" / "tool"), 0755u);
  EXPECT_EQ(mode_of(dest / "README"), 0644u);
  EXPECT_EQ(test::read_file(dest / "src" / "copy_of_readme"), "read me\n");
  EXPECT_EQ(fs::read_symlink(dest / "link"), "src/lib/deep.c");
  EXPECT_TRUE(fs::is_directory(dest / "nothing" / "here"));
  EXPECT_EQ(fs::file_size(dest / "empty"), 0u);
}

TEST_F(ClientTest, PullingAgainIntoTheSameDestinationTransfersNothing) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);
  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));
  const auto dest = m_tmp.path() / "dest";
  ASSERT_TRUE(ok(pull_tree(*client, pushed->root, dest)));
  // A mode changed at the destination is put right without a download.
  fs::permissions(dest / "bin" / "tool", fs::perms(0644));

  const auto before = client->counters();
  auto again = pull_tree(*client, pushed->root, dest);
  ASSERT_TRUE(ok(again));
  EXPECT_EQ(again->transferred_files, 0u);
  EXPECT_EQ(again->transferred_bytes, 0u);
  EXPECT_EQ(again->present_files, again->files);
  EXPECT_EQ(again->present_files, k_sample_files);
  EXPECT_EQ(client->counters().requests - before.requests, 1u); // the tree, nothing else
  EXPECT_EQ(describe_tree(dest), describe_tree(source));
}

TEST_F(ClientTest, PullRefusesATreeWithAnEscapingSymlink) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_file(source / "sub" / "file", "content");
  fs::create_symlink("../../outside", source / "sub" / "escape");
  // push-tree refuses it by the same rule, naming it; pushed anyway, as another client may.
  auto push_refused = push_tree(*client, source);
  ASSERT_TRUE(fails_with(push_refused, Errc::invalid_argument));
  EXPECT_THAT(push_refused.error().message, HasSubstr("sub/escape"));
  EXPECT_EQ(client->counters().requests, 0u) << "refused before anything was sent";
  auto pushed = push_tree(*client, source, {EscapingSymlinks::allow});
  ASSERT_TRUE(ok(pushed));

  const auto dest = m_tmp.path() / "dest";
  auto refused = pull_tree(*client, pushed->root, dest, {EscapingSymlinks::refuse});
  ASSERT_TRUE(fails_with(refused, Errc::invalid_argument));
  EXPECT_THAT(refused.error().message, HasSubstr("sub/escape"));
  EXPECT_FALSE(fs::exists(dest / "sub" / "file"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "sub" / "escape")));

  // Allowed, the same tree comes down with the link as it was.
  auto allowed = pull_tree(*client, pushed->root, dest, {EscapingSymlinks::allow});
  ASSERT_TRUE(ok(allowed));
  EXPECT_EQ(fs::read_symlink(dest / "sub" / "escape"), "../../outside");
}

TEST_F(ClientTest, PullReportsProgressThatAddsUpToItsTotals) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);
  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));

  RecordingProgress progress;
  auto pulled = pull_tree(*client, pushed->root, m_tmp.path() / "dest", {}, &progress);
  ASSERT_TRUE(ok(pulled));
  const auto seen = progress.seen();
  EXPECT_EQ(seen.starts, 1);
  EXPECT_EQ(seen.start_files, k_sample_files);
  EXPECT_EQ(seen.start_bytes, pulled->bytes);
  EXPECT_EQ(seen.advanced_files, seen.start_files);
  EXPECT_EQ(seen.advanced_bytes, seen.start_bytes);
  EXPECT_EQ(seen.finishes, 1);
  EXPECT_EQ(seen.out_of_order, 0);
}

} // namespace
} // namespace ingot::client
