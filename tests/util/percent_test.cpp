#include "util/percent.hpp"

#include <gtest/gtest.h>

namespace ingot {
namespace {

TEST(PercentTest, HexDigitsOfEitherCaseHaveTheirValue) {
  EXPECT_EQ(hex_digit_value('0'), 0);
  EXPECT_EQ(hex_digit_value('9'), 9);
  EXPECT_EQ(hex_digit_value('a'), 10);
  EXPECT_EQ(hex_digit_value('F'), 15);
  EXPECT_EQ(hex_digit_value('g'), -1);
  EXPECT_EQ(hex_digit_value('%'), -1);
}

TEST(PercentTest, EncodingKeepsUnreservedBytesAndSlashes) {
  EXPECT_EQ(percent_encode_path("a-b.c_d~e/F9"), "a-b.c_d~e/F9");
  EXPECT_EQ(percent_encode_path("a b?c#d%"), "a%20b%3Fc%23d%25");
  EXPECT_EQ(percent_encode_path(std::string("\x00\xff", 2)), "%00%FF");
}

TEST(PercentTest, DecodingUndoesEncodingForEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  EXPECT_EQ(percent_decode(percent_encode_path(all)), all);
}

TEST(PercentTest, DecodingAcceptsEitherCase) {
  EXPECT_EQ(percent_decode("%2f%2F"), "//");
}

TEST(PercentTest, AMalformedEscapeIsRefused) {
  EXPECT_EQ(percent_decode("%"), std::nullopt);
  EXPECT_EQ(percent_decode("a%4"), std::nullopt);
  EXPECT_EQ(percent_decode("%zz"), std::nullopt);
  EXPECT_EQ(percent_decode("%4g"), std::nullopt);
  EXPECT_EQ(percent_decode("100%"), std::nullopt);
}

} // namespace
} // namespace ingot
