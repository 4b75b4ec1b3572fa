// scan_tree against real directories: what it records for each kind of entry, that the root
// digest is that of the canonical Directory built here by hand, and what it refuses.
#include "client/tree.hpp"
#include "directory_builder.hpp"
#include "reapi.pb.h"
#include "support/printers.hpp"
#include "support/result_assertions.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

namespace fs = std::filesystem;
namespace reapi = build::bazel::remote::execution::v2;
using test::add_dir;
using test::add_file;
using test::add_symlink;
using test::digest_of;
using test::fails_with;
using test::ok;
using test::set;
using ::testing::HasSubstr;

constexpr auto k_regular = fs::perms(0644);
constexpr auto k_executable = fs::perms(0755);

void write_file(const fs::path& path, std::string_view content, fs::perms perms = k_regular) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, perms);
}

const TreeFile* find_file(const LocalTree& tree, std::string_view path) {
  const auto it = std::find_if(tree.files.begin(), tree.files.end(),
                               [&](const TreeFile& f) { return f.path == path; });
  return it == tree.files.end() ? nullptr : &*it;
}

// The Directory message the scan recorded under `digest`, if it recorded one.
std::optional<reapi::Directory> recorded(const LocalTree& tree, const cas::Digest& digest) {
  for (const auto& [d, bytes] : tree.directories) {
    reapi::Directory dir;
    if (d == digest && dir.ParseFromString(bytes)) {
      return dir;
    }
  }
  return std::nullopt;
}

TEST(TreeScan, RecordsEveryKindOfEntry) {
  test::TempDir tmp;
  const auto root = tmp.path() / "root";
  write_file(root / "a.txt", "alpha");
  write_file(root / "empty", "");
  write_file(root / "run.sh", "#!/bin/sh\n", k_executable);
  write_file(root / "ünïcødé.txt", "unicode");
  write_file(root / "sub" / "b.txt", "beta");
  write_file(root / "sub" / "deeper" / "c.txt", "gamma");
  fs::create_directories(root / "void");
  // Followed, this one would add tosub/b.txt and tosub/deeper/c.txt to the files.
  fs::create_directory_symlink("sub", root / "tosub");
  fs::create_symlink("../outside/x", root / "dangling");

  auto tree = scan_tree(root, 2, EscapingSymlinks::allow); // "dangling" leads out of the tree
  ASSERT_TRUE(ok(tree));

  struct Expected {
    std::string path;
    std::string content;
    bool executable;
  };
  const std::vector<Expected> expected{
      {"a.txt", "alpha", false},       {"empty", "", false},
      {"run.sh", "#!/bin/sh\n", true}, {"ünïcødé.txt", "unicode", false},
      {"sub/b.txt", "beta", false},    {"sub/deeper/c.txt", "gamma", false}};
  EXPECT_EQ(tree->files.size(), expected.size());
  std::uint64_t bytes = 0;
  for (const auto& e : expected) {
    SCOPED_TRACE(e.path);
    const auto* f = find_file(*tree, e.path);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->digest, cas::digest_of(e.content));
    EXPECT_EQ(f->executable, e.executable);
    bytes += e.content.size();
  }
  EXPECT_EQ(tree->file_bytes, bytes);
  EXPECT_EQ(tree->symlinks, 2u);

  // The canonical form, by hand: each list sorted bytewise ("ü" is 0xC3 0xBC, after ASCII).
  reapi::Directory deeper;
  add_file(deeper, "c.txt", "gamma");
  reapi::Directory sub;
  add_file(sub, "b.txt", "beta");
  add_dir(sub, "deeper", deeper);
  const reapi::Directory empty_dir;
  reapi::Directory top;
  add_file(top, "a.txt", "alpha");
  add_file(top, "empty", "");
  add_file(top, "run.sh", "#!/bin/sh\n", true);
  add_file(top, "ünïcødé.txt", "unicode");
  add_dir(top, "sub", sub);
  add_dir(top, "void", empty_dir);
  add_symlink(top, "dangling", "../outside/x");
  add_symlink(top, "tosub", "sub");
  EXPECT_EQ(tree->root, cas::digest_of(top.SerializeAsString()));

  const auto root_dir = recorded(*tree, tree->root);
  ASSERT_TRUE(root_dir);
  ASSERT_EQ(root_dir->symlinks_size(), 2);
  EXPECT_EQ(root_dir->symlinks(0).target(), "../outside/x");
  EXPECT_EQ(root_dir->symlinks(1).target(), "sub");

  // root, sub, sub/deeper and the empty void/, each stored as the bytes of its digest.
  EXPECT_EQ(tree->directories.size(), 4u);
  for (const auto& [digest, dir_bytes] : tree->directories) {
    EXPECT_EQ(digest, cas::digest_of(dir_bytes));
  }
  EXPECT_TRUE(recorded(*tree, cas::digest_of(empty_dir.SerializeAsString())));
}

