// plan_tree on Tree messages built here: a scanned tree comes back as the same paths, and a
// tree that is inconsistent, malformed, escapes its root or expands beyond the limits is
// refused with an error naming the offending path.
#include "client/tree.hpp"
#include "directory_builder.hpp"
#include "reapi.pb.h"
#include "support/printers.hpp"
#include "support/result_assertions.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <fstream>
#include <tuple>

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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string tree_bytes(const reapi::Directory& root,
                       const std::vector<reapi::Directory>& children) {
  reapi::Tree tree;
  *tree.mutable_root() = root;
  for (const auto& c : children) {
    *tree.add_children() = c;
  }
  return tree.SerializeAsString();
}

Result<TreePlan> plan(const reapi::Directory& root, const std::vector<reapi::Directory>& children,
                      EscapingSymlinks symlinks = EscapingSymlinks::refuse) {
  return plan_tree(tree_bytes(root, children), digest_of(root), symlinks);
}

std::vector<std::string> file_paths(const TreePlan& p) {
  std::vector<std::string> out;
  for (const auto& f : p.files) {
    out.push_back(f.path);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void write_file(const fs::path& path, std::string_view content, fs::perms perms) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
  fs::permissions(path, perms);
}

TEST(TreePlan, AScannedTreeComesBackAsTheSamePaths) {
  test::TempDir tmp;
  write_file(tmp.path() / "a.txt", "alpha", fs::perms(0644));
  write_file(tmp.path() / "empty", "", fs::perms(0644));
  write_file(tmp.path() / "run.sh", "#!/bin/sh\n", fs::perms(0755));
  write_file(tmp.path() / "ünïcødé.txt", "unicode", fs::perms(0644));
  write_file(tmp.path() / "sub" / "b.txt", "beta", fs::perms(0644));
  write_file(tmp.path() / "sub" / "deeper" / "c.txt", "gamma", fs::perms(0644));
  fs::create_directories(tmp.path() / "void");
  fs::create_directory_symlink("sub", tmp.path() / "tosub");
  fs::create_symlink("../a.txt", tmp.path() / "sub" / "up");
  auto scanned = scan_tree(tmp.path(), 2);
  ASSERT_TRUE(ok(scanned));

  reapi::Tree tree;
  for (const auto& [digest, bytes] : scanned->directories) {
    auto* dir = digest == scanned->root ? tree.mutable_root() : tree.add_children();
    ASSERT_TRUE(dir->ParseFromString(bytes));
  }
  auto p = plan_tree(tree.SerializeAsString(), scanned->root, EscapingSymlinks::refuse);
  ASSERT_TRUE(ok(p));

  const auto by_path = [](const TreeFile& a, const TreeFile& b) {
    return a.path < b.path;
  };
  auto expected_files = scanned->files;
  auto planned_files = p->files;
  std::sort(expected_files.begin(), expected_files.end(), by_path);
  std::sort(planned_files.begin(), planned_files.end(), by_path);
  ASSERT_EQ(planned_files.size(), expected_files.size());
  for (std::size_t i = 0; i < expected_files.size(); ++i) {
    EXPECT_EQ(planned_files[i].path, expected_files[i].path);
    EXPECT_EQ(planned_files[i].digest, expected_files[i].digest);
    EXPECT_EQ(planned_files[i].executable, expected_files[i].executable) << planned_files[i].path;
  }
  EXPECT_EQ(p->file_bytes, scanned->file_bytes);

  auto dirs = p->directories;
  std::sort(dirs.begin(), dirs.end());
  EXPECT_THAT(dirs, ElementsAre("sub", "sub/deeper", "void"));
  // Parents before children, so that creating them in order never needs a missing parent.
  const auto at = [&](const std::string& d) {
    return std::find(p->directories.begin(), p->directories.end(), d) - p->directories.begin();
  };
  EXPECT_LT(at("sub"), at("sub/deeper"));

  std::vector<std::pair<std::string, std::string>> links;
  for (const auto& s : p->symlinks) {
    links.emplace_back(s.path, s.target);
  }
  std::sort(links.begin(), links.end());
  EXPECT_THAT(links, ElementsAre(std::pair<std::string, std::string>{"sub/up", "../a.txt"},
                                 std::pair<std::string, std::string>{"tosub", "sub"}));
}

TEST(TreePlan, ASharedDirectoryIsLaidOutAtEveryPath) {
  reapi::Directory shared;
  add_file(shared, "f", "same");
  reapi::Directory root;
  add_dir(root, "x", shared);
  add_dir(root, "y", shared);

  auto p = plan(root, {shared});
  ASSERT_TRUE(ok(p));
  EXPECT_THAT(p->directories, ElementsAre("x", "y"));
  EXPECT_THAT(file_paths(*p), ElementsAre("x/f", "y/f"));
  EXPECT_EQ(p->file_bytes, 8u);
}

TEST(TreePlan, RefusesARootThatIsNotTheDigest) {
  reapi::Directory root;
  add_file(root, "f", "content");
  reapi::Directory other;
  add_file(other, "f", "something else");

  auto p = plan_tree(tree_bytes(root, {}), digest_of(other), EscapingSymlinks::refuse);
  ASSERT_TRUE(fails_with(p, Errc::corrupt));
  EXPECT_THAT(p.error().message,
              HasSubstr("tree root does not match digest " + digest_of(other).to_string()));

  EXPECT_TRUE(
      fails_with(plan_tree("\xff\xff not protobuf", digest_of(root), EscapingSymlinks::refuse),
                 Errc::corrupt));
}

TEST(TreePlan, RefusesAMissingSubdirectoryNamingIt) {
  reapi::Directory b;
  add_file(b, "f", "x");
  reapi::Directory a;
  add_dir(a, "b", b);
  reapi::Directory root;
  add_dir(root, "a", a);

  auto p = plan(root, {a});
  ASSERT_TRUE(fails_with(p, Errc::corrupt));
  EXPECT_THAT(p.error().message, HasSubstr("'a/b'"));
  EXPECT_TRUE(ok(plan(root, {a, b})));
}

TEST(TreePlan, RefusesInvalidNamesNamingThem) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"", "an entry in directory 'sub'"},
      {".", "'sub/.'"},
      {"..", "'sub/..'"},
      {"a/b", "'sub/a/b'"},
      {std::string("n\0l", 3), "'sub/n\\0l'"}};
  const reapi::Directory empty;
  for (const auto& [name, shown] : bad) {
    for (const char* kind : {"file", "directory", "symlink"}) {
      SCOPED_TRACE(std::string(kind) + " " + shown);
      reapi::Directory sub;
      if (kind == std::string_view("file")) {
        add_file(sub, name, "x");
      } else if (kind == std::string_view("directory")) {
        add_dir(sub, name, empty);
      } else {
        add_symlink(sub, name, "target");
      }
      reapi::Directory root;
      add_dir(root, "sub", sub);
      auto p = plan(root, {sub, empty});
      ASSERT_TRUE(fails_with(p, Errc::invalid_argument));
      EXPECT_THAT(p.error().message, HasSubstr(shown));
    }
  }
}

