#include "cas/store.hpp"
#include "support/printers.hpp"
#include "support/result_assertions.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"
#include "util/bytes.hpp"

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <zstd.h>

namespace ingot::cas {

void PrintTo(Codec codec, std::ostream* os) {
  *os << to_string(codec);
}

namespace {

namespace fs = std::filesystem;
using test::blob_files_of;
using test::compressible_text;
using test::expect_same_usage;
using test::fails_with;
using test::ok;
using test::random_bytes;
using test::TempDir;
using test::tmp_files;
using test::write_in_chunks;

// Small on purpose, so that "over the threshold" does not need big test data; every test sets
// it explicitly rather than depending on the default.
constexpr std::uint64_t k_threshold = 4096;
constexpr std::size_t k_mib = 1024 * 1024;

// Drains a reader; refuses to run forever if the reader never reports the end.
Result<std::string> drain(BlobReader& reader, std::size_t buffer_size = 4093) {
  std::string out;
  std::vector<std::uint8_t> buffer(buffer_size);
  for (;;) {
    auto n = reader.read(buffer);
    if (!n) {
      return std::move(n).error();
    }
    if (*n == 0) {
      return out;
    }
    if (*n > buffer.size()) {
      return make_error(Errc::io, "read() reported more bytes than the buffer holds");
    }
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
    if (out.size() > reader.length() + buffer_size) {
      return make_error(Errc::io, "reader produced more than its length()");
    }
  }
}

ReadOptions range(std::uint64_t offset, std::optional<std::uint64_t> length,
                  View view = View::decoded) {
  ReadOptions options;
  options.view = view;
  options.offset = offset;
  options.length = length;
  return options;
}

ReadOptions stored_view() {
  return range(0, std::nullopt, View::stored);
}

Result<std::string> read_blob(Store& store, const Hash& hash, const ReadOptions& options = {},
                              std::size_t buffer_size = 4093) {
  auto reader = store.open_read(hash, options);
  if (!reader) {
    return std::move(reader).error();
  }
  return drain(**reader, buffer_size);
}

// Decodes a whole zstd stream with the streaming API: a streaming writer need not record the
// content size in the frame header, which ZSTD_decompress would want.
std::optional<std::string> zstd_decode(std::string_view frame) {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  std::string out;
  std::vector<char> buffer(ZSTD_DStreamOutSize());
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  std::size_t last = 0;
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buffer.data(), buffer.size(), 0};
    last = ZSTD_decompressStream(ctx, &o, &in);
    if (ZSTD_isError(last) != 0U) {
      ZSTD_freeDCtx(ctx);
      return std::nullopt;
    }
    out.append(buffer.data(), o.pos);
  }
  // Flush whatever the decoder still holds.
  while (last != 0) {
    ZSTD_outBuffer o{buffer.data(), buffer.size(), 0};
    last = ZSTD_decompressStream(ctx, &o, &in);
    if (ZSTD_isError(last) != 0U || o.pos == 0) {
      ZSTD_freeDCtx(ctx);
      return std::nullopt; // a truncated frame
    }
    out.append(buffer.data(), o.pos);
  }
  ZSTD_freeDCtx(ctx);
  return out;
}

std::int64_t now_unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class StoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_options.dir = m_tmp.path() / "data";
    m_options.inline_threshold = k_threshold;
    m_options.compression = Compression::automatic;
    ASSERT_NO_FATAL_FAILURE(open_store());
  }

  void open_store() {
    auto store = Store::open(m_options);
    ASSERT_TRUE(store) << store.error().message;
    m_store = std::move(*store);
  }

  void reopen() {
    m_store.reset();
    open_store();
  }

  Store& store() { return *m_store; }
  const fs::path& data_dir() const { return m_options.dir; }

  Digest must_put(std::string_view data) { return test::must_put(*m_store, data); }

  BlobInfo must_stat(const Digest& d) {
    auto info = m_store->stat(d.hash);
    EXPECT_TRUE(info) << info.error().message;
    return info ? *info : BlobInfo{};
  }

  TempDir m_tmp;
  StoreOptions m_options;
  std::unique_ptr<Store> m_store;
};

// --- round trips -------------------------------------------------------------------------

enum class Content { random, text };

struct RoundTripCase {
  std::size_t size;
  std::size_t chunk;
  Content content;
};

std::ostream& operator<<(std::ostream& os, const RoundTripCase& c) {
  return os << c.size << "B in " << c.chunk << "B chunks, "
            << (c.content == Content::random ? "random" : "text");
}

class StoreRoundTrip : public StoreTest, public ::testing::WithParamInterface<RoundTripCase> {};

