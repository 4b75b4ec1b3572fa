#include "cas/store.hpp"
#include "support/files.hpp"
#include "support/printers.hpp"
#include "support/result_assertions.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"
#include "util/bytes.hpp"

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

namespace fs = std::filesystem;
using test::blob_files_of;
using test::compressible_text;
using test::fails_with;
using test::ok;
using test::random_bytes;
using test::read_file;
using test::TempDir;

constexpr std::uint64_t k_threshold = 4096;

void write_file(const fs::path& path, const std::string& bytes) {
  // Blob files may be made read-only; bit rot does not ask for permission.
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class ScrubTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_options.dir = m_tmp.path() / "data";
    m_options.inline_threshold = k_threshold;
    auto store = Store::open(m_options);
    ASSERT_TRUE(store) << store.error().message;
    m_store = std::move(*store);
  }

  Store& store() { return *m_store; }

  Digest must_put(std::string_view data) { return test::must_put(*m_store, data); }

  // One blob of each kind the store keeps: inline or file, raw or zstd.
  std::vector<Digest> put_mixed_blobs() {
    return {must_put(random_bytes(100, 1)), must_put(compressible_text(3000, 2)),
            must_put(random_bytes(100'000, 3)), must_put(compressible_text(200'000, 4)),
            must_put(random_bytes(k_threshold + 1, 5))};
  }

  fs::path file_of(const Digest& d) {
    const auto info = m_store->stat(d.hash);
    EXPECT_TRUE(info) << info.error().message;
    EXPECT_FALSE(info && info->is_inline) << "test blob unexpectedly inline";
    const auto files = blob_files_of(m_options.dir, d);
    EXPECT_FALSE(files.empty()) << "no file under blobs/ names " << d.hex();
    return files.empty() ? fs::path{} : files.back();
  }

  void expect_clean_scrub() {
    const auto report = m_store->scrub();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->corrupt.empty());
    EXPECT_TRUE(report->missing.empty());
    const Usage usage = m_store->usage();
    EXPECT_EQ(report->checked, usage.blobs);
    EXPECT_EQ(report->stored_bytes, usage.stored_bytes);
  }

  TempDir m_tmp;
  StoreOptions m_options;
  std::unique_ptr<Store> m_store;
};

TEST_F(ScrubTest, FreshBlobsVerify) {
  for (const Digest& d : put_mixed_blobs()) {
    EXPECT_TRUE(ok(store().verify(d.hash))) << d.to_string();
  }
  EXPECT_TRUE(ok(store().verify(empty_digest().hash)));
}

TEST_F(ScrubTest, CleanStoreScrubsWithNoFindings) {
  const auto blobs = put_mixed_blobs();
  for (int i = 0; i < 10; ++i) {
    must_put(random_bytes(static_cast<std::size_t>(500 * i + 1), 100 + i));
  }
  ASSERT_GE(store().usage().blobs, blobs.size() + 10);
  expect_clean_scrub();
}

TEST_F(ScrubTest, EmptyStoreScrubsWithNoFindings) {
  expect_clean_scrub();
}

TEST_F(ScrubTest, RemovedBlobsAreNotChecked) {
  const auto blobs = put_mixed_blobs();
  ASSERT_TRUE(ok(store().remove(blobs[0].hash)));
  ASSERT_TRUE(ok(store().remove(blobs[2].hash)));
  expect_clean_scrub();
}

struct FileBlob {
  const char* name;
  bool compressible;
};

class ScrubDamagedFile : public ScrubTest, public ::testing::WithParamInterface<FileBlob> {
protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ScrubTest::SetUp());
    m_others = put_mixed_blobs();
    m_data = GetParam().compressible ? compressible_text(150'000, 9) : random_bytes(150'000, 9);
    m_victim = must_put(m_data);
    const auto info = store().stat(m_victim.hash);
    ASSERT_TRUE(info) << info.error().message;
    ASSERT_EQ(info->codec, GetParam().compressible ? Codec::zstd : Codec::raw);
    m_file = file_of(m_victim);
    ASSERT_FALSE(m_file.empty());
  }

  void expect_others_intact() {
    for (const Digest& d : m_others) {
      EXPECT_TRUE(ok(store().verify(d.hash))) << d.to_string();
    }
  }

  std::vector<Digest> m_others;
  std::string m_data;
  Digest m_victim;
  fs::path m_file;
};

