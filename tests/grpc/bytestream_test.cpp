// google.bytestream.ByteStream over a real gRPC channel: Write and Read of CAS blobs.
#include "cas/codec.hpp"
#include "cas/digest.hpp"
#include "grpc_fixture.hpp"

#include <future>

namespace ingot::server {
namespace {

using ByteStream = GrpcFixture;

std::string pattern(std::size_t size, unsigned seed) {
  std::string s(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

std::string blob_name(const cas::Digest& d) {
  return "blobs/" + d.hex() + "/" + std::to_string(d.size);
}

// Writes `data` under `resource` in chunks of `chunk` bytes, from `from`; the last one finishes
// the write unless `finish` is false.
grpc::Status write(bytestream::ByteStream::Stub& stub, const std::string& token,
                   const std::string& resource, std::string_view data, std::size_t chunk,
                   bytestream::WriteResponse& response, bool finish = true, std::size_t from = 0) {
  auto ctx = GrpcFixture::call(token);
  auto writer = stub.Write(ctx.get(), &response);
  std::size_t offset = from;
  do {
    bytestream::WriteRequest request;
    request.set_resource_name(offset == from ? resource : std::string());
    request.set_write_offset(static_cast<std::int64_t>(offset));
    const auto n = std::min(chunk, data.size() - offset);
    request.set_data(std::string(data.substr(offset, n)));
    offset += n;
    request.set_finish_write(finish && offset == data.size());
    if (!writer->Write(request)) {
      break; // the server ended the call: Finish says why
    }
  } while (offset < data.size());
  writer->WritesDone();
  return writer->Finish();
}

// The bytes a Read gives; `largest`, when given, is set to the largest response's size.
Result<std::string> read(bytestream::ByteStream::Stub& stub, const std::string& resource,
                         std::int64_t offset = 0, std::int64_t limit = 0,
                         grpc::StatusCode* code = nullptr, std::size_t* largest = nullptr) {
  auto ctx = GrpcFixture::call();
  bytestream::ReadRequest request;
  request.set_resource_name(resource);
  request.set_read_offset(offset);
  request.set_read_limit(limit);
  auto reader = stub.Read(ctx.get(), request);
  std::string out;
  bytestream::ReadResponse chunk;
  while (reader->Read(&chunk)) {
    out += chunk.data();
    if (largest != nullptr) {
      *largest = std::max(*largest, chunk.data().size());
    }
  }
  const auto status = reader->Finish();
  if (code != nullptr) {
    *code = status.error_code();
  }
  if (!status.ok()) {
    return make_error(Errc::io, status.error_message());
  }
  return out;
}

TEST_F(ByteStream, ABlobWrittenInChunksReadsBackWhole) {
  const auto data = pattern(700 * 1024, 1);
  const auto d = cas::digest_of(std::string_view(data));
  bytestream::WriteResponse response;
  const auto status =
      write(*m_bs, m_write_token, "uploads/0f1e2d3c/" + blob_name(d), data, 64 * 1024, response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.committed_size(), static_cast<std::int64_t>(data.size()));
  auto back = read(*m_bs, blob_name(d));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back == data);
}

TEST_F(ByteStream, InstanceNamesAreAcceptedOnBothSides) {
  const std::string data = "with an instance name";
  const auto d = cas::digest_of(std::string_view(data));
  bytestream::WriteResponse response;
  ASSERT_TRUE(
      write(*m_bs, m_write_token, "main/ci/uploads/u1/" + blob_name(d) + "/meta", data, 8, response)
          .ok());
  auto back = read(*m_bs, "main/ci/" + blob_name(d));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, data);
}

TEST_F(ByteStream, ReadHonoursOffsetAndLimit) {
  const auto data = pattern(300 * 1024, 2);
  const auto d = put(data);
  auto part = read(*m_bs, blob_name(d), 1000, 5000);
  ASSERT_TRUE(part) << part.error().message;
  EXPECT_TRUE(*part == data.substr(1000, 5000));
  auto tail = read(*m_bs, blob_name(d), static_cast<std::int64_t>(data.size()) - 10);
  ASSERT_TRUE(tail);
  EXPECT_TRUE(*tail == data.substr(data.size() - 10));
  grpc::StatusCode code{};
  EXPECT_FALSE(read(*m_bs, blob_name(d), static_cast<std::int64_t>(data.size()) + 1, 0, &code));
  EXPECT_EQ(code, grpc::StatusCode::OUT_OF_RANGE);
}

// A blob file is sent from mappings of 32 MiB (a read of 40 MiB crosses from one to the next),
// cut into responses of at most 1 MiB (under any client's default 4 MiB limit); a read from an
// offset that is not page-aligned maps from the page before it, and crosses too.
TEST_F(ByteStream, LargeReadsComeInResponsesUnderTheDefaultLimitFromAnyOffset) {
  const auto data = pattern(40u << 20, 7); // stored directly: --max-blob-size limits uploads
  const auto d = put(data);
  std::size_t largest = 0;
  auto whole = read(*m_bs, blob_name(d), 0, 0, nullptr, &largest);
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_TRUE(*whole == data);
  EXPECT_LE(largest, std::size_t{1} << 20);

  for (const std::int64_t from : {std::int64_t{4095}, (std::int64_t{31} << 20) + 4095}) {
    auto part = read(*m_bs, blob_name(d), from, 5 << 20);
    ASSERT_TRUE(part) << part.error().message;
    EXPECT_TRUE(*part == data.substr(static_cast<std::size_t>(from), 5u << 20));
  }
  auto tail = read(*m_bs, blob_name(d), 4095);
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_TRUE(*tail == data.substr(4095));
}

// A client that stops after the first response ends its call; nothing it left behind (a
// mapping, responses made ahead) outlives it, and the blob reads again whole. Under ASan, a
// reactor or mapping left behind is a leak.
TEST_F(ByteStream, AReadCancelledMidwayEndsAndTheBlobReadsAgain) {
  const auto data = pattern(24u << 20, 9);
  const auto d = put(data);
  {
    auto ctx = GrpcFixture::call();
    bytestream::ReadRequest request;
    request.set_resource_name(blob_name(d));
    auto reader = m_bs->Read(ctx.get(), request);
    bytestream::ReadResponse first;
    ASSERT_TRUE(reader->Read(&first));
    EXPECT_TRUE(first.data() == data.substr(0, first.data().size()));
    ctx->TryCancel();
    while (reader->Read(&first)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  auto again = read(*m_bs, blob_name(d));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(*again == data);
  // At the very end of a file blob: no bytes, and OK.
  auto end = read(*m_bs, blob_name(d), static_cast<std::int64_t>(data.size()));
  ASSERT_TRUE(end) << end.error().message;
  EXPECT_EQ(*end, "");
}

// Bytes kept compressed are decoded as they are sent, from any offset.
TEST_F(ByteStream, BlobsStoredCompressedReadFromAnyOffset) {
  std::string text;
  for (int i = 0; text.size() < (3u << 20); ++i) {
    text += "line " + std::to_string(i) + " of a log that compresses well\n";
  }
  const auto d = put(text);
  auto whole = read(*m_bs, blob_name(d));
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_TRUE(*whole == text);
  auto part = read(*m_bs, blob_name(d), 2'000'001, 1'500'000);
  ASSERT_TRUE(part) << part.error().message;
  EXPECT_TRUE(*part == text.substr(2'000'001, 1'500'000));
}

// A blob file shorter than its record (damaged on disk) is DATA_LOSS, not a crash or a short
// read that looks complete.
TEST_F(ByteStream, ABlobFileCutShortOnDiskIsDataLoss) {
  const auto data = pattern(600 * 1024, 8);
  const auto d = put(data);
  const auto files = test::blob_files_of(m_dir.path() / "data", d);
  ASSERT_EQ(files.size(), 1u);
  std::filesystem::resize_file(files.front(), data.size() / 2);
  grpc::StatusCode code{};
  auto back = read(*m_bs, blob_name(d), 0, 0, &code);
  ASSERT_FALSE(back);
  EXPECT_EQ(code, grpc::StatusCode::DATA_LOSS) << back.error().message;
}

TEST_F(ByteStream, ReadsOfWhatIsNotThereFailClearly) {
  grpc::StatusCode code{};
  EXPECT_FALSE(read(*m_bs, blob_name(cas::digest_of(std::string_view("nope"))), 0, 0, &code));
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
  auto bad = read(*m_bs, "blobs/xyz/3", 0, 0, &code);
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("HASH/SIZE"), std::string::npos) << bad.error().message;
  auto empty = read(*m_bs, blob_name(cas::empty_digest()));
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(*empty, "");
  // Size 0 with another hash names no blob.
  EXPECT_FALSE(
      read(*m_bs, "blobs/" + cas::digest_of(std::string_view("x")).hex() + "/0", 0, 0, &code));
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
}

TEST_F(ByteStream, AWriteWhoseBytesDoNotMatchItsDigestStoresNothing) {
  const auto data = pattern(200 * 1024, 3);
  const auto d = cas::digest_of(std::string_view(data));
  auto other = data;
  other[1234] ^= 1;
  bytestream::WriteResponse response;
  const auto status =
      write(*m_bs, m_write_token, "uploads/u/" + blob_name(d), other, 64 * 1024, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_FALSE(m_store->contains(d.hash));
}

TEST_F(ByteStream, AWriteThatEndsWithoutFinishWriteStoresNothing) {
  const auto data = pattern(100 * 1024, 4);
  const auto d = cas::digest_of(std::string_view(data));
  bytestream::WriteResponse response;
  const auto status = write(*m_bs, m_write_token, "uploads/u/" + blob_name(d), data, 32 * 1024,
                            response, /*finish=*/false);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("finish_write"), std::string::npos);
  EXPECT_FALSE(m_store->contains(d.hash));
}

TEST_F(ByteStream, WritesNeedTheWriteScope) {
  const std::string data = "scoped";
  const auto d = cas::digest_of(std::string_view(data));
  bytestream::WriteResponse response;
  EXPECT_EQ(write(*m_bs, "", "uploads/u/" + blob_name(d), data, 64, response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      write(*m_bs, m_read_token, "uploads/u/" + blob_name(d), data, 64, response).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(m_store->contains(d.hash));
}

// BuildStream 1.6 sends every upload of a session with one UUID: writes at once under the
// same UUID are separate uploads.
TEST_F(ByteStream, ConcurrentWritesSharingAUuidAreSeparateUploads) {
  std::vector<std::string> blobs;
  for (unsigned i = 0; i < 4; ++i) {
    blobs.push_back(pattern(150 * 1024 + i, 10 + i));
  }
  std::vector<std::future<grpc::Status>> writes;
  for (const auto& data : blobs) {
    writes.push_back(std::async(std::launch::async, [this, &data] {
      bytestream::WriteResponse response;
      const auto d = cas::digest_of(std::string_view(data));
      return write(*m_bs, m_write_token, "uploads/same-uuid/" + blob_name(d), data, 16 * 1024,
                   response);
    }));
  }
  for (auto& w : writes) {
    const auto status = w.get();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  for (const auto& data : blobs) {
    auto back = read(*m_bs, blob_name(cas::digest_of(std::string_view(data))));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_TRUE(*back == data);
  }
}

TEST_F(ByteStream, AWriteCutShortResumesWhereQueryWriteStatusSays) {
  const auto data = pattern(400 * 1024, 7);
  const auto d = cas::digest_of(std::string_view(data));
  const std::string name = "uploads/3f0e/" + blob_name(d);
  bytestream::WriteResponse response;
  const auto half = data.size() / 2;
  EXPECT_EQ(write(*m_bs, m_write_token, name, data.substr(0, half), 64 * 1024, response, false)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(m_store->contains(d.hash));

  bytestream::QueryWriteStatusRequest query;
  query.set_resource_name(name);
  bytestream::QueryWriteStatusResponse status;
  ASSERT_TRUE(m_bs->QueryWriteStatus(call().get(), query, &status).ok());
  EXPECT_FALSE(status.complete());
  ASSERT_EQ(status.committed_size(), static_cast<std::int64_t>(half));

  // Resuming elsewhere than where it stopped is ABORTED (clients retry it, asking again), and
  // says where to look.
  const auto wrong = write(*m_bs, m_write_token, name, data, 64 * 1024, response, true, 1024);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_NE(wrong.error_message().find("QueryWriteStatus"), std::string::npos)
      << wrong.error_message();

  // The refused resume dropped what was kept: start again, stop halfway, resume from there.
  ASSERT_EQ(write(*m_bs, m_write_token, name, data.substr(0, half), 64 * 1024, response, false)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const auto resumed = write(*m_bs, m_write_token, name, data, 64 * 1024, response, true, half);
  ASSERT_TRUE(resumed.ok()) << resumed.error_message();
  EXPECT_EQ(response.committed_size(), static_cast<std::int64_t>(data.size()));
  auto back = read(*m_bs, blob_name(d));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back == data);
  ASSERT_TRUE(m_bs->QueryWriteStatus(call().get(), query, &status).ok());
  EXPECT_TRUE(status.complete());
}

TEST_F(ByteStream, QueryWriteStatusSaysWhetherTheBlobIsStored) {
  const auto stored = put("already here");
  bytestream::QueryWriteStatusRequest request;
  request.set_resource_name("uploads/u/" + blob_name(stored));
  bytestream::QueryWriteStatusResponse response;
  ASSERT_TRUE(m_bs->QueryWriteStatus(call().get(), request, &response).ok());
  EXPECT_TRUE(response.complete());
  EXPECT_EQ(response.committed_size(), static_cast<std::int64_t>(stored.size));

  request.set_resource_name("uploads/u/" + blob_name(cas::digest_of(std::string_view("not yet"))));
  ASSERT_TRUE(m_bs->QueryWriteStatus(call().get(), request, &response).ok());
  EXPECT_FALSE(response.complete());
  EXPECT_EQ(response.committed_size(), 0);
}

// No call can hang: a write that stalls ends at its deadline, and the server goes on serving.
TEST_F(ByteStream, AStalledWriteEndsAtItsDeadline) {
  const auto data = pattern(64 * 1024, 5);
  const auto d = cas::digest_of(std::string_view(data));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + m_write_token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  bytestream::WriteResponse response;
  auto writer = m_bs->Write(&ctx, &response);
  bytestream::WriteRequest request;
  request.set_resource_name("uploads/u/" + blob_name(d));
  request.set_data(data.substr(0, 1000));
  writer->Write(request);
  // No more messages, no WritesDone: only the deadline ends this call.
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_FALSE(m_store->contains(d.hash));
  const auto stored = put("still serving");
  auto back = read(*m_bs, blob_name(stored));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, "still serving");
}

std::string zstd(std::string_view data) {
  auto frame = cas::compress_once(as_bytes(data), 3);
  EXPECT_TRUE(frame);
  return frame ? std::string(frame->begin(), frame->end()) : std::string();
}

Result<std::string> unzstd(std::string_view frame) {
  cas::ZstdDecoder decoder;
  std::string out;
  ByteView in = as_bytes(frame);
  std::string buffer(64 * 1024, '\0');
  while (true) {
    auto n = decoder.decode(
        in, MutableByteView(reinterpret_cast<std::uint8_t*>(buffer.data()), buffer.size()));
    if (!n) {
      return std::move(n).error();
    }
    out.append(buffer.data(), *n);
    if (*n == 0 && in.empty()) {
      break;
    }
  }
  INGOT_TRY(decoder.check_end());
  return out;
}

std::string zstd_name(const cas::Digest& d) {
  return "compressed-blobs/zstd/" + d.hex() + "/" + std::to_string(d.size);
}

TEST_F(ByteStream, CompressedReadsDecodeToTheBlobFromAnyOffset) {
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += "line " + std::to_string(i) + " of a text that compresses well\n";
  }
  for (const auto& data : {text, pattern(300 * 1024, 6), std::string()}) {
    const auto d = put(data);
    auto frame = read(*m_bs, zstd_name(d));
    ASSERT_TRUE(frame) << frame.error().message;
    auto decoded = unzstd(*frame);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_TRUE(*decoded == data) << data.size() << " bytes";
  }
  const auto d = put(text);
  auto tail = read(*m_bs, zstd_name(d), 12345);
  ASSERT_TRUE(tail) << tail.error().message;
  auto decoded = unzstd(*tail);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(*decoded == text.substr(12345));
  EXPECT_LT(read(*m_bs, zstd_name(d))->size(), text.size() / 4);
  grpc::StatusCode code{};
  EXPECT_FALSE(read(*m_bs, zstd_name(d), 0, 10, &code));
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(read(*m_bs, "compressed-blobs/brotli/" + d.hex() + "/1", 0, 0, &code));
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ByteStream, ACompressedWriteIsStoredAsItsDecodedBytes) {
  std::string text;
  for (int i = 0; i < 5000; ++i) {
    text += "compressed upload line " + std::to_string(i) + "\n";
  }
  const auto d = cas::digest_of(std::string_view(text));
  const auto frame = zstd(text);
  bytestream::WriteResponse response;
  const auto status =
      write(*m_bs, m_write_token, "uploads/u/" + zstd_name(d), frame, 4096, response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.committed_size(), static_cast<std::int64_t>(frame.size()));
  auto back = read(*m_bs, blob_name(d));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back == text);

  // A frame of other bytes under this digest stores nothing.
  const auto other = cas::digest_of(std::string_view("what the name says"));
  const auto wrong = write(*m_bs, m_write_token, "uploads/u/" + zstd_name(other),
                           zstd("what the name does not say"), 4096, response);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << wrong.error_message();
  EXPECT_FALSE(m_store->contains(other.hash));
}

// A client that stops sending mid-write (and set no deadline, as BuildStream) is cut off after
// --read-timeout, as over HTTP, and what it reserved is released.
class StalledWriter : public GrpcFixture {
protected:
  void configure(ServerOptions& options) override {
    options.read_timeout = std::chrono::milliseconds(500);
  }
};

TEST_F(StalledWriter, AWriteWhoseClientStopsSendingIsCancelledAfterTheReadTimeout) {
  const auto data = pattern(64 * 1024, 8);
  const auto d = cas::digest_of(std::string_view(data));
  auto ctx = call(m_write_token); // its deadline (30 s) is far beyond the server's limit
  bytestream::WriteResponse response;
  auto writer = m_bs->Write(ctx.get(), &response);
  bytestream::WriteRequest request;
  request.set_resource_name("uploads/u/" + blob_name(d));
  request.set_data(data.substr(0, 1000));
  ASSERT_TRUE(writer->Write(request));
  const auto status = writer->Finish(); // returns once the server has ended the call
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
  EXPECT_FALSE(m_store->contains(d.hash));
}

} // namespace
} // namespace ingot::server
