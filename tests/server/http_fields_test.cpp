// Range (RFC 9110 14.1.2, 14.2) and Accept-Encoding (RFC 9110 12.5.3) as the server reads them.
#include "server/http_fields.hpp"

#include <cstdint>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

namespace ingot::server {

void PrintTo(RangeResult r, std::ostream* os) {
  *os << (r == RangeResult::ok ? "ok" : r == RangeResult::none ? "none" : "unsatisfiable");
}

namespace {

struct Parsed {
  RangeResult result;
  ByteRange range;
};

Parsed range(std::string_view header, std::uint64_t size) {
  // Sentinel values, so that a result that claims "ok" without filling `out` shows.
  ByteRange out{~std::uint64_t{0}, ~std::uint64_t{0}};
  const auto r = parse_range(header, size, out);
  return {r, out};
}

void expect_range(std::string_view header, std::uint64_t size, std::uint64_t offset,
                  std::uint64_t length) {
  const auto p = range(header, size);
  ASSERT_EQ(p.result, RangeResult::ok) << header << " of " << size;
  EXPECT_EQ(p.range.offset, offset) << header << " of " << size;
  EXPECT_EQ(p.range.length, length) << header << " of " << size;
}

TEST(HttpFieldsTest, RangeFirstToLast) {
  expect_range("bytes=0-0", 10, 0, 1);
  expect_range("bytes=1-2", 10, 1, 2);
  expect_range("bytes=0-9", 10, 0, 10);
  expect_range("bytes=9-9", 10, 9, 1);
}

TEST(HttpFieldsTest, RangeLastPastTheEndIsClamped) {
  // RFC 9110 14.1.2: a last-pos at or past the end means "to the end".
  expect_range("bytes=0-99", 10, 0, 10);
  expect_range("bytes=5-18446744073709551615", 10, 5, 5);
}

TEST(HttpFieldsTest, RangeOpenEnded) {
  expect_range("bytes=0-", 10, 0, 10);
  expect_range("bytes=4-", 10, 4, 6);
  expect_range("bytes=9-", 10, 9, 1);
}

TEST(HttpFieldsTest, RangeSuffix) {
  expect_range("bytes=-1", 10, 9, 1);
  expect_range("bytes=-4", 10, 6, 4);
  // A suffix longer than the representation selects all of it.
  expect_range("bytes=-10", 10, 0, 10);
  expect_range("bytes=-1000", 10, 0, 10);
}

TEST(HttpFieldsTest, RangeToleratesWhitespace) {
  expect_range(" bytes=1-2 ", 10, 1, 2);
  expect_range("bytes= 1-2", 10, 1, 2);
}

TEST(HttpFieldsTest, RangePastTheEndIsUnsatisfiable) {
  EXPECT_EQ(range("bytes=10-", 10).result, RangeResult::unsatisfiable);
  EXPECT_EQ(range("bytes=10-20", 10).result, RangeResult::unsatisfiable);
  EXPECT_EQ(range("bytes=1000-2000", 10).result, RangeResult::unsatisfiable);
  // A zero-length suffix selects nothing (RFC 9110 14.1.1: suffix-length must be non-zero to
  // be satisfiable), and nothing of an empty blob can be selected.
  EXPECT_EQ(range("bytes=-0", 10).result, RangeResult::unsatisfiable);
  EXPECT_EQ(range("bytes=0-", 0).result, RangeResult::unsatisfiable);
  EXPECT_EQ(range("bytes=0-0", 0).result, RangeResult::unsatisfiable);
  EXPECT_EQ(range("bytes=-5", 0).result, RangeResult::unsatisfiable);
}

TEST(HttpFieldsTest, MultipleRangesAreIgnored) {
  // Several ranges would need multipart/byteranges; the RFC lets a server send it all.
  EXPECT_EQ(range("bytes=0-1,3-4", 10).result, RangeResult::none);
  EXPECT_EQ(range("bytes=0-1, 3-4", 10).result, RangeResult::none);
  EXPECT_EQ(range("bytes=-1,0-0", 10).result, RangeResult::none);
  EXPECT_EQ(range("bytes=0-1,", 10).result, RangeResult::none);
}

TEST(HttpFieldsTest, MalformedRangesAreIgnored) {
  for (const std::string_view h :
       {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=1-x", "bytes=x-1", "bytes=5-2",
        "bytes=1", "bytes=--1", "bytes=+1-2", "bytes=0x1-2", "items=0-1", "bytes 0-1",
        "bytes=99999999999999999999999-"}) {
    EXPECT_EQ(range(h, 10).result, RangeResult::none) << "'" << h << "'";
  }
}

TEST(HttpFieldsTest, AcceptsZstd) {
  EXPECT_TRUE(accepts_zstd("zstd"));
  EXPECT_TRUE(accepts_zstd("ZSTD"));
  EXPECT_TRUE(accepts_zstd("gzip, zstd"));
  EXPECT_TRUE(accepts_zstd("gzip,zstd,br"));
  EXPECT_TRUE(accepts_zstd("  zstd  "));
  EXPECT_TRUE(accepts_zstd("gzip;q=1.0, zstd;q=0.5"));
}

TEST(HttpFieldsTest, ZstdWithNonZeroQValueIsAccepted) {
  EXPECT_TRUE(accepts_zstd("zstd;q=1"));
  EXPECT_TRUE(accepts_zstd("zstd;q=1.0"));
  EXPECT_TRUE(accepts_zstd("zstd;q=0.5"));
  EXPECT_TRUE(accepts_zstd("zstd;q=0.001"));
  EXPECT_TRUE(accepts_zstd("zstd; q=0.8"));
  EXPECT_TRUE(accepts_zstd("zstd;Q=0.8"));
}

TEST(HttpFieldsTest, ZstdWithZeroQValueIsRefused) {
  // RFC 9110 12.4.2: q=0 means "not acceptable".
  EXPECT_FALSE(accepts_zstd("zstd;q=0"));
  EXPECT_FALSE(accepts_zstd("zstd;q=0.0"));
  EXPECT_FALSE(accepts_zstd("zstd;q=0.000"));
  EXPECT_FALSE(accepts_zstd("zstd ; q=0"));
  EXPECT_FALSE(accepts_zstd("gzip, zstd;q=0"));
  EXPECT_FALSE(accepts_zstd("zstd;q=0, gzip"));
}

TEST(HttpFieldsTest, OtherCodingsAreNotZstd) {
  EXPECT_FALSE(accepts_zstd(""));
  EXPECT_FALSE(accepts_zstd("gzip"));
  EXPECT_FALSE(accepts_zstd("gzip, deflate, br"));
  EXPECT_FALSE(accepts_zstd("identity"));
  EXPECT_FALSE(accepts_zstd("zstdx"));
  EXPECT_FALSE(accepts_zstd("xzstd"));
  EXPECT_FALSE(accepts_zstd("zst"));
  EXPECT_FALSE(accepts_zstd("gzip;q=1, zst"));
}

TEST(HttpFieldsTest, IEquals) {
  EXPECT_TRUE(iequals("100-continue", "100-CONTINUE"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_TRUE(iequals("Zstd", "zSTD"));
  EXPECT_FALSE(iequals("zstd", "zstd "));
  EXPECT_FALSE(iequals("zstd", "zstx"));
  EXPECT_FALSE(iequals("", "a"));
}

} // namespace
} // namespace ingot::server