TEST_P(ScrubDamagedFile, FlippedByteIsCorrupt) {
  std::string bytes = read_file(m_file);
  ASSERT_FALSE(bytes.empty());
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  write_file(m_file, bytes);

  EXPECT_TRUE(fails_with(store().verify(m_victim.hash), Errc::corrupt));
  expect_others_intact();

  const auto report = store().scrub();
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->corrupt.size(), 1U);
  EXPECT_EQ(report->corrupt[0], m_victim);
  EXPECT_TRUE(report->missing.empty());
  EXPECT_EQ(report->checked, store().usage().blobs);
}

TEST_P(ScrubDamagedFile, FlippedFirstAndLastBytesAreCorrupt) {
  for (const bool first : {true, false}) {
    std::string bytes = read_file(m_file);
    const std::size_t at = first ? 0 : bytes.size() - 1;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x80);
    write_file(m_file, bytes);
    EXPECT_TRUE(fails_with(store().verify(m_victim.hash), Errc::corrupt)) << "byte " << at;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x80);
    write_file(m_file, bytes);
    EXPECT_TRUE(ok(store().verify(m_victim.hash))) << "restored byte " << at;
  }
}

TEST_P(ScrubDamagedFile, TruncatedFileIsCorrupt) {
  fs::resize_file(m_file, fs::file_size(m_file) / 2);
  EXPECT_TRUE(fails_with(store().verify(m_victim.hash), Errc::corrupt));
  const auto report = store().scrub();
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->corrupt.size(), 1U);
  EXPECT_EQ(report->corrupt[0], m_victim);
  EXPECT_TRUE(report->missing.empty());
}

TEST_P(ScrubDamagedFile, DeletedFileIsMissing) {
  fs::remove(m_file);
  EXPECT_FALSE(store().verify(m_victim.hash)) << "verify passed a blob whose file is gone";
  expect_others_intact();

  const auto report = store().scrub();
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->missing.size(), 1U);
  EXPECT_EQ(report->missing[0], m_victim);
  EXPECT_TRUE(report->corrupt.empty());
  EXPECT_EQ(report->checked, store().usage().blobs);
}

// What an admin does after fsck finds damage: drop the entry and upload the blob again.
TEST_P(ScrubDamagedFile, RemoveAndReuploadRepairsACorruptBlob) {
  std::string bytes = read_file(m_file);
  bytes[bytes.size() / 3] = static_cast<char>(bytes[bytes.size() / 3] ^ 0x10);
  write_file(m_file, bytes);
  ASSERT_TRUE(fails_with(store().verify(m_victim.hash), Errc::corrupt));

  ASSERT_TRUE(ok(store().remove(m_victim.hash)));
  const auto again = store().put(as_bytes(m_data));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(ok(store().verify(m_victim.hash)));
  const auto got = store().get(m_victim.hash);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(*got == m_data);
  expect_clean_scrub();
}

TEST_P(ScrubDamagedFile, RemoveAndReuploadRepairsAMissingBlob) {
  fs::remove(m_file);
  ASSERT_TRUE(ok(store().remove(m_victim.hash)));
  const auto again = store().put(as_bytes(m_data));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(ok(store().verify(m_victim.hash)));
  const auto got = store().get(m_victim.hash);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(*got == m_data);
  expect_clean_scrub();
}

INSTANTIATE_TEST_SUITE_P(Codecs, ScrubDamagedFile,
                         ::testing::Values(FileBlob{"Raw", false}, FileBlob{"Zstd", true}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// Runs `body` in a child process. The watchdog turns a hang into a reported failure instead of
// a suite that never finishes; a healthy body takes milliseconds.
struct ChildEnd {
  bool hung = false;
  int exit_code = -1; // -1 when the child did not exit normally
};

ChildEnd run_in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(20);
    ::_exit(body());
  }
  ChildEnd end;
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
    return end;
  }
  end.hung = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
  end.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return end;
}

