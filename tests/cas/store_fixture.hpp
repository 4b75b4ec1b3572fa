// Shared by the store_*_test.cpp files: a store on a temp dir with a small inline threshold,
// and helpers to read blobs back.
#pragma once

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

inline void PrintTo(Codec codec, std::ostream* os) {
  *os << to_string(codec);
}

namespace store_test {

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
inline constexpr std::uint64_t k_threshold = 4096;
inline constexpr std::size_t k_mib = 1024 * 1024;

// Drains a reader; refuses to run forever if the reader never reports the end.
inline Result<std::string> drain(BlobReader& reader, std::size_t buffer_size = 4093) {
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

inline ReadOptions range(std::uint64_t offset, std::optional<std::uint64_t> length,
                         View view = View::decoded) {
  ReadOptions options;
  options.view = view;
  options.offset = offset;
  options.length = length;
  return options;
}

inline ReadOptions stored_view() {
  return range(0, std::nullopt, View::stored);
}

inline Result<std::string> read_blob(Store& store, const Hash& hash,
                                     const ReadOptions& options = {},
                                     std::size_t buffer_size = 4093) {
  auto reader = store.open_read(hash, options);
  if (!reader) {
    return std::move(reader).error();
  }
  return drain(**reader, buffer_size);
}

// Decodes a whole zstd stream with the streaming API: a streaming writer need not record the
// content size in the frame header, which ZSTD_decompress would want.
inline std::optional<std::string> zstd_decode(std::string_view frame) {
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

inline std::int64_t now_unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::int64_t now_unix_ms() {
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

} // namespace store_test
} // namespace ingot::cas