TEST(TreePlan, RefusesTheSameNameTwiceInADirectory) {
  const reapi::Directory empty;
  reapi::Directory across;
  add_file(across, "x", "file");
  add_dir(across, "x", empty);
  reapi::Directory files;
  add_file(files, "y", "one");
  add_file(files, "y", "two");
  reapi::Directory links;
  add_symlink(links, "z", "a");
  add_file(links, "z", "file");

  for (const auto& [root, name] :
       {std::tuple{across, "'x'"}, std::tuple{files, "'y'"}, std::tuple{links, "'z'"}}) {
    SCOPED_TRACE(name);
    auto p = plan(root, {empty});
    ASSERT_TRUE(fails_with(p, Errc::invalid_argument));
    EXPECT_THAT(p.error().message, HasSubstr(name));
  }
}

TEST(TreePlan, RefusesAbsoluteSymlinksUnlessAllowed) {
  reapi::Directory sub;
  add_symlink(sub, "abs", "/etc/passwd");
  reapi::Directory root;
  add_dir(root, "sub", sub);

  auto refused = plan(root, {sub});
  ASSERT_TRUE(fails_with(refused, Errc::invalid_argument));
  EXPECT_THAT(refused.error().message, HasSubstr("'sub/abs'"));
  EXPECT_THAT(refused.error().message, HasSubstr("'/etc/passwd'"));

  auto allowed = plan(root, {sub}, EscapingSymlinks::allow);
  ASSERT_TRUE(ok(allowed));
  ASSERT_EQ(allowed->symlinks.size(), 1u);
  EXPECT_EQ(allowed->symlinks[0].path, "sub/abs");
  EXPECT_EQ(allowed->symlinks[0].target, "/etc/passwd");
}