TEST(TreeScan, KeepsANameThatIsNotUtf8) {
  // REAPI asks for UTF-8 names, but a scan records what is on disk; a server may refuse it.
  test::TempDir tmp;
  const std::string name = "latin1-\xe9t\xe9.txt";
  write_file(tmp.path() / name, "bytes");

  auto tree = scan_tree(tmp.path(), 1);
  ASSERT_TRUE(ok(tree));
  ASSERT_EQ(tree->files.size(), 1u);
  EXPECT_EQ(tree->files[0].path, name);
}

// push-tree accepted symlinks that pull-tree then refused; the scan applies the same rule
// (check_symlink_inside), so the push fails first, naming the path.
TEST(TreeScan, RefusesSymlinksLeadingOutOfTheTreeUnlessAllowed) {
  test::TempDir tmp;
  const auto climbs = tmp.path() / "climbs";
  write_file(climbs / "a.txt", "alpha");
  fs::create_directories(climbs / "sub");
  fs::create_symlink("../a.txt", climbs / "sub" / "inside");
  fs::create_symlink("../../outside", climbs / "sub" / "up");
  auto refused = scan_tree(climbs, 1);
  ASSERT_TRUE(fails_with(refused, Errc::invalid_argument));
  EXPECT_THAT(refused.error().message,
              ::testing::HasSubstr("symlink 'sub/up' -> '../../outside' leads out of the tree"));
  EXPECT_THAT(refused.error().message, ::testing::HasSubstr("--allow-escaping-symlinks"));

  const auto absolute = tmp.path() / "absolute";
  fs::create_directories(absolute);
  fs::create_symlink("/etc/passwd", absolute / "abs");
  auto abs = scan_tree(absolute, 1);
  ASSERT_TRUE(fails_with(abs, Errc::invalid_argument));
  EXPECT_THAT(abs.error().message,
              ::testing::HasSubstr("symlink 'abs' -> '/etc/passwd' is absolute"));

  auto allowed = scan_tree(climbs, 1, EscapingSymlinks::allow);
  ASSERT_TRUE(ok(allowed));
  EXPECT_EQ(allowed->symlinks, 2u);
  fs::remove(climbs / "sub" / "up");
  auto inside = scan_tree(climbs, 1);
  ASSERT_TRUE(ok(inside)) << "a symlink that stays inside is pushed by default";
  EXPECT_EQ(inside->symlinks, 1u);
}

TEST(TreeScan, IdenticalSubdirectoriesAppearOnce) {
  test::TempDir tmp;
  write_file(tmp.path() / "x" / "f", "same");
  write_file(tmp.path() / "y" / "f", "same");
  write_file(tmp.path() / "z" / "f", "other");

  auto tree = scan_tree(tmp.path(), 1);
  ASSERT_TRUE(ok(tree));
  // The root, x and y as one, and z; every file still listed at its own path.
  EXPECT_EQ(tree->directories.size(), 3u);
  EXPECT_EQ(tree->files.size(), 3u);
  EXPECT_NE(find_file(*tree, "x/f"), nullptr);
  EXPECT_NE(find_file(*tree, "y/f"), nullptr);
}