TEST_P(StoreRoundTrip, StreamedBlobReadsBackExactly) {
  const RoundTripCase c = GetParam();
  const std::string data =
      c.content == Content::random ? random_bytes(c.size, c.size) : compressible_text(c.size);
  const Digest expected = digest_of(data);
  const Usage before = store().usage();

  const auto committed = write_in_chunks(store(), data, c.chunk);
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(*committed, expected);
  EXPECT_TRUE(store().contains(expected.hash));

  const auto back = read_blob(store(), expected.hash);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->size(), data.size());
  EXPECT_TRUE(*back == data) << "content differs";

  if (c.size <= k_mib) {
    const auto whole = store().get(expected.hash);
    ASSERT_TRUE(whole) << whole.error().message;
    EXPECT_TRUE(*whole == data) << "get() content differs";
  }

  const BlobInfo info = must_stat(expected);
  EXPECT_EQ(info.digest, expected);
  if (c.content == Content::random) {
    // Random bytes do not compress, so only the size decides where the blob lives.
    EXPECT_EQ(info.is_inline, c.size <= k_threshold);
  }
  // An inline blob has no file; a file blob has exactly one.
  EXPECT_EQ(blob_files_of(data_dir(), expected).size(), info.is_inline ? 0U : 1U);
  EXPECT_TRUE(tmp_files(data_dir()).empty());

  if (c.size > 0) {
    const Usage after = store().usage();
    EXPECT_EQ(after.blobs, before.blobs + 1);
    EXPECT_EQ(after.logical_bytes, before.logical_bytes + c.size);
    EXPECT_EQ(after.stored_bytes, before.stored_bytes + info.stored_size);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, StoreRoundTrip,
                         ::testing::Values(RoundTripCase{0, 7, Content::random},
                                           RoundTripCase{1, 7, Content::random},
                                           RoundTripCase{k_threshold - 1, 7, Content::random},
                                           RoundTripCase{k_threshold, 7, Content::random},
                                           RoundTripCase{k_threshold + 1, 7, Content::random},
                                           RoundTripCase{k_threshold - 1, 5, Content::text},
                                           RoundTripCase{k_threshold + 1, 5, Content::text},
                                           RoundTripCase{k_mib, 4093, Content::random},
                                           RoundTripCase{k_mib, 4093, Content::text},
                                           RoundTripCase{20 * k_mib, 65537, Content::random},
                                           RoundTripCase{20 * k_mib, k_mib + 3, Content::text}),
                         [](const auto& param_info) {
                           const RoundTripCase& c = param_info.param;
                           return std::string(c.content == Content::random ? "Random" : "Text") +
                                  std::to_string(c.size) + "B_Chunk" + std::to_string(c.chunk);
                         });

TEST_F(StoreTest, PutAndStreamingWriteAgree) {
  const std::string small = random_bytes(100, 1);
  const std::string large = compressible_text(100'000);
  for (const std::string* data : {&small, &large}) {
    const auto put = store().put(as_bytes(*data));
    ASSERT_TRUE(put) << put.error().message;
    EXPECT_EQ(*put, digest_of(*data));
    const auto again = write_in_chunks(store(), *data, 999);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*again, *put);
    const auto with_expected = store().put(as_bytes(*data), digest_of(*data));
    ASSERT_TRUE(with_expected) << with_expected.error().message;
    EXPECT_EQ(*with_expected, *put);
    const auto got = store().get(put->hash);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_TRUE(*got == *data);
  }
}

