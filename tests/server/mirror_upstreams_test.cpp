// server/mirror_upstreams.cpp: where an upstream's redirect leads, and which are refused.
#include "server/mirror_upstreams.hpp"

#include <string>

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

std::string resolved(std::string_view from, std::string_view location) {
  auto url = resolve_redirect(from, location);
  EXPECT_TRUE(url) << from << " -> " << location << ": " << url.error().message;
  return url ? *url : std::string();
}

TEST(MirrorUpstreamsTest, ResolvesAbsoluteAndRelativeLocations) {
  const std::string from = "https://github.com/o/r/releases/download/v1/tool.tar.gz";
  EXPECT_EQ(resolved(from, "https://objects.example.com/a/b?sig=x&t=1"),
            "https://objects.example.com/a/b?sig=x&t=1");
  EXPECT_EQ(resolved(from, "HTTPS://cdn.example.com"), "https://cdn.example.com/");
  EXPECT_EQ(resolved(from, "//cdn.example.com:8443/x"), "https://cdn.example.com:8443/x");
  EXPECT_EQ(resolved(from, "/other/path"), "https://github.com/other/path");
  EXPECT_EQ(resolved(from, "v2.tar.gz"), "https://github.com/o/r/releases/download/v1/v2.tar.gz");
  EXPECT_EQ(resolved(from, "../v2/tool.tar.gz#frag"),
            "https://github.com/o/r/releases/download/v2/tool.tar.gz");
  EXPECT_EQ(resolved(from, "?mirror=1"),
            "https://github.com/o/r/releases/download/v1/tool.tar.gz?mirror=1");
  EXPECT_EQ(resolved("http://h:81/a/b?q=1", "./c/."), "http://h:81/a/c/");
  EXPECT_EQ(resolved("http://h/a", "/../../x"), "http://h/x");
  EXPECT_EQ(resolved("http://h/a", "http://h2/x/../y?a=../b"), "http://h2/y?a=../b");
  // http to https is an upgrade: followed.
  EXPECT_EQ(resolved("http://h/a", "https://h/a"), "https://h/a");
}

TEST(MirrorUpstreamsTest, RefusesDowngradesOtherSchemesCredentialsAndJunk) {
  for (const char* location :
       {"http://github.com/x", "HTTP://cdn.example.com/x", "ftp://h/x", "file:///etc/passwd",
        "javascript:alert(1)", "https://user:pw@h/x", "https://", "https:/x", "", "#only", "/a b",
        "/a\r\nX-Evil: 1", "/a\\b"}) {
    auto refused = resolve_redirect("https://github.com/a", location);
    ASSERT_FALSE(refused) << location << " was followed to " << *refused;
    EXPECT_EQ(refused.error().code, Errc::upstream) << location;
    EXPECT_NE(refused.error().message.find("refused the redirect"), std::string::npos)
        << refused.error().message;
  }
  auto downgrade = resolve_redirect("https://github.com/a", "http://github.com/a");
  ASSERT_FALSE(downgrade);
  EXPECT_NE(downgrade.error().message.find("https to http"), std::string::npos)
      << downgrade.error().message;
}

} // namespace
} // namespace ingot::server
