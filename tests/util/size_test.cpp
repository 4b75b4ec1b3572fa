#include "util/size.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ingot {
namespace {

constexpr std::uint64_t k_kib = 1024;
constexpr std::uint64_t k_mib = 1024 * k_kib;
constexpr std::uint64_t k_gib = 1024 * k_mib;
constexpr std::uint64_t k_tib = 1024 * k_gib;

// The spellings ARCHITECTURE.md promises for --max-size.
TEST(ParseSize, AcceptsDocumentedExamples) {
  EXPECT_EQ(parse_size("500MiB"), 500 * k_mib);
  EXPECT_EQ(parse_size("20GiB"), 20 * k_gib);
  EXPECT_EQ(parse_size("1TB"), 1'000'000'000'000ULL);
  EXPECT_EQ(parse_size("4096"), 4096U);
}

TEST(ParseSize, PlainNumbersAreBytes) {
  EXPECT_EQ(parse_size("0"), 0U);
  EXPECT_EQ(parse_size("1"), 1U);
  EXPECT_EQ(parse_size("123456789"), 123456789U);
  EXPECT_EQ(parse_size("4096B"), 4096U);
}

TEST(ParseSize, DecimalAndBinaryUnitsDiffer) {
  EXPECT_EQ(parse_size("1K"), 1000U);
  EXPECT_EQ(parse_size("1KB"), 1000U);
  EXPECT_EQ(parse_size("1KiB"), k_kib);
  EXPECT_EQ(parse_size("1M"), 1'000'000U);
  EXPECT_EQ(parse_size("1MB"), 1'000'000U);
  EXPECT_EQ(parse_size("1MiB"), k_mib);
  EXPECT_EQ(parse_size("1G"), 1'000'000'000U);
  EXPECT_EQ(parse_size("1GB"), 1'000'000'000U);
  EXPECT_EQ(parse_size("1GiB"), k_gib);
  EXPECT_EQ(parse_size("1T"), 1'000'000'000'000ULL);
  EXPECT_EQ(parse_size("1TiB"), k_tib);
}

TEST(ParseSize, AcceptsFractions) {
  EXPECT_EQ(parse_size("1.5KiB"), 1536U);
  EXPECT_EQ(parse_size("0.5GiB"), 512 * k_mib);
  EXPECT_EQ(parse_size("2.25MB"), 2'250'000U);
  EXPECT_EQ(parse_size("14.5GiB"), 14 * k_gib + 512 * k_mib);
}

TEST(ParseSize, UnitsAreCaseInsensitive) {
  EXPECT_EQ(parse_size("500mib"), 500 * k_mib);
  EXPECT_EQ(parse_size("500MIB"), 500 * k_mib);
  EXPECT_EQ(parse_size("20gIb"), 20 * k_gib);
  EXPECT_EQ(parse_size("1tb"), 1'000'000'000'000ULL);
  EXPECT_EQ(parse_size("1k"), 1000U);
  EXPECT_EQ(parse_size("7b"), 7U);
}

TEST(ParseSize, AllowsSpaces) {
  EXPECT_EQ(parse_size("500 MiB"), 500 * k_mib);
  EXPECT_EQ(parse_size("  20GiB"), 20 * k_gib);
  EXPECT_EQ(parse_size("20GiB  "), 20 * k_gib);
  EXPECT_EQ(parse_size(" 1.5  KiB "), 1536U);
}

TEST(ParseSize, RejectsMalformedText) {
  const std::vector<std::string> bad{"",      " ",   "MiB",   "-1",      "-1MiB", "12XB",
                                     "1.2.3", "1 2", "1MiBx", "1 MiB B", "KiB1",  "1Mi",
                                     ".",     "abc", "1e3",   "+-1",     "0x10",  "1 Ki B"};
  for (const auto& text : bad) {
    EXPECT_EQ(parse_size(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(ParseSize, RejectsValuesThatDoNotFitIn64Bits) {
  // 2^64 bytes, spelled three ways.
  EXPECT_EQ(parse_size("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_size("16777216TiB"), std::nullopt);
  EXPECT_EQ(parse_size("17179869184GiB"), std::nullopt);
  EXPECT_EQ(parse_size("99999999999999999999999999TB"), std::nullopt);
  EXPECT_EQ(parse_size("100000000TB"), std::nullopt);
}

TEST(ParseSize, AcceptsLargeValuesThatFit) {
  EXPECT_EQ(parse_size("1024TiB"), 1024 * k_tib);
  EXPECT_EQ(parse_size("8000000TiB"), 8'000'000 * k_tib);
}

TEST(FormatSize, SmallValuesAreBytes) {
  EXPECT_EQ(format_size(0), "0B");
  EXPECT_EQ(format_size(1), "1B");
  EXPECT_EQ(format_size(512), "512B");
  EXPECT_EQ(format_size(1023), "1023B");
}

TEST(FormatSize, UsesBinaryUnits) {
  EXPECT_EQ(format_size(k_kib), "1KiB");
  EXPECT_EQ(format_size(500 * k_mib), "500MiB");
  EXPECT_EQ(format_size(20 * k_gib), "20GiB");
  EXPECT_EQ(format_size(3 * k_tib), "3TiB");
}

TEST(FormatSize, OneDecimalWhereItHelps) {
  EXPECT_EQ(format_size(1536), "1.5KiB");
  // The example from STYLE.md's error message: 14.2GiB of pinned data.
  EXPECT_EQ(format_size(static_cast<std::uint64_t>(14.2 * static_cast<double>(k_gib))), "14.2GiB");
}

// Sizes appear in error messages that tell the user to raise --max-size: what we print must
// be something parse_size accepts, and mean nearly the same number of bytes.
TEST(FormatSize, OutputParsesBackToAboutTheSameSize) {
  const std::vector<std::uint64_t> values{0,
                                          1,
                                          999,
                                          1024,
                                          1536,
                                          10 * k_kib + 300,
                                          k_mib - 1,
                                          123456789,
                                          20 * k_gib,
                                          14 * k_gib + 200 * k_mib,
                                          5 * k_tib + 7,
                                          std::numeric_limits<std::uint64_t>::max() / 2};
  for (const std::uint64_t v : values) {
    const std::string text = format_size(v);
    const auto back = parse_size(text);
    ASSERT_TRUE(back.has_value()) << v << " formatted as '" << text << "'";
    const double error = std::abs(static_cast<double>(*back) - static_cast<double>(v));
    EXPECT_LE(error, 0.05 * static_cast<double>(v) + 0.5) << v << " formatted as '" << text << "'";
  }
}

} // namespace
} // namespace ingot