TEST_F(StoreTest, BlobsSurviveReopen) {
  const std::string inline_data = random_bytes(300, 2);
  const std::string file_data = compressible_text(200'000);
  const Digest a = must_put(inline_data);
  const Digest b = must_put(file_data);
  const BlobInfo info_b = must_stat(b);
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_TRUE(store().contains(a.hash));
  EXPECT_TRUE(store().contains(b.hash));
  EXPECT_EQ(store().get(a.hash).value(), inline_data);
  EXPECT_TRUE(store().get(b.hash).value() == file_data);
  const BlobInfo reopened = must_stat(b);
  EXPECT_EQ(reopened.codec, info_b.codec);
  EXPECT_EQ(reopened.stored_size, info_b.stored_size);
  EXPECT_EQ(reopened.is_inline, info_b.is_inline);
  EXPECT_EQ(reopened.created_unix_s, info_b.created_unix_s);
}

// --- stat and codecs -----------------------------------------------------------------------

TEST_F(StoreTest, StatReportsCreationTime) {
  const std::int64_t before = now_unix_s();
  const Digest d = must_put(random_bytes(10, 3));
  const std::int64_t after = now_unix_s();
  const BlobInfo info = must_stat(d);
  EXPECT_GE(info.created_unix_s, before);
  EXPECT_LE(info.created_unix_s, after);
}

TEST_F(StoreTest, IncompressibleBlobsAreStoredRaw) {
  for (const std::size_t size : {std::size_t{1}, std::size_t{3000}, std::size_t{200'000}}) {
    const Digest d = must_put(random_bytes(size, size));
    const BlobInfo info = must_stat(d);
    EXPECT_EQ(info.codec, Codec::raw) << size;
    EXPECT_EQ(info.stored_size, size) << size;
  }
}

TEST_F(StoreTest, CompressibleBlobsAreStoredAsZstdAndSmaller) {
  // One inline (under the threshold) and one file blob.
  for (const std::size_t size : {std::size_t{3000}, std::size_t{200'000}}) {
    const Usage before = store().usage();
    const Digest d = must_put(compressible_text(size));
    const BlobInfo info = must_stat(d);
    EXPECT_EQ(info.codec, Codec::zstd) << size;
    EXPECT_LT(info.stored_size, size) << size;
    EXPECT_GT(info.stored_size, 0U) << size;
    const Usage after = store().usage();
    EXPECT_EQ(after.logical_bytes - before.logical_bytes, size);
    EXPECT_EQ(after.stored_bytes - before.stored_bytes, info.stored_size);
  }
}

TEST_F(StoreTest, CompressibleFileBlobIsSmallerOnDisk) {
  const std::string data = compressible_text(500'000);
  const Digest d = must_put(data);
  const BlobInfo info = must_stat(d);
  ASSERT_FALSE(info.is_inline);
  const auto files = blob_files_of(data_dir(), d);
  ASSERT_EQ(files.size(), 1U);
  EXPECT_EQ(fs::file_size(files[0]), info.stored_size);
  EXPECT_LT(fs::file_size(files[0]), data.size());
}

TEST_F(StoreTest, CompressionOffStoresEverythingRaw) {
  m_options.compression = Compression::off;
  ASSERT_NO_FATAL_FAILURE(reopen());
  for (const std::size_t size : {std::size_t{3000}, std::size_t{200'000}}) {
    const std::string data = compressible_text(size, 11);
    const Digest d = must_put(data);
    const BlobInfo info = must_stat(d);
    EXPECT_EQ(info.codec, Codec::raw) << size;
    EXPECT_EQ(info.stored_size, size) << size;
    const auto stored = read_blob(store(), d.hash, stored_view());
    ASSERT_TRUE(stored) << stored.error().message;
    EXPECT_TRUE(*stored == data);
  }
}

TEST_F(StoreTest, StoredViewOfZstdBlobIsOneFrameThatDecodesToTheContent) {
  for (const std::size_t size : {std::size_t{3000}, std::size_t{300'000}}) {
    const std::string data = compressible_text(size, 5);
    const Digest d = must_put(data);
    const BlobInfo info = must_stat(d);
    ASSERT_EQ(info.codec, Codec::zstd) << size;

    auto reader = store().open_read(d.hash, stored_view());
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ((*reader)->length(), info.stored_size);
    EXPECT_EQ((*reader)->info().codec, Codec::zstd);
    const auto stored = drain(**reader);
    ASSERT_TRUE(stored) << stored.error().message;
    EXPECT_EQ(stored->size(), info.stored_size);
    // Served as is to clients that accept zstd: it must be exactly one complete frame.
    EXPECT_EQ(ZSTD_findFrameCompressedSize(stored->data(), stored->size()), stored->size());
    const auto decoded = zstd_decode(*stored);
    ASSERT_TRUE(decoded.has_value()) << "stored bytes are not a valid zstd frame";
    EXPECT_TRUE(*decoded == data) << size;
  }
}

TEST_F(StoreTest, StoredViewOfRawBlobIsTheContent) {
  for (const std::size_t size : {std::size_t{100}, std::size_t{300'000}}) {
    const std::string data = random_bytes(size, 77);
    const Digest d = must_put(data);
    ASSERT_EQ(must_stat(d).codec, Codec::raw);
    const auto stored = read_blob(store(), d.hash, stored_view());
    ASSERT_TRUE(stored) << stored.error().message;
    EXPECT_TRUE(*stored == data) << size;
  }
}

// --- failed and abandoned writes -------------------------------------------------------------

class StoreFailedWrite : public StoreTest, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(StoreFailedWrite, ExpectedDigestMismatchStoresNothing) {
  const std::size_t size = GetParam();
  const std::string data = random_bytes(size, 1);
  const Digest actual = digest_of(data);
  // Same size, other bytes: only the hash differs.
  const Digest expected = digest_of(random_bytes(size, 2));
  const Usage before = store().usage();

  const auto committed = write_in_chunks(store(), data, 1000, expected);
  EXPECT_TRUE(fails_with(committed, Errc::invalid_argument));
  EXPECT_FALSE(store().contains(actual.hash));
  EXPECT_FALSE(store().contains(expected.hash));
  EXPECT_TRUE(fails_with(store().get(actual.hash), Errc::not_found));
  EXPECT_TRUE(tmp_files(data_dir()).empty());
  EXPECT_TRUE(blob_files_of(data_dir(), actual).empty());
  expect_same_usage(store().usage(), before);

  const auto put = store().put(as_bytes(data), expected);
  EXPECT_TRUE(fails_with(put, Errc::invalid_argument));
  EXPECT_FALSE(store().contains(actual.hash));
  EXPECT_TRUE(tmp_files(data_dir()).empty());
  expect_same_usage(store().usage(), before);
}

TEST_P(StoreFailedWrite, FewerBytesThanExpectedFailsOnCommit) {
  const std::size_t size = GetParam();
  const std::string data = random_bytes(size, 3);
  const Digest expected = digest_of(data);
  const std::string_view truncated = std::string_view(data).substr(0, size - 1);
  const Usage before = store().usage();

  EXPECT_TRUE(
      fails_with(write_in_chunks(store(), truncated, 1000, expected), Errc::invalid_argument));
  EXPECT_FALSE(store().contains(expected.hash));
  EXPECT_FALSE(store().contains(digest_of(truncated).hash));
  EXPECT_TRUE(tmp_files(data_dir()).empty());
  expect_same_usage(store().usage(), before);
}

TEST_P(StoreFailedWrite, AppendingPastTheExpectedSizeFails) {
  const std::size_t size = GetParam();
  const std::string data = random_bytes(size, 4);
  const Digest expected = digest_of(data);
  const Usage before = store().usage();
  {
    auto writer = store().begin_write(expected);
    ASSERT_TRUE(writer) << writer.error().message;
    ASSERT_TRUE((*writer)->append(as_bytes(data))) << "the declared bytes must be accepted";
    // A client that sends more than it declared is refused at once, not after buffering.
    EXPECT_FALSE((*writer)->append(as_bytes("x")));
    EXPECT_FALSE((*writer)->commit());
  }
  EXPECT_FALSE(store().contains(digest_of(data + "x").hash));
  EXPECT_TRUE(tmp_files(data_dir()).empty());
  expect_same_usage(store().usage(), before);
}

TEST_P(StoreFailedWrite, AbandonedWriterLeavesNothing) {
  const std::size_t size = GetParam();
  const std::string data = random_bytes(size, 5);
  const Digest d = digest_of(data);
  const Usage before = store().usage();
  {
    auto writer = store().begin_write();
    ASSERT_TRUE(writer) << writer.error().message;
    ASSERT_TRUE((*writer)->append(as_bytes(data)));
    // Nothing is visible before commit, even with every byte written.
    EXPECT_FALSE(store().contains(d.hash));
    EXPECT_TRUE(fails_with(store().stat(d.hash), Errc::not_found));
  }
  EXPECT_FALSE(store().contains(d.hash));
  EXPECT_TRUE(tmp_files(data_dir()).empty());
  EXPECT_TRUE(blob_files_of(data_dir(), d).empty());
  expect_same_usage(store().usage(), before);

  // The abandoned attempt does not get in the way of a real one.
  const auto committed = write_in_chunks(store(), data, 777);
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(*committed, d);
  EXPECT_TRUE(store().get(d.hash).value() == data);
}

INSTANTIATE_TEST_SUITE_P(InlineAndFile, StoreFailedWrite,
                         ::testing::Values(std::size_t{100}, std::size_t{k_threshold},
                                           std::size_t{k_threshold + 1}, std::size_t{300'000}),
                         [](const auto& param_info) {
                           return "Size" + std::to_string(param_info.param) + "B";
                         });

TEST_F(StoreTest, FailedWriteDoesNotDisturbAnExistingCopy) {
  const std::string data = random_bytes(50'000, 8);
  const Digest d = must_put(data);
  const Usage before = store().usage();
  // Right size, wrong bytes, declared as `d`.
  EXPECT_TRUE(
      fails_with(store().put(as_bytes(random_bytes(50'000, 9)), d), Errc::invalid_argument));
  EXPECT_TRUE(store().get(d.hash).value() == data);
  expect_same_usage(store().usage(), before);
}

// --- ranges --------------------------------------------------------------------------------

struct RangeBlob {
  const char* name;
  std::size_t size;
  Content content;
};

std::ostream& operator<<(std::ostream& os, const RangeBlob& b) {
  return os << b.name;
}

class StoreRange : public StoreTest, public ::testing::WithParamInterface<RangeBlob> {
protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StoreTest::SetUp());
    const RangeBlob b = GetParam();
    m_data = b.content == Content::random ? random_bytes(b.size, 21) : compressible_text(b.size);
    m_digest = must_put(m_data);
  }

  void expect_range(std::uint64_t offset, std::optional<std::uint64_t> length,
                    std::string_view expected, std::size_t buffer_size = 4093) {
    SCOPED_TRACE("offset " + std::to_string(offset) + " length " +
                 (length ? std::to_string(*length) : "unset"));
    auto reader = store().open_read(m_digest.hash, range(offset, length));
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ((*reader)->length(), expected.size());
    EXPECT_EQ((*reader)->info().digest, m_digest);
    const auto bytes = drain(**reader, buffer_size);
    ASSERT_TRUE(bytes) << bytes.error().message;
    EXPECT_EQ(bytes->size(), expected.size());
    EXPECT_TRUE(*bytes == expected);
    // The end stays the end.
    std::vector<std::uint8_t> more(16);
    const auto n = (*reader)->read(more);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(*n, 0U);
  }

  std::string m_data;
  Digest m_digest;
};

TEST_P(StoreRange, DecodedRanges) {
  const std::string_view all = m_data;
  const std::uint64_t size = all.size();
  expect_range(0, std::nullopt, all);
  expect_range(0, 10, all.substr(0, 10));
  expect_range(0, 1, all.substr(0, 1), 1);
  expect_range(size / 3, 1000, all.substr(size / 3, 1000));
  expect_range(size / 2, std::nullopt, all.substr(size / 2), 7);
  expect_range(size - 10, 10, all.substr(size - 10));
  expect_range(size - 1, std::nullopt, all.substr(size - 1));
  // A length past the end is clamped to the end.
  expect_range(size - 10, 100, all.substr(size - 10));
  expect_range(17, size * 2, all.substr(17));
  // An offset at the end gives nothing.
  expect_range(size, std::nullopt, {});
  expect_range(size, 5, {});
  expect_range(5, 0, {});
}

TEST_P(StoreRange, StoredRangesAreSlicesOfTheStoredBytes) {
  const BlobInfo info = must_stat(m_digest);
  const auto whole = read_blob(store(), m_digest.hash, stored_view());
  ASSERT_TRUE(whole) << whole.error().message;
  ASSERT_EQ(whole->size(), info.stored_size);
  const std::string_view all = *whole;
  const std::uint64_t size = all.size();
  struct Slice {
    std::uint64_t offset;
    std::optional<std::uint64_t> length;
    std::string_view expected;
  };
  for (const Slice& s :
       {Slice{0, 5, all.substr(0, 5)}, Slice{size / 2, 20, all.substr(size / 2, 20)},
        Slice{size - 3, 100, all.substr(size - 3)}, Slice{size, std::nullopt, {}}}) {
    auto reader = store().open_read(m_digest.hash, range(s.offset, s.length, View::stored));
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ((*reader)->length(), s.expected.size()) << "offset " << s.offset;
    const auto bytes = drain(**reader);
    ASSERT_TRUE(bytes) << bytes.error().message;
    EXPECT_TRUE(*bytes == s.expected) << "offset " << s.offset;
  }
}

INSTANTIATE_TEST_SUITE_P(Blobs, StoreRange,
                         ::testing::Values(RangeBlob{"InlineRaw", 3000, Content::random},
                                           RangeBlob{"InlineZstd", 3000, Content::text},
                                           RangeBlob{"FileRaw", 300'000, Content::random},
                                           RangeBlob{"FileZstd", 300'000, Content::text}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// --- presence --------------------------------------------------------------------------------

TEST_F(StoreTest, RemovedBlobIsNotFound) {
  const Usage baseline = store().usage();
  for (const std::string& data :
       {random_bytes(100, 31), random_bytes(100'000, 32), compressible_text(100'000, 33)}) {
    const Digest d = must_put(data);
    const bool was_file = !must_stat(d).is_inline;
    ASSERT_TRUE(ok(store().remove(d.hash)));
    EXPECT_FALSE(store().contains(d.hash));
    EXPECT_TRUE(fails_with(store().get(d.hash), Errc::not_found));
    EXPECT_TRUE(fails_with(store().stat(d.hash), Errc::not_found));
    EXPECT_TRUE(fails_with(store().open_read(d.hash), Errc::not_found));
    if (was_file) {
      EXPECT_TRUE(blob_files_of(data_dir(), d).empty()) << "removed blob's file is still there";
    }
    expect_same_usage(store().usage(), baseline);

    // And it can come back.
    EXPECT_EQ(must_put(data), d);
    EXPECT_TRUE(store().get(d.hash).value() == data);
    ASSERT_TRUE(ok(store().remove(d.hash)));
  }
}

TEST_F(StoreTest, RemovalPersistsAcrossReopen) {
  const Digest d = must_put(random_bytes(50'000, 34));
  ASSERT_TRUE(ok(store().remove(d.hash)));
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_FALSE(store().contains(d.hash));
  EXPECT_TRUE(fails_with(store().get(d.hash), Errc::not_found));
}

// REAPI: the empty blob is always present, without anyone uploading it.
TEST_F(StoreTest, EmptyBlobIsPresentRightAfterOpen) {
  const Hash& empty = empty_digest().hash;
  EXPECT_TRUE(store().contains(empty));
  const auto got = store().get(empty);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "");
  const auto info = store().stat(empty);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->digest, empty_digest());
  EXPECT_EQ(info->stored_size, 0U);
  auto reader = store().open_read(empty);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->length(), 0U);
  EXPECT_EQ(drain(**reader).value(), "");

  const auto written = write_in_chunks(store(), "", 1);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(*written, empty_digest());
}

TEST_F(StoreTest, EmptyBlobStaysPresentAfterRemoveAndReopen) {
  (void)store().remove(empty_digest().hash); // refusing is as fine as a no-op
  EXPECT_TRUE(store().contains(empty_digest().hash));
  EXPECT_TRUE(store().get(empty_digest().hash).has_value());
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_TRUE(store().contains(empty_digest().hash));
  EXPECT_TRUE(store().get(empty_digest().hash).has_value());
}

TEST_F(StoreTest, MissingBlobIsNotFound) {
  const Digest missing = digest_of("never stored");
  EXPECT_FALSE(store().contains(missing.hash));
  EXPECT_TRUE(fails_with(store().get(missing.hash), Errc::not_found));
  EXPECT_TRUE(fails_with(store().stat(missing.hash), Errc::not_found));
  EXPECT_TRUE(fails_with(store().open_read(missing.hash), Errc::not_found));
  EXPECT_TRUE(fails_with(store().open_read(missing.hash, stored_view()), Errc::not_found));
  EXPECT_TRUE(fails_with(store().verify(missing.hash), Errc::not_found));
}

// --- namespaces ------------------------------------------------------------------------------

const std::string k_ac_key = "a3f1c0d2e4b5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

TEST_F(StoreTest, NsPutRequiresTheValueBlob) {
  const Digest absent = digest_of("not uploaded");
  for (const Namespace ns : {Namespace::ac, Namespace::kv}) {
    SCOPED_TRACE(std::string(to_string(ns)));
    EXPECT_TRUE(fails_with(store().ns_put(ns, k_ac_key, absent), Errc::not_found));
    EXPECT_TRUE(fails_with(store().ns_get(ns, k_ac_key), Errc::not_found));
  }
  EXPECT_EQ(store().usage().ac_entries, 0U);
  EXPECT_EQ(store().usage().kv_entries, 0U);
}

// A digest names content and length together; the right hash with a wrong size is not the
// stored blob.
TEST_F(StoreTest, NsPutRejectsADigestWithTheWrongSize) {
  const Digest value = must_put("twelve bytes");
  Digest wrong_size = value;
  wrong_size.size += 1;
  EXPECT_FALSE(store().ns_put(Namespace::kv, "k", wrong_size));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "k"), Errc::not_found));
  EXPECT_EQ(store().usage().kv_entries, 0U);
}

// ARCHITECTURE.md: an entry whose referenced blob is gone is never served as a hit.
TEST_F(StoreTest, EntryWhoseValueBlobIsGoneIsNotAHit) {
  const Digest value = must_put(random_bytes(20'000, 42));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, value)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "k", value)));
  ASSERT_TRUE(ok(store().remove(value.hash)));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::ac, k_ac_key), Errc::not_found));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "k"), Errc::not_found));
}

TEST_F(StoreTest, NsGetReturnsTheStoredDigest) {
  const Digest value = must_put(random_bytes(10'000, 41));
  for (const Namespace ns : {Namespace::ac, Namespace::kv}) {
    SCOPED_TRACE(std::string(to_string(ns)));
    const std::int64_t before = now_unix_ms();
    ASSERT_TRUE(ok(store().ns_put(ns, k_ac_key, value)));
    const std::int64_t after = now_unix_ms();
    const auto entry = store().ns_get(ns, k_ac_key);
    ASSERT_TRUE(entry) << entry.error().message;
    EXPECT_EQ(entry->value, value);
    EXPECT_GE(entry->updated_unix_ms, before);
    EXPECT_LE(entry->updated_unix_ms, after);
  }
  EXPECT_EQ(store().usage().ac_entries, 1U);
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

TEST_F(StoreTest, KvIsLastWriterWins) {
  const Digest first = must_put("first value");
  const Digest second = must_put("second value");
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef0123", first)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef0123", second)));
  EXPECT_EQ(store().ns_get(Namespace::kv, "ccache/ab/cdef0123").value().value, second);
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef0123", first)));
  EXPECT_EQ(store().ns_get(Namespace::kv, "ccache/ab/cdef0123").value().value, first);
  // Overwriting a key does not add an entry.
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

TEST_F(StoreTest, NsRemoveThenNotFound) {
  const Digest value = must_put("a value");
  for (const Namespace ns : {Namespace::ac, Namespace::kv}) {
    SCOPED_TRACE(std::string(to_string(ns)));
    ASSERT_TRUE(ok(store().ns_put(ns, k_ac_key, value)));
    ASSERT_TRUE(ok(store().ns_remove(ns, k_ac_key)));
    EXPECT_TRUE(fails_with(store().ns_get(ns, k_ac_key), Errc::not_found));
  }
  EXPECT_EQ(store().usage().ac_entries, 0U);
  EXPECT_EQ(store().usage().kv_entries, 0U);
  // The entry is gone, the blob it pointed at is not.
  EXPECT_TRUE(store().contains(value.hash));
}

TEST_F(StoreTest, AcAndKvAreSeparate) {
  const Digest ac_value = must_put("action result");
  const Digest kv_value = must_put("opaque bytes");
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, ac_value)));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, k_ac_key), Errc::not_found));

  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, k_ac_key, kv_value)));
  EXPECT_EQ(store().ns_get(Namespace::ac, k_ac_key).value().value, ac_value);
  EXPECT_EQ(store().ns_get(Namespace::kv, k_ac_key).value().value, kv_value);
  EXPECT_EQ(store().usage().ac_entries, 1U);
  EXPECT_EQ(store().usage().kv_entries, 1U);

  ASSERT_TRUE(ok(store().ns_remove(Namespace::kv, k_ac_key)));
  EXPECT_EQ(store().ns_get(Namespace::ac, k_ac_key).value().value, ac_value);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, k_ac_key), Errc::not_found));
}

// Keys that are prefixes of one another are different keys (kv keys nest like paths).
TEST_F(StoreTest, KeysThatShareAPrefixAreIndependent) {
  const Digest v1 = must_put("v1");
  const Digest v2 = must_put("v2");
  const Digest v3 = must_put("v3");
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "a", v1)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ab", v2)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "a/b", v3)));
  EXPECT_EQ(store().ns_get(Namespace::kv, "a").value().value, v1);
  EXPECT_EQ(store().ns_get(Namespace::kv, "ab").value().value, v2);
  EXPECT_EQ(store().ns_get(Namespace::kv, "a/b").value().value, v3);
  ASSERT_TRUE(ok(store().ns_remove(Namespace::kv, "a")));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "a"), Errc::not_found));
  EXPECT_EQ(store().ns_get(Namespace::kv, "ab").value().value, v2);
  EXPECT_EQ(store().ns_get(Namespace::kv, "a/b").value().value, v3);
  EXPECT_EQ(store().usage().kv_entries, 2U);
}

