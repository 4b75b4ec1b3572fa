// server/ops/mirror_paths.cpp: --mirror-mutable's globs (the built-in list is tested in
// route_test.cpp beside the paths themselves).
#include "server/ops/mirror.hpp"

#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

struct GlobCase {
  const char* glob;
  const char* path;
  bool matches;
};

void expect_cases(std::initializer_list<GlobCase> cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(glob_matches(c.glob, c.path), c.matches) << c.glob << " against " << c.path;
  }
}

TEST(MirrorGlobTest, AGlobWithoutSlashMatchesTheFileName) {
  expect_cases({{"Packages*", "dists/x/main/binary-amd64/Packages.xz", true},
                {"Packages*", "Packages", true},
                {"*.json", "simple/index.json", true},
                {"index-v?.json", "meta/index-v2.json", true},
                {"*", "a/b/c", true},
                {"index-v?.json", "meta/index-v10.json", false},
                {"Packages*", "x/Packages-notes/a.deb", false}, // a directory's name
                {"*.json", "a.json/b.tar", false},
                {"Release", "Release.gpg", false},
                {"Release", "dists/Release/x", false}});
}

TEST(MirrorGlobTest, AGlobWithSlashMatchesTheWholePathAndStarCrossesSlashes) {
  expect_cases({{"dists/*/Release", "dists/bookworm/Release", true},
                {"latest/*", "latest/linux/amd64/tool.tar.gz", true},
                {"dists/*/Release", "dists/a/b/Release", true},
                {"dists/*/Release", "mirror/dists/bookworm/Release", false},
                {"dists/*/Release", "dists/bookworm/Release.gpg", false},
                {"latest/*", "v1/latest/x", false}});
}

TEST(MirrorGlobTest, StarsBacktrackAndEveryOtherCharacterIsLiteral) {
  expect_cases({{"a*b*c", "aXbYbZc", true},
                {"**", "", true},
                {"[x].db", "[x].db", true},
                {"[x].db", "x.db", false},
                {"a*b*c", "aXbYbZ", false},
                {"?", "", false}});
  // One backtrack point: a long name against many stars stays quick (no exponential search).
  EXPECT_FALSE(glob_matches("*a*a*a*a*a*a*a*a*b", std::string(10000, 'a')));
}

TEST(MirrorGlobTest, AnyGlobOfTheListMakesAPathMutable) {
  const std::vector<std::string> globs{"*.json", "dists/*/InRelease"};
  EXPECT_TRUE(is_mutable_path("tools/index.json", globs));
  EXPECT_TRUE(is_mutable_path("dists/bookworm/InRelease", globs));
  // The list replaces the built-in one: Release is not in it.
  EXPECT_FALSE(is_mutable_path("dists/bookworm/Release", globs));
  EXPECT_TRUE(is_mutable_path("dists/bookworm/Release"));
  EXPECT_FALSE(is_mutable_path("tools/index.json", std::vector<std::string>{}));
}

TEST(MirrorGlobTest, ParsesACommaSeparatedListAndRefusesEmptyAndAbsoluteGlobs) {
  auto one = parse_mutable_globs("Release");
  ASSERT_TRUE(one);
  EXPECT_EQ(*one, std::vector<std::string>{"Release"});
  auto three = parse_mutable_globs("Release,Packages*,dists/*/InRelease");
  ASSERT_TRUE(three);
  EXPECT_EQ(*three, (std::vector<std::string>{"Release", "Packages*", "dists/*/InRelease"}));
  for (const char* bad : {"", ",", "a,", ",a", "a,,b", "/dists/*/Release", "a,/b"}) {
    auto refused = parse_mutable_globs(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, Errc::invalid_argument) << bad;
    EXPECT_NE(refused.error().message.find("glob"), std::string::npos) << refused.error().message;
  }
}

} // namespace
} // namespace ingot::server
