#include "util/utf8.hpp"

#include <string>

#include <gtest/gtest.h>

namespace ingot {
namespace {

TEST(Utf8, AcceptsAsciiAndEveryWellFormedLength) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("plain ascii/ref-1.0"));
  EXPECT_TRUE(is_utf8("caf\xc3\xa9"));          // U+00E9
  EXPECT_TRUE(is_utf8("\xe2\x82\xac"));         // U+20AC
  EXPECT_TRUE(is_utf8("\xf0\x9f\x98\x80"));     // U+1F600
  EXPECT_TRUE(is_utf8("\xf4\x8f\xbf\xbf"));     // U+10FFFF, the last code point
  EXPECT_TRUE(is_utf8(std::string("a\0b", 3))); // NUL is a character
}

TEST(Utf8, RefusesWhatRfc3629Forbids) {
  EXPECT_FALSE(is_utf8("\xf5"));             // never a lead byte
  EXPECT_FALSE(is_utf8("\x80"));             // a continuation alone
  EXPECT_FALSE(is_utf8("\xc3"));             // cut short
  EXPECT_FALSE(is_utf8("\xe2\x82"));         // cut short
  EXPECT_FALSE(is_utf8("\xc0\xaf"));         // overlong '/'
  EXPECT_FALSE(is_utf8("\xe0\x80\xaf"));     // overlong '/'
  EXPECT_FALSE(is_utf8("\xf0\x80\x80\xaf")); // overlong '/'
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));     // U+D800, a surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80")); // U+110000, past the end
  EXPECT_FALSE(is_utf8("\xc3\x28"));         // a continuation that is not one
}

} // namespace
} // namespace ingot
