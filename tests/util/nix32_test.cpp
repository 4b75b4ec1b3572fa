#include "util/hex.hpp"
#include "util/nix32.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ingot {
namespace {

std::vector<std::uint8_t> hex(std::string_view text) {
  auto bytes = from_hex(text);
  EXPECT_TRUE(bytes.has_value()) << text;
  return bytes.value_or(std::vector<std::uint8_t>{});
}

TEST(Nix32, LengthIsEightBitsPerByteInFiveBitGroupsRoundedUp) {
  EXPECT_EQ(nix32_length(0), 0U);
  EXPECT_EQ(nix32_length(1), 2U);
  EXPECT_EQ(nix32_length(5), 8U);
  EXPECT_EQ(nix32_length(20), 32U); // a store path hash
  EXPECT_EQ(nix32_length(32), 52U); // a sha256
}

// docs/nix-client-facts.md: the NarHash of the signature test vector.
TEST(Nix32, EncodesTheFactsVector) {
  const auto bytes = hex("30ba3b06f6b15862e0dddbd2ccb3c1991877fbc0eb0c6fd7d8eeb6e9018903f1");
  EXPECT_EQ(nix32_encode(bytes), "1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih");
  const auto decoded =
      nix32_decode("1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih", bytes.size());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, bytes);
}

// The last 5-bit group is written first: the first byte's low bits end up in the last
// character, and a sha256's top bit alone makes the first character.
TEST(Nix32, ReadsTheBytesLittleEndianFromTheLastGroup) {
  EXPECT_EQ(nix32_encode(hex("01")), "01");
  EXPECT_EQ(nix32_encode(hex("1f")), "0z");
  EXPECT_EQ(nix32_encode(hex("20")), "10");
  EXPECT_EQ(nix32_encode(hex("80")), "40");
  EXPECT_EQ(nix32_encode(hex("0001")), "0080");
  EXPECT_EQ(nix32_encode(std::vector<std::uint8_t>(32, 0)), std::string(52, '0'));
  EXPECT_EQ(nix32_encode(std::vector<std::uint8_t>(32, 0xff)), "1" + std::string(51, 'z'));
  // Computed independently (a Python one-liner over int.from_bytes(b, "little")).
  EXPECT_EQ(nix32_encode(hex("0102030405060708090a0b0c0d0e0f1011121314")),
            "2h9i448h1w70s30b184hh1q60l2060h1");
}

TEST(Nix32, UsesOnlyTheAlphabetWithoutEOUT) {
  std::vector<std::uint8_t> all;
  for (int v = 0; v < 256; ++v) {
    all.push_back(static_cast<std::uint8_t>(v));
  }
  const std::string text = nix32_encode(all);
  EXPECT_EQ(text.find_first_not_of("0123456789abcdfghijklmnpqrsvwxyz"), std::string::npos);
  const auto decoded = nix32_decode(text, all.size());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, all);
}

TEST(Nix32, DecodesWhatItEncodesForEveryLength) {
  std::mt19937 rng(20240601);
  for (std::size_t size = 0; size <= 70; ++size) {
    for (int round = 0; round < 20; ++round) {
      std::vector<std::uint8_t> bytes(size);
      for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(rng());
      }
      const std::string text = nix32_encode(bytes);
      ASSERT_EQ(text.size(), nix32_length(size));
      const auto decoded = nix32_decode(text, size);
      ASSERT_TRUE(decoded.has_value()) << text;
      EXPECT_EQ(*decoded, bytes) << text;
    }
  }
}

TEST(Nix32, RejectsTheWrongLength) {
  const std::string good = "1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih";
  EXPECT_FALSE(nix32_decode(good.substr(1), 32).has_value());
  EXPECT_FALSE(nix32_decode(good + "0", 32).has_value());
  EXPECT_FALSE(nix32_decode("", 32).has_value());
  EXPECT_FALSE(nix32_decode(good, 20).has_value());
  EXPECT_FALSE(nix32_decode("0", 0).has_value());
  ASSERT_TRUE(nix32_decode("", 0).has_value());
  EXPECT_TRUE(nix32_decode("", 0)->empty());
}

TEST(Nix32, RejectsCharactersOutsideTheAlphabet) {
  const std::string good = "1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih";
  ASSERT_TRUE(nix32_decode(good, 32).has_value());
  for (const char c : std::string("eoutEOUTAZ-_=/+ .\n") + std::string(1, '\0') + "\xff") {
    for (const std::size_t at : {std::size_t{0}, std::size_t{17}, good.size() - 1}) {
      std::string bad = good;
      bad[at] = c;
      EXPECT_FALSE(nix32_decode(bad, 32).has_value()) << "'" << c << "' at " << at;
    }
  }
}

// Only one spelling per value: the bits past the last byte must be zero, or "2…" and "0…"
// would both read as the same sha256.
TEST(Nix32, RejectsNonZeroBitsPastTheLastByte) {
  const std::string good = "1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih";
  for (const char first : std::string("23456789abcdfghijklmnpqrsvwxyz")) {
    std::string bad = good;
    bad[0] = first;
    EXPECT_FALSE(nix32_decode(bad, 32).has_value()) << first;
  }
  // One byte is two characters, 10 bits: the top two must be zero.
  EXPECT_TRUE(nix32_decode("7z", 1).has_value());
  EXPECT_EQ(nix32_decode("7z", 1)->at(0), 0xff);
  EXPECT_FALSE(nix32_decode("8z", 1).has_value());
  EXPECT_FALSE(nix32_decode("g0", 1).has_value());
  // 20 bytes fill 32 characters exactly: every first character is valid.
  EXPECT_TRUE(nix32_decode("z" + std::string(31, '0'), 20).has_value());
}

} // namespace
} // namespace ingot