TEST(TreePlan, RefusesSymlinksThatLeaveTheTreeUnlessAllowed) {
  struct Case {
    std::string dir; // where the symlink lives, "" for the root
    std::string target;
    bool escapes;
  };
  const std::vector<Case> cases{
      {"", "../x", true},
      {"", "a/../../x", true},
      {"", "./../x", true},
      {"sub", "../../x", true},
      {"sub", "x/../../../y", true},
      {"sub", "../x", false},
      {"", "./x//y", false},
      {"", "..x", false},
      {"sub", "../../../x", true},
      // ".." after a name is refused even when it stays inside lexically: the name may be a
      // symlink (see RefusesSymlinksChainedOutOfTheTree).
      {"", "a/../x", true},
      {"sub", "../sub/../x", true}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dir + ": link -> " + c.target);
    reapi::Directory sub;
    reapi::Directory root;
    add_symlink(c.dir.empty() ? root : sub, "link", c.target);
    add_dir(root, "sub", sub);

    auto refused = plan(root, {sub});
    if (c.escapes) {
      ASSERT_TRUE(fails_with(refused, Errc::invalid_argument));
      EXPECT_THAT(refused.error().message,
                  HasSubstr("'" + (c.dir.empty() ? "" : c.dir + "/") + "link'"));
      EXPECT_THAT(refused.error().message, HasSubstr("'" + c.target + "'"));
    } else {
      EXPECT_TRUE(ok(refused));
    }
    EXPECT_TRUE(ok(plan(root, {sub}, EscapingSymlinks::allow)));
  }
}

TEST(TreePlan, RefusesSymlinksChainedOutOfTheTree) {
  // Each looks harmless alone; together `esc` is the root's parent.
  reapi::Directory root;
  add_symlink(root, "esc", "r/..");
  add_symlink(root, "r", ".");
  auto refused = plan(root, {});
  ASSERT_TRUE(fails_with(refused, Errc::invalid_argument));
  EXPECT_THAT(refused.error().message, HasSubstr("'esc'"));
  EXPECT_TRUE(ok(plan(root, {}, EscapingSymlinks::allow)));
}

TEST(TreePlan, RefusesATreeThatExpandsTooFar) {
  // 30 levels, each naming the next twice: 2^31 paths from a message of a few kilobytes.
  reapi::Directory level;
  add_file(level, "f", "leaf");
  std::vector<reapi::Directory> children;
  for (int i = 0; i < 30; ++i) {
    children.push_back(level);
    reapi::Directory parent;
    add_dir(parent, "a", level);
    add_dir(parent, "b", level);
    level = parent;
  }
  auto p = plan(level, children);
  ASSERT_TRUE(fails_with(p, Errc::too_large));
  EXPECT_THAT(p.error().message, HasSubstr("entries"));
}