TEST_F(StoreTest, KeysUpToTheLimitAreAccepted) {
  const Digest value = must_put("v");
  const std::string longest(k_max_key_size, 'k');
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, longest, value)));
  EXPECT_EQ(store().ns_get(Namespace::kv, longest).value().value, value);

  const std::string too_long(k_max_key_size + 1, 'k');
  EXPECT_TRUE(fails_with(store().ns_put(Namespace::kv, too_long, value), Errc::invalid_argument));
  EXPECT_FALSE(store().ns_get(Namespace::kv, too_long).has_value());
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

// ARCHITECTURE.md: identical bytes are stored once whatever key they arrive under.
TEST_F(StoreTest, IdenticalValuesUnderDifferentKeysAreStoredOnce) {
  const std::string value = compressible_text(50'000, 51);
  const Digest d = must_put(value);
  const Usage after_first = store().usage();
  for (int i = 0; i < 5; ++i) {
    const std::string key = "key-" + std::to_string(i);
    // Each client uploads the value again before pointing its key at it.
    EXPECT_EQ(must_put(value), d);
    ASSERT_TRUE(ok(store().ns_put(Namespace::kv, key, d)));
    ASSERT_TRUE(ok(store().ns_put(Namespace::ac, digest_of(key).hex(), d)));
  }
  const Usage after = store().usage();
  EXPECT_EQ(after.blobs, after_first.blobs);
  EXPECT_EQ(after.logical_bytes, after_first.logical_bytes);
  EXPECT_EQ(after.stored_bytes, after_first.stored_bytes);
  EXPECT_EQ(after.kv_entries, 5U);
  EXPECT_EQ(after.ac_entries, 5U);
  EXPECT_EQ(blob_files_of(data_dir(), d).size(), must_stat(d).is_inline ? 0U : 1U);
}

// --- usage -----------------------------------------------------------------------------------

TEST_F(StoreTest, UsageIsExactAfterMixedOperationsAndAcrossReopen) {
  const Usage base = store().usage();
  Usage expected = base;
  const auto add = [&](const Digest& d) {
    expected.blobs += 1;
    expected.logical_bytes += d.size;
    expected.stored_bytes += must_stat(d).stored_size;
  };
  const auto subtract = [&](const Digest& d) {
    expected.blobs -= 1;
    expected.logical_bytes -= d.size;
    expected.stored_bytes -= must_stat(d).stored_size;
  };

  const std::string raw_file = random_bytes(20'000, 61);
  const std::string zstd_file = compressible_text(80'000, 62);
  const std::string raw_inline = random_bytes(700, 63);
  const std::string zstd_inline = compressible_text(3500, 64);
  const std::string doomed = random_bytes(9000, 65);

  const Digest a = must_put(raw_file);
  add(a);
  const Digest b = must_put(zstd_file);
  add(b);
  const Digest c = must_put(raw_inline);
  add(c);
  const Digest e = must_put(doomed);
  add(e);
  // Duplicates, by both write paths, change nothing.
  EXPECT_EQ(must_put(raw_file), a);
  EXPECT_EQ(write_in_chunks(store(), zstd_file, 3333).value(), b);
  EXPECT_EQ(must_put(raw_inline), c);
  const Digest f = must_put(zstd_inline);
  add(f);
  expect_same_usage(store().usage(), expected);

  subtract(e);
  ASSERT_TRUE(ok(store().remove(e.hash)));
  subtract(c);
  ASSERT_TRUE(ok(store().remove(c.hash)));
  // A second remove of the same blob must not count it out twice.
  (void)store().remove(c.hash);
  EXPECT_FALSE(store().contains(c.hash));
  expect_same_usage(store().usage(), expected);

  // A failed write counts for nothing.
  EXPECT_FALSE(store().put(as_bytes(random_bytes(5000, 66)), digest_of(random_bytes(5000, 67))));

  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, a)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, digest_of("k2").hex(), b)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, b))); // overwrite
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "x", a)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "y", f)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "z", f)));
  ASSERT_TRUE(ok(store().ns_remove(Namespace::kv, "y")));
  (void)store().ns_remove(Namespace::kv, "y");
  (void)store().ns_remove(Namespace::kv, "never-there");
  expected.ac_entries = base.ac_entries + 2;
  expected.kv_entries = base.kv_entries + 2;
  expect_same_usage(store().usage(), expected);

  // Re-adding a removed blob counts it again, once.
  EXPECT_EQ(must_put(raw_inline), c);
  add(c);
  expect_same_usage(store().usage(), expected);

  ASSERT_NO_FATAL_FAILURE(reopen());
  expect_same_usage(store().usage(), expected);
  EXPECT_EQ(store().ns_get(Namespace::ac, k_ac_key).value().value, b);
  EXPECT_EQ(store().ns_get(Namespace::kv, "z").value().value, f);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "y"), Errc::not_found));
  EXPECT_TRUE(store().get(b.hash).value() == zstd_file);
  EXPECT_FALSE(store().contains(e.hash));

  // And keeps counting right after the reopen.
  subtract(a);
  ASSERT_TRUE(ok(store().remove(a.hash)));
  expect_same_usage(store().usage(), expected);
  ASSERT_NO_FATAL_FAILURE(reopen());
  expect_same_usage(store().usage(), expected);
}

