// Blobs: round trips, codecs, failed writes, ranges, removal, re-uploads.
#include "cas/store_fixture.hpp"

#include <unistd.h>

namespace ingot::cas {
namespace {

using namespace store_test;

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

TEST_F(StoreTest, APlannedReadChoosesItsOptionsFromTheBlobsInfo) {
  const std::string text = compressible_text(300'000, 5);
  const Digest d = must_put(text);
  std::optional<BlobInfo> seen;
  auto reader = store().open_read(d.hash, [&seen](const BlobInfo& info) {
    seen = info;
    // What an HTTP server does with "Range: bytes=-10": the last ten bytes, known only
    // once the size is.
    ReadOptions options;
    options.offset = info.digest.size - 10;
    return options;
  });
  ASSERT_TRUE(reader) << reader.error().message;
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->digest, d);
  EXPECT_EQ(seen->codec, Codec::zstd);
  const auto tail = drain(**reader);
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_EQ(*tail, text.substr(text.size() - 10));

  bool called = false;
  auto missing = store().open_read(digest_of("never stored").hash, [&called](const BlobInfo&) {
    called = true;
    return ReadOptions{};
  });
  EXPECT_TRUE(fails_with(missing, Errc::not_found));
  EXPECT_FALSE(called) << "no plan for a blob that is not there";
}

// A server sends a file span with sendfile(2) instead of reading it: the span must hold
// exactly the bytes read() would produce, and be offered only when the file holds them as they
// are served.
TEST_F(StoreTest, AFileSpanHoldsTheBytesTheReaderWouldProduce) {
  const std::string data = random_bytes(300'000, 41); // raw (incompressible), in a file
  const Digest d = must_put(data);
  ReadOptions range;
  range.offset = 1000;
  range.length = 70'000;
  auto reader = store().open_read(d.hash, range);
  ASSERT_TRUE(reader) << reader.error().message;
  const auto span = (*reader)->file_span();
  ASSERT_TRUE(span) << "a raw file blob has a file span";
  EXPECT_EQ(span->offset, 1000u);
  ASSERT_EQ(span->length, 70'000u);
  std::string bytes(span->length, '\0');
  ASSERT_EQ(::pread(span->fd, bytes.data(), bytes.size(), static_cast<off_t>(span->offset)),
            static_cast<ssize_t>(bytes.size()));
  EXPECT_EQ(bytes, data.substr(1000, 70'000));

  // What is left after a read.
  std::string first(100, '\0');
  ASSERT_TRUE((*reader)->read(MutableByteView(reinterpret_cast<std::uint8_t*>(first.data()), 100)));
  ASSERT_TRUE((*reader)->file_span());
  EXPECT_EQ((*reader)->file_span()->offset, 1100u);
  EXPECT_EQ((*reader)->file_span()->length, 69'900u);

  // Not for inline blobs, nor for a zstd blob decoded; the stored view of one is its file.
  const Digest small = must_put(random_bytes(100, 42));
  auto inline_reader = store().open_read(small.hash);
  ASSERT_TRUE(inline_reader) << inline_reader.error().message;
  EXPECT_FALSE((*inline_reader)->file_span());
  const std::string text = compressible_text(300'000, 43);
  const Digest zstd = must_put(text);
  auto decoded = store().open_read(zstd.hash);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_FALSE((*decoded)->file_span());
  ReadOptions stored_view;
  stored_view.view = View::stored;
  auto stored = store().open_read(zstd.hash, stored_view);
  ASSERT_TRUE(stored) << stored.error().message;
  ASSERT_TRUE((*stored)->file_span());
  EXPECT_EQ((*stored)->file_span()->length, (*stored)->info().stored_size);
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