TEST(TreeScan, RootDigestFollowsContentAndExecutableBitOnly) {
  test::TempDir tmp;
  write_file(tmp.path() / "a.txt", "one");
  write_file(tmp.path() / "sub" / "b.txt", "two");
  const auto digest = [&] {
    auto tree = scan_tree(tmp.path(), 2);
    EXPECT_TRUE(ok(tree));
    return tree ? tree->root : cas::Digest{};
  };

  const auto first = digest();
  EXPECT_EQ(digest(), first);

  write_file(tmp.path() / "sub" / "b.txt", "twO");
  EXPECT_NE(digest(), first);
  // The same bytes again, written later: times are not part of the tree.
  write_file(tmp.path() / "sub" / "b.txt", "two");
  EXPECT_EQ(digest(), first);

  // The owner's x bit alone makes the file executable.
  fs::permissions(tmp.path() / "sub" / "b.txt", fs::perms(0744));
  EXPECT_NE(digest(), first);
  auto tree = scan_tree(tmp.path(), 1);
  ASSERT_TRUE(ok(tree));
  const auto* b = find_file(*tree, "sub/b.txt");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->executable);
}

TEST(TreeScan, HashesLargeAndManyFilesAlikeOnAnyNumberOfThreads) {
  test::TempDir tmp;
  // Larger than the read buffer and not a multiple of it.
  const auto big = test::random_bytes((3u << 20) + 7, 1);
  write_file(tmp.path() / "big.bin", big);
  for (int i = 0; i < 100; ++i) {
    write_file(tmp.path() / ("d" + std::to_string(i % 7)) / std::to_string(i),
               test::random_bytes(static_cast<std::size_t>(i) * 37, i));
  }

  auto one = scan_tree(tmp.path(), 1);
  auto four = scan_tree(tmp.path(), 4);
  ASSERT_TRUE(ok(one));
  ASSERT_TRUE(ok(four));
  EXPECT_EQ(one->root, four->root);
  EXPECT_EQ(four->files.size(), 101u);
  const auto* f = find_file(*four, "big.bin");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->digest, cas::digest_of(big));
}

TEST(TreeScan, RefusesAFifoNamingIt) {
  test::TempDir tmp;
  write_file(tmp.path() / "sub" / "ok.txt", "fine");
  ASSERT_EQ(::mkfifo((tmp.path() / "sub" / "pipe").c_str(), 0644), 0);

  auto tree = scan_tree(tmp.path(), 2);
  ASSERT_TRUE(fails_with(tree, Errc::invalid_argument));
  EXPECT_THAT(tree.error().message, HasSubstr("sub/pipe"));
  EXPECT_THAT(tree.error().message, HasSubstr("fifo"));
}

TEST(TreeScan, RefusesWhatIsNotADirectory) {
  test::TempDir tmp;
  write_file(tmp.path() / "file", "x");

  auto file = scan_tree(tmp.path() / "file", 1);
  ASSERT_TRUE(fails_with(file, Errc::invalid_argument));
  EXPECT_THAT(file.error().message, HasSubstr("not a directory"));
  EXPECT_TRUE(fails_with(scan_tree(tmp.path() / "missing", 1), Errc::not_found));
}

TEST(TreeScan, AnUnreadableFileIsAnErrorNamingIt) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root reads files whatever their mode";
  }
  test::TempDir tmp;
  write_file(tmp.path() / "sub" / "secret", "x", fs::perms::none);

  auto tree = scan_tree(tmp.path(), 1);
  ASSERT_FALSE(tree);
  EXPECT_THAT(tree.error().message, HasSubstr("sub/secret"));
}

} // namespace
} // namespace ingot::client