// --- the data dir lock -----------------------------------------------------------------------

TEST_F(StoreTest, SecondOpenInTheSameProcessIsBusyAndNamesTheHolder) {
  const auto second = Store::open(m_options);
  ASSERT_TRUE(fails_with(second, Errc::busy));
  EXPECT_NE(second.error().message.find(std::to_string(::getpid())), std::string::npos)
      << "message does not name pid " << ::getpid() << ": " << second.error().message;
  // The first opener is unaffected.
  const Digest d = must_put("still works");
  EXPECT_EQ(store().get(d.hash).value(), "still works");
}

TEST_F(StoreTest, OpeningAfterCloseWorks) {
  const Digest d = must_put("kept");
  m_store.reset();
  const auto again = Store::open(m_options);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->get(d.hash).value(), "kept");
}

TEST(StoreLock, SecondOpenFromAnotherProcessIsBusyAndNamesTheHolder) {
  TempDir tmp;
  StoreOptions options;
  options.dir = tmp.path() / "data";
  options.inline_threshold = k_threshold;

  // Fork before anything starts threads, so the child may run ordinary code.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t holder = ::getpid();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(go[1]);
    ::alarm(60); // a lock that blocks instead of failing must not hang the suite
    char byte = 0;
    if (::read(go[0], &byte, 1) != 1) {
      ::_exit(10);
    }
    const auto r = Store::open(options);
    if (r) {
      ::_exit(1); // opened a dir another process holds
    }
    if (r.error().code != Errc::busy) {
      ::_exit(2);
    }
    ::_exit(r.error().message.find(std::to_string(holder)) == std::string::npos ? 3 : 0);
  }
  ::close(go[0]);
  auto store = Store::open(options);
  const bool opened = store.has_value();
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(opened) << store.error().message;
  ASSERT_TRUE(WIFEXITED(status));
  switch (WEXITSTATUS(status)) {
  case 0:
    break;
  case 1:
    ADD_FAILURE() << "another process opened the data dir while this one held it";
    break;
  case 2:
    ADD_FAILURE() << "the other process failed with a code other than busy";
    break;
  case 3:
    ADD_FAILURE() << "the busy message does not name the holder's pid " << holder;
    break;
  default:
    ADD_FAILURE() << "child exited with " << WEXITSTATUS(status);
  }
}

