// Memory per upload is bounded (ARCHITECTURE.md, "Write path"): a blob of several GiB streamed
// in through begin_write/append and back out through open_read must not raise the process's
// peak RSS by more than a small constant, whether the store keeps it raw or compressed.
//
// ctest runs each test case as its own process, so the peak (VmHWM) belongs to that case alone.

#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "support/temp_dir.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace ingot;
using namespace ingot::cas;

constexpr std::uint64_t k_mib = 1024 * 1024;
constexpr std::uint64_t k_gib = 1024 * k_mib;
constexpr std::size_t k_chunk = k_mib;
// Generous for one upload's buffers, zstd contexts and RocksDB's bookkeeping; far below the
// hundreds of MiB that any buffering of the whole blob would show.
constexpr std::uint64_t k_allowed_growth = 16 * k_mib;

// A "VmXXX:   1234 kB" field of /proc/self/status, in bytes.
std::uint64_t proc_status_bytes(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::stoull(line.substr(field.size() + 1)) * 1024;
    }
  }
  ADD_FAILURE() << "no " << field << " in /proc/self/status";
  return 0;
}

// Lowers the peak-RSS mark to the current RSS (Linux >= 4.0), so that what ran before the
// measurement (store open, test setup) cannot hide growth under an earlier peak.
bool reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return clear_refs.good();
}

enum class Content { incompressible, compressible };

// splitmix64 fills a reused buffer at several GB/s, so the test spends its time in the store.
class Generator {
public:
  Generator(std::uint64_t seed, Content content) : m_state(seed), m_content(content) {}

  void fill(MutableByteView out) {
    for (std::size_t i = 0; i + 8 <= out.size(); i += 8) {
      std::uint64_t word = next();
      if (m_content == Content::compressible) {
        // 4 bits of entropy per byte: zstd stores it in about half the space.
        word = (word & 0x0f0f0f0f0f0f0f0fULL) | 0x6060606060606060ULL;
      }
      std::memcpy(out.data() + i, &word, 8);
    }
  }

private:
  std::uint64_t next() {
    std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t m_state;
  Content m_content;
};

void stream_through_store(Content content, std::uint64_t total, Compression compression) {
  ASSERT_EQ(total % k_chunk, 0U);
  test::TempDir dir;
  StoreOptions options;
  options.dir = dir.path();
  options.compression = compression;
  auto opened = Store::open(options);
  ASSERT_TRUE(opened) << opened.error().message;
  auto& store = **opened;

  // Every buffer the test itself needs exists, and is touched, before the baseline.
  std::vector<std::uint8_t> buffer(k_chunk, 1);
  Generator generator(0x1a2b3c4d, content);
  Sha256 expected_sha;
  Sha256 read_sha;

  const bool reset = reset_peak_rss();
  const std::uint64_t baseline = reset ? proc_status_bytes("VmRSS") : proc_status_bytes("VmHWM");

  auto writer = store.begin_write();
  ASSERT_TRUE(writer) << writer.error().message;
  for (std::uint64_t written = 0; written < total; written += k_chunk) {
    generator.fill(buffer);
    expected_sha.update(buffer);
    auto appended = (*writer)->append(buffer);
    ASSERT_TRUE(appended) << "append at offset " << written << ": " << appended.error().message;
  }
  const Digest expected = expected_sha.finish();
  auto committed = (*writer)->commit();
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(committed->to_string(), expected.to_string());
  writer->reset();

  auto reader = store.open_read(expected.hash);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->length(), total);
  for (;;) {
    auto n = (*reader)->read(buffer);
    ASSERT_TRUE(n) << n.error().message;
    if (*n == 0) {
      break;
    }
    read_sha.update(ByteView(buffer).first(*n));
  }
  const BlobInfo info = (*reader)->info();
  reader->reset();
  EXPECT_EQ(read_sha.finish().to_string(), expected.to_string()) << "the blob reads back changed";

  const std::uint64_t peak = proc_status_bytes("VmHWM");
  const std::uint64_t growth = peak > baseline ? peak - baseline : 0;
  ::testing::Test::RecordProperty("peak_rss_growth_kib", std::to_string(growth / 1024));
  EXPECT_LT(growth, k_allowed_growth)
      << "peak RSS grew by " << growth / k_mib << " MiB while streaming " << total / k_mib
      << " MiB (baseline " << baseline / k_mib << " MiB, peak " << peak / k_mib << " MiB"
      << (reset ? "" : ", peak mark not resettable") << ")";

  // The bounded path under test must be the one the data called for.
  if (content == Content::compressible) {
    EXPECT_EQ(info.codec, Codec::zstd) << "compressible blob was stored " << to_string(info.codec);
    EXPECT_LT(info.stored_size, total * 3 / 4);
  } else {
    EXPECT_LE(info.stored_size, total) << "compressing random bytes cost space";
  }
  EXPECT_FALSE(info.is_inline);
}

// Sanitizers keep freed memory in quarantine and add shadow memory: RSS says nothing there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool k_rss_is_meaningful = false;
#else
constexpr bool k_rss_is_meaningful = true;
#endif

TEST(StoreStreaming, incompressible_2gib_write_and_read_keep_memory_bounded) {
  if (!k_rss_is_meaningful) {
    GTEST_SKIP() << "RSS is not meaningful under sanitizers";
  }
  stream_through_store(Content::incompressible, 2 * k_gib, Compression::automatic);
}

TEST(StoreStreaming, compressible_1gib_write_and_read_keep_memory_bounded) {
  if (!k_rss_is_meaningful) {
    GTEST_SKIP() << "RSS is not meaningful under sanitizers";
  }
  stream_through_store(Content::compressible, k_gib, Compression::automatic);
}

} // namespace