TEST(TreePlan, RefusesPathsThatAddUpTooFar) {
  // Few entries (2^16), but 15 levels of 50 kB names make each leaf path 750 kB long.
  reapi::Directory level;
  add_file(level, "f", "leaf");
  std::vector<reapi::Directory> children;
  for (int i = 0; i < 15; ++i) {
    children.push_back(level);
    reapi::Directory parent;
    add_dir(parent, std::string(50'000, 'a'), level);
    add_dir(parent, std::string(50'000, 'b'), level);
    level = parent;
  }
  auto p = plan(level, children);
  ASSERT_TRUE(fails_with(p, Errc::too_large));
  EXPECT_THAT(p.error().message, HasSubstr("MiB of paths"));
}

// A chain of `levels` directories, each holding only the next: top/d/d/.../d with `last` at
// the bottom. The children are all but the top.
std::pair<reapi::Directory, std::vector<reapi::Directory>> chain(int levels,
                                                                 const reapi::Directory& last) {
  reapi::Directory level = last;
  std::vector<reapi::Directory> children;
  for (int i = 0; i < levels; ++i) {
    children.push_back(level);
    reapi::Directory parent;
    add_dir(parent, "d", level);
    level = parent;
  }
  return {level, children};
}

TEST(TreePlan, RefusesATreeDeeperThanTheLimit) {
  const auto [ok_root, ok_children] = chain(1024, reapi::Directory());
  auto deepest = plan(ok_root, ok_children);
  ASSERT_TRUE(ok(deepest));
  EXPECT_EQ(deepest->directories.size(), 1024u);

  const auto [root, children] = chain(1025, reapi::Directory());
  auto too_deep = plan(root, children);
  ASSERT_TRUE(fails_with(too_deep, Errc::too_large));
  // It names the path, but not all 2 kB of "d/d/.../d".
  EXPECT_THAT(too_deep.error().message, HasSubstr("'d/d/d/"));
  EXPECT_LT(too_deep.error().message.size(), 400u);
}

TEST(TreePlan, ADirectorySeenBeforeStillCountsItsDepthWhereverItIsNamed) {
  // `tall` is 1000 deep. Named at the root it fits; named again 100 levels down it does not,
  // though by then it has already been checked once.
  const auto [tall, tall_children] = chain(1000, reapi::Directory());
  const auto [deep, deep_children] = chain(100, tall);
  reapi::Directory root;
  add_dir(root, "a", tall);
  add_dir(root, "b", deep);
  auto children = tall_children;
  children.push_back(tall);
  children.insert(children.end(), deep_children.begin(), deep_children.end());
  children.push_back(deep);

  auto p = plan(root, children);
  ASSERT_TRUE(fails_with(p, Errc::too_large));
  EXPECT_THAT(p.error().message, HasSubstr("deep"));
}

TEST(TreePlan, RefusesMalformedDigestsNamingTheEntry) {
  const reapi::Directory empty;
  reapi::Directory bad_hex;
  add_file(bad_hex, "f", "x");
  bad_hex.mutable_files(0)->mutable_digest()->set_hash("xyz");
  reapi::Directory negative;
  add_file(negative, "g", "x");
  negative.mutable_files(0)->mutable_digest()->set_size_bytes(-1);
  reapi::Directory negative_dir;
  add_dir(negative_dir, "h", empty);
  negative_dir.mutable_directories(0)->mutable_digest()->set_size_bytes(-1);

  for (const auto& [sub, name] : {std::tuple{bad_hex, "'sub/f'"}, std::tuple{negative, "'sub/g'"},
                                  std::tuple{negative_dir, "'sub/h'"}}) {
    SCOPED_TRACE(name);
    reapi::Directory root;
    add_dir(root, "sub", sub);
    auto p = plan(root, {sub, empty});
    ASSERT_TRUE(fails_with(p, Errc::invalid_argument));
    EXPECT_THAT(p.error().message, HasSubstr(name));
  }
}

} // namespace
} // namespace ingot::client