// Two server processes started at once (a restart racing the old one, say): exactly one gets
// the dir, and every other one is told who holds it.
// Regression test: a loser that checked between the winner's flock() and its writing of the
// lock file used to get "in use by another process", with no pid.
TEST(StoreLock, ConcurrentOpenersOneWinsAndTheOthersNameIt) {
  TempDir tmp;
  StoreOptions options;
  options.dir = tmp.path() / "data";
  options.inline_threshold = k_threshold;
  constexpr int k_openers = 8;
  const std::string pid = std::to_string(::getpid());
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::barrier start(k_openers);
    std::vector<std::optional<Result<std::unique_ptr<Store>>>> results(k_openers);
    std::vector<std::thread> threads;
    for (int t = 0; t < k_openers; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        results[static_cast<std::size_t>(t)].emplace(Store::open(options));
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    int winners = 0;
    for (const auto& result : results) {
      ASSERT_TRUE(result.has_value());
      const auto& r = *result;
      if (r) {
        ++winners;
        continue;
      }
      EXPECT_TRUE(fails_with(r, Errc::busy));
      EXPECT_NE(r.error().message.find(pid), std::string::npos)
          << "busy message does not name pid " << pid << ": " << r.error().message;
    }
    ASSERT_EQ(winners, 1);
  }
}

