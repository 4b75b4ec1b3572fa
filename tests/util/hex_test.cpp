#include "util/hex.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ingot {
namespace {

std::vector<std::uint8_t> bytes_of(std::initializer_list<int> values) {
  std::vector<std::uint8_t> out;
  for (int v : values) {
    out.push_back(static_cast<std::uint8_t>(v));
  }
  return out;
}

TEST(Hex, EncodesLowercaseTwoDigitsPerByte) {
  EXPECT_EQ(to_hex(bytes_of({0x00, 0x01, 0x0a, 0x7f, 0x80, 0xab, 0xff})), "00010a7f80abff");
}

TEST(Hex, AppendsAfterWhatIsThere) {
  std::string out = "etag=";
  append_hex(out, bytes_of({0xde, 0xad}));
  append_hex(out, {});
  append_hex(out, bytes_of({0x01}));
  EXPECT_EQ(out, "etag=dead01");
}

TEST(Hex, EmptyInputGivesEmptyOutput) {
  EXPECT_EQ(to_hex({}), "");
  const auto decoded = from_hex("");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->empty());
}

TEST(Hex, DecodesWhatItEncodesForEveryByteValue) {
  std::vector<std::uint8_t> all;
  for (int v = 0; v < 256; ++v) {
    all.push_back(static_cast<std::uint8_t>(v));
  }
  const std::string text = to_hex(all);
  ASSERT_EQ(text.size(), 512U);
  const auto decoded = from_hex(text);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, all);
}

TEST(Hex, DecodesKnownText) {
  const auto decoded = from_hex("deadbeef0009");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, bytes_of({0xde, 0xad, 0xbe, 0xef, 0x00, 0x09}));
}

// One byte string has exactly one accepted spelling (the header's promise), so a digest
// can be compared as text and used as a file name without normalising it first.
TEST(Hex, RejectsUppercase) {
  EXPECT_FALSE(from_hex("AB").has_value());
  EXPECT_FALSE(from_hex("aB").has_value());
  EXPECT_FALSE(from_hex("DEADBEEF").has_value());
}

TEST(Hex, RejectsOddLength) {
  EXPECT_FALSE(from_hex("a").has_value());
  EXPECT_FALSE(from_hex("abc").has_value());
}

TEST(Hex, RejectsNonHexCharacters) {
  EXPECT_FALSE(from_hex("0g").has_value());
  EXPECT_FALSE(from_hex("g0").has_value());
  EXPECT_FALSE(from_hex("0x").has_value());
  EXPECT_FALSE(from_hex(" 0").has_value());
  EXPECT_FALSE(from_hex("0-").has_value());
  EXPECT_FALSE(from_hex(std::string("0\0", 2)).has_value());
  EXPECT_FALSE(from_hex("\xc3\xa9").has_value());
  // Characters just outside the accepted ranges, where an off-by-one would let them in.
  EXPECT_FALSE(from_hex("0/").has_value());
  EXPECT_FALSE(from_hex("0:").has_value());
  EXPECT_FALSE(from_hex("0`").has_value());
  EXPECT_FALSE(from_hex("0@").has_value());
}

} // namespace
} // namespace ingot
