// UploadSink against a real store: decoding, the size limit on decoded bytes, and the digest
// check of /cas/ uploads, whatever the encoding.
#include "server/upload.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

namespace ingot::server {
namespace {

class UploadTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
  }

  static std::string zstd(const std::string& data) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3));
    return out;
  }

  static Route route(const std::string& target) {
    auto r = parse_route(target);
    EXPECT_TRUE(r);
    return *r;
  }

  // Sends `wire` in pieces of `piece` bytes and commits; the error of the first step that
  // fails, or the stored digest.
  Result<cas::Digest> upload(const Route& r, BodyEncoding encoding, const std::string& wire,
                             std::optional<std::uint64_t> length, std::uint64_t max_size,
                             std::size_t piece = 1000) {
    auto sink = UploadSink::open(*m_store, r, encoding, length, max_size);
    if (!sink) {
      return std::move(sink).error();
    }
    for (std::size_t off = 0; off < wire.size(); off += piece) {
      INGOT_TRY((*sink)->append(as_bytes(std::string_view(wire).substr(off, piece))));
    }
    INGOT_TRY((*sink)->finish());
    return (*sink)->take_writer()->commit();
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
};

TEST_F(UploadTest, ZstdBodyIsDecodedAndVerifiedAgainstTheDigest) {
  const std::string data(200000, 'x');
  const auto digest = cas::digest_of(data);
  const auto wire = zstd(data);
  auto stored =
      upload(route("/cas/" + digest.hex()), BodyEncoding::zstd, wire, wire.size(), 1u << 30);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(*stored, digest);
  EXPECT_EQ(*m_store->get(digest.hash), data);
}

TEST_F(UploadTest, ASmallZstdBodyCannotDecodePastTheLimit) {
  const std::string data(1u << 20, '\0'); // 1 MiB of zeros: a few dozen bytes on the wire
  const auto wire = zstd(data);
  ASSERT_LT(wire.size(), 1024u);
  auto stored = upload(route("/kv/bomb"), BodyEncoding::zstd, wire, wire.size(), 64 * 1024);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::too_large);
  EXPECT_FALSE(m_store->contains(cas::digest_of(data).hash)) << "nothing of it is stored";
}

TEST_F(UploadTest, BodyOfUndeclaredSizeIsLimitedToo) {
  const std::string data(100000, 'y');
  auto stored = upload(route("/kv/chunked"), BodyEncoding::identity, data, std::nullopt, 50000);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::too_large);
}

// Found by tests/fuzz/upload_fuzz.cpp: a declared length of 2^64-1 was taken for "size
// unknown", so an empty body to /cas/<empty blob> was stored as matching it.
TEST_F(UploadTest, DeclaredLengthOverTheLimitOrOfSizeUnknownIsRefused) {
  const auto empty = route("/cas/" + cas::digest_of("").hex());
  auto stored = upload(empty, BodyEncoding::identity, "", cas::k_size_unknown, cas::k_size_unknown);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::too_large);
  stored = upload(route("/kv/declared"), BodyEncoding::identity, "abc", 101, 100);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::too_large);
}

TEST_F(UploadTest, ChunkedCasUploadIsCheckedByHashAlone) {
  const std::string data(70000, 'z');
  const auto digest = cas::digest_of(data);
  auto good =
      upload(route("/cas/" + digest.hex()), BodyEncoding::identity, data, std::nullopt, 1u << 30);
  ASSERT_TRUE(good) << good.error().message;
  auto bad = upload(route("/cas/" + cas::digest_of("other").hex()), BodyEncoding::identity, data,
                    std::nullopt, 1u << 30);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
}

TEST_F(UploadTest, GarbageUnderZstdIsRefused) {
  auto stored = upload(route("/kv/garbage"), BodyEncoding::zstd, "definitely not zstd",
                       std::nullopt, 1u << 30);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::invalid_argument);
}

// RFC 8878 section 3: a zstd stream is a sequence of frames, so `cat a.zst b.zst` is one
// valid body. It used to hang the I/O thread: the decoder stopped at the first frame's end
// and the loop over the body never consumed the rest.
TEST_F(UploadTest, EveryFrameOfAMultiFrameBodyIsDecoded) {
  const std::string a(150000, 'a');
  const std::string b = "and then some more bytes of a second frame";
  const auto digest = cas::digest_of(a + b);
  const auto wire = zstd(a) + zstd(b);
  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{1000}, wire.size()}) {
    auto stored = upload(route("/cas/" + digest.hex()), BodyEncoding::zstd, wire, wire.size(),
                         1u << 30, piece);
    ASSERT_TRUE(stored) << "pieces of " << piece << ": " << stored.error().message;
    EXPECT_EQ(*stored, digest);
  }
  EXPECT_EQ(*m_store->get(digest.hash), a + b);
}

TEST_F(UploadTest, SkippableFramesAreSkipped) {
  // RFC 8878 section 3.1.2: magic 0x184D2A5?, a 4-byte little-endian size, then that many
  // bytes the decoder ignores.
  const std::string skippable("\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11);
  const std::string data = "the payload";
  const auto wire = skippable + zstd(data) + skippable;
  auto stored = upload(route("/kv/skip"), BodyEncoding::zstd, wire, wire.size(), 1u << 30);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(*stored, cas::digest_of(data));
}

TEST_F(UploadTest, BytesAfterTheLastFrameAreRefused) {
  const auto wire = zstd(std::string(5000, 'q')) + "trailing junk";
  for (const std::size_t piece : {std::size_t{1}, std::size_t{1000}, wire.size()}) {
    auto stored = upload(route("/kv/junk"), BodyEncoding::zstd, wire, wire.size(), 1u << 30, piece);
    ASSERT_FALSE(stored) << "pieces of " << piece;
    EXPECT_EQ(stored.error().code, Errc::invalid_argument);
    EXPECT_NE(stored.error().message.find("zstd body does not decode"), std::string::npos)
        << stored.error().message;
  }
}

// The first 1,000 bytes of a frame used to be acknowledged as a complete (empty) value.
TEST_F(UploadTest, ATruncatedFrameIsRefusedAndNothingIsStored) {
  std::string data;
  for (int i = 0; data.size() < 270000; ++i) {
    data += std::to_string(i * 7919) + ",";
  }
  const auto wire = zstd(data).substr(0, 1000);
  auto stored = upload(route("/kv/cut"), BodyEncoding::zstd, wire, wire.size(), 1u << 30);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::invalid_argument);
  EXPECT_NE(stored.error().message.find("truncated"), std::string::npos) << stored.error().message;
}

TEST_F(UploadTest, AnEmptyZstdBodyIsRefused) {
  auto stored = upload(route("/kv/empty"), BodyEncoding::zstd, "", 0, 1u << 30);
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().code, Errc::invalid_argument);
}

TEST_F(UploadTest, AFrameCutAtEveryLengthIsRefused) {
  const auto wire = zstd(std::string(3000, 'r') + "tail");
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    auto stored =
        upload(route("/kv/cut"), BodyEncoding::zstd, wire.substr(0, cut), cut, 1u << 30, 3);
    ASSERT_FALSE(stored) << "cut at " << cut << " of " << wire.size();
    EXPECT_EQ(stored.error().code, Errc::invalid_argument);
  }
}

} // namespace
} // namespace ingot::server