// Offset of the first block header in a zstd frame (RFC 8878, 3.1.1.1).
std::optional<std::size_t> first_block_offset(std::string_view frame) {
  if (frame.size() < 6 || frame.substr(0, 4) != std::string_view("\x28\xb5\x2f\xfd", 4)) {
    return std::nullopt;
  }
  const auto descriptor = static_cast<std::uint8_t>(frame[4]);
  const unsigned fcs_flag = descriptor >> 6;
  const bool single_segment = ((descriptor >> 5) & 1U) != 0;
  const unsigned dict_flag = descriptor & 3U;
  static constexpr std::size_t k_dict_id_size[] = {0, 1, 2, 4};
  static constexpr std::size_t k_fcs_size[] = {0, 2, 4, 8};
  const std::size_t fcs = fcs_flag == 0 ? (single_segment ? 1 : 0) : k_fcs_size[fcs_flag];
  return 4 + 1 + (single_segment ? 0 : 1) + k_dict_id_size[dict_flag] + fcs;
}

// One flipped bit can end a zstd frame early: the Last_Block flag of its first block. The
// frame then decodes "successfully" to fewer bytes than the blob holds, with the rest of the
// stored bytes left over. A read must report that, not spin on the leftover bytes forever.
// Regression test: both reads below used to spin forever in ZstdReader::decode.
TEST(ScrubDamagedZstd, ReadingAFrameThatEndsEarlyFailsInsteadOfHanging) {
  TempDir tmp; // made before the fork, removed by the parent
  // Forked before anything starts threads, so the child may open a store of its own.
  const ChildEnd end = run_in_child([&] {
    StoreOptions options;
    options.dir = tmp.path() / "data";
    options.inline_threshold = k_threshold;
    auto opened = Store::open(options);
    if (!opened) {
      return 10;
    }
    Store& store = **opened;
    const std::string data = compressible_text(400'000, 3);
    const auto d = store.put(as_bytes(data));
    if (!d) {
      return 11;
    }
    const auto info = store.stat(d->hash);
    if (!info || info->codec != Codec::zstd || info->is_inline) {
      return 12;
    }
    const auto files = blob_files_of(options.dir, *d);
    if (files.empty()) {
      return 13;
    }
    const fs::path& file = files.back();
    std::string bytes = read_file(file);
    const auto at = first_block_offset(bytes);
    // 400 kB cannot fit one zstd block (128 KiB at most), so the first is not the last.
    if (!at || *at >= bytes.size() || (bytes[*at] & 1) != 0) {
      return 14;
    }
    bytes[*at] = static_cast<char>(bytes[*at] ^ 1);
    write_file(file, bytes);

    const auto whole = store.get(d->hash);
    if (whole) {
      return 2; // wrong bytes served as a success
    }
    ReadOptions tail;
    tail.offset = 300'000;
    auto reader = store.open_read(d->hash, tail);
    if (reader) {
      std::vector<std::uint8_t> buffer(4096);
      for (;;) {
        const auto n = (*reader)->read(buffer);
        if (!n) {
          break;
        }
        if (*n == 0) {
          return 3; // the range ended "successfully" although its bytes were never decoded
        }
      }
    }
    return 0;
  });
  ASSERT_FALSE(end.hung) << "reading a zstd blob whose frame ends early never returned";
  switch (end.exit_code) {
  case 0:
    break;
  case 2:
    ADD_FAILURE() << "get() of a damaged blob succeeded with the wrong bytes";
    break;
  case 3:
    ADD_FAILURE() << "a range read of a damaged blob ended without an error";
    break;
  default:
    ADD_FAILURE() << "test setup failed in the child, code " << end.exit_code;
  }
}

} // namespace
} // namespace ingot::cas
