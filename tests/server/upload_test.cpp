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

} // namespace
} // namespace ingot::server