TEST(StoreOpen, FailsCleanlyWhenTheDirIsAFile) {
  TempDir tmp;
  const fs::path file = tmp.path() / "not-a-dir";
  std::ofstream(file) << "x";
  StoreOptions options;
  options.dir = file;
  const auto store = Store::open(options);
  ASSERT_FALSE(store);
  EXPECT_FALSE(store.error().message.empty());
}

TEST_F(StoreTest, LeftoverTempFilesAreRemovedOnOpen) {
  m_store.reset();
  // What a crash in the middle of an upload leaves behind.
  fs::create_directories(data_dir() / "tmp");
  std::ofstream(data_dir() / "tmp" / "upload-leftover") << random_bytes(10'000, 71);
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_TRUE(tmp_files(data_dir()).empty());
}

// A re-upload of a stored blob is verified but never written: no temp file is created (a
// directory watch would see one), the store is unchanged, and a wrong body is still refused.
TEST(StoreReupload, StoredBlobIsVerifiedWithoutWritingIt) {
  test::TempDir dir;
  StoreOptions options;
  options.dir = dir.path() / "data";
  options.inline_threshold = 4096;
  auto store = std::move(*Store::open(options));
  const std::string data = random_bytes(300000, 7);
  const auto digest = *store->put(as_bytes(data));
  const auto before = store->usage();
  const auto file = dir.path() / "data" / "blobs" / digest.hex().substr(0, 2) / digest.hex();
  const auto mtime = std::filesystem::last_write_time(file);

  auto writer = store->begin_write(digest);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->append(as_bytes(data)));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "data" / "tmp"))
      << "a known blob's bytes must not be written again";
  auto again = (*writer)->commit();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, digest);
  EXPECT_EQ(std::filesystem::last_write_time(file), mtime);
  EXPECT_EQ(store->usage().stored_bytes, before.stored_bytes);

  std::string wrong = data;
  wrong[1000] ^= 1;
  auto bad = store->put(as_bytes(wrong), digest);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  auto still = store->get(digest.hash);
  ASSERT_TRUE(still);
  EXPECT_EQ(*still, data);
}

} // namespace
} // namespace ingot::cas
