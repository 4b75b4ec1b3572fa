#include "cas/digest.hpp"
#include "support/printers.hpp"
#include "support/test_data.hpp"
#include "util/bytes.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

using test::random_bytes;

// FIPS 180-2 / NIST CSRC example vectors and other widely published values.
struct Vector {
  std::string input;
  std::string hex;
};

std::vector<Vector> known_vectors() {
  return {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"The quick brown fox jumps over the lazy dog",
       "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"},
      {std::string(1'000'000, 'a'),
       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
}

TEST(Digest, KnownSha256Vectors) {
  for (const auto& v : known_vectors()) {
    const Digest d = digest_of(v.input);
    EXPECT_EQ(d.hex(), v.hex) << "input of " << v.input.size() << " bytes";
    EXPECT_EQ(d.size, v.input.size());
  }
}

TEST(Digest, EmptyDigestIsSha256OfNothing) {
  const Digest& d = empty_digest();
  EXPECT_EQ(d.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(d.size, 0U);
  EXPECT_EQ(d, digest_of(std::string_view{}));
  EXPECT_EQ(d, digest_of(ByteView{}));
}

TEST(Digest, ToStringIsHexSlashSize) {
  EXPECT_EQ(digest_of("abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3");
  EXPECT_EQ(empty_digest().to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/0");
}

TEST(Digest, EqualityComparesHashAndSize) {
  const Digest a = digest_of("abc");
  Digest same_hash_other_size = a;
  same_hash_other_size.size = 4;
  EXPECT_EQ(a, digest_of("abc"));
  EXPECT_NE(a, same_hash_other_size);
  EXPECT_NE(a, digest_of("abd"));
}

// Uploads arrive in whatever pieces the network delivers; the digest must not depend on them.
TEST(Sha256, IncrementalEqualsOneShotAcrossOddChunkings) {
  const std::string data = random_bytes(300'007, 42);
  const Digest expected = digest_of(data);
  for (const std::size_t chunk :
       {1UL, 3UL, 7UL, 55UL, 63UL, 64UL, 65UL, 4093UL, 65537UL, 300'007UL}) {
    Sha256 hasher;
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      hasher.update(as_bytes(std::string_view(data).substr(off, chunk)));
    }
    EXPECT_EQ(hasher.finish(), expected) << "chunk size " << chunk;
  }
}

TEST(Sha256, IrregularChunksAndEmptyUpdates) {
  const std::string data = random_bytes(10'000, 7);
  std::mt19937_64 rng(99);
  Sha256 hasher;
  std::size_t off = 0;
  while (off < data.size()) {
    const std::size_t n = std::min<std::size_t>(rng() % 200, data.size() - off);
    hasher.update(as_bytes(std::string_view(data).substr(off, n))); // n may be 0
    off += n;
  }
  EXPECT_EQ(hasher.finish(), digest_of(data));
}

TEST(Sha256, KnownVectorsIncrementally) {
  for (const auto& v : known_vectors()) {
    Sha256 hasher;
    for (std::size_t off = 0; off < v.input.size(); off += 13) {
      hasher.update(as_bytes(std::string_view(v.input).substr(off, 13)));
    }
    EXPECT_EQ(hasher.finish().hex(), v.hex);
  }
}

TEST(Sha256, FinishStartsOver) {
  Sha256 hasher;
  hasher.update(as_bytes("some earlier upload"));
  EXPECT_EQ(hasher.finish(), digest_of("some earlier upload"));
  hasher.update(as_bytes("abc"));
  const Digest second = hasher.finish();
  EXPECT_EQ(second, digest_of("abc"));
  EXPECT_EQ(second.size, 3U);
  EXPECT_EQ(hasher.finish(), empty_digest());
}

TEST(Sha256, MovedHasherKeepsItsState) {
  Sha256 a;
  a.update(as_bytes("ab"));
  Sha256 b(std::move(a));
  b.update(as_bytes("c"));
  EXPECT_EQ(b.finish(), digest_of("abc"));

  Sha256 c;
  c.update(as_bytes("a"));
  Sha256 d;
  d = std::move(c);
  d.update(as_bytes("bc"));
  EXPECT_EQ(d.finish(), digest_of("abc"));
}

TEST(ParseHash, AcceptsLowercaseHexAndRoundTrips) {
  const std::string hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const auto h = parse_hash(hex);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(*h, digest_of("abc").hash);

  const auto d = parse_digest(hex, 3);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(*d, digest_of("abc"));
  EXPECT_EQ(d->hex(), hex);
}

// One digest, one spelling: an uppercase or padded hash would otherwise name a second key
// for the same blob.
TEST(ParseHash, RejectsAnythingButExactly64LowercaseHex) {
  const std::string good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  std::string upper = good;
  upper[0] = 'B';
  std::string all_upper = good;
  for (char& c : all_upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  std::string non_hex = good;
  non_hex[63] = 'g';
  std::string with_space = good;
  with_space[10] = ' ';
  std::string with_nul = good;
  with_nul[32] = '\0';

  const std::vector<std::string> bad{"",
                                     good.substr(0, 63),
                                     good + "0",
                                     good.substr(0, 62),
                                     good + good,
                                     upper,
                                     all_upper,
                                     non_hex,
                                     with_space,
                                     with_nul,
                                     " " + good.substr(0, 63),
                                     "0x" + good.substr(0, 62),
                                     std::string(64, 'z')};
  for (const auto& text : bad) {
    const auto h = parse_hash(text);
    ASSERT_FALSE(h) << "accepted '" << text << "'";
    EXPECT_EQ(h.error().code, Errc::invalid_argument) << "'" << text << "'";
    EXPECT_FALSE(h.error().message.empty());

    const auto d = parse_digest(text, 3);
    ASSERT_FALSE(d) << "accepted '" << text << "'";
    EXPECT_EQ(d.error().code, Errc::invalid_argument);
  }
}

TEST(ParseDigest, KeepsTheGivenSize) {
  const auto d = parse_digest(empty_digest().hex(), 0);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(*d, empty_digest());
  const auto big = parse_digest(empty_digest().hex(), 1ULL << 40);
  ASSERT_TRUE(big) << big.error().message;
  EXPECT_EQ(big->size, 1ULL << 40);
}

TEST(Digest, HashesWorkAsUnorderedSetKeys) {
  std::unordered_set<Hash> set;
  for (int i = 0; i < 1000; ++i) {
    set.insert(digest_of(std::to_string(i)).hash);
  }
  set.insert(digest_of("0").hash);
  EXPECT_EQ(set.size(), 1000U);
  EXPECT_TRUE(set.contains(digest_of("999").hash));
  EXPECT_FALSE(set.contains(digest_of("1000").hash));
}

} // namespace
} // namespace ingot::cas
