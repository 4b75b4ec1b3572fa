#include "cas/blob_files.hpp"

#include "util/hex.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <random>
#include <unistd.h>

namespace ingot::cas {

namespace {

std::string shard_name(std::uint8_t byte) {
  return to_hex(ByteView(&byte, 1));
}

Result<void> make_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return errno_error(ec.value(), "cannot create directory " + dir.string());
  }
  return {};
}

} // namespace

TempFile::~TempFile() {
  if (!m_path.empty()) {
    m_fd.reset();
    ::unlink(m_path.c_str());
  }
}

Result<void> TempFile::write(ByteView data) {
  INGOT_TRY(write_all(m_fd.get(), data, m_path));
  m_written += data.size();
  // Start writeback of what has piled up, without waiting for it, so that the fsync before
  // publishing finds most of the file already on its way to disk instead of all of it.
  constexpr std::uint64_t k_writeback_step = 8u << 20;
  if (m_written - m_flushed >= k_writeback_step) {
    ::sync_file_range(m_fd.get(), static_cast<off_t>(m_flushed),
                      static_cast<off_t>(m_written - m_flushed), SYNC_FILE_RANGE_WRITE);
    m_flushed = m_written;
  }
  return {};
}

BlobFiles::BlobFiles(const std::filesystem::path& data_dir)
    : m_blobs(data_dir / "blobs"), m_tmp(data_dir / "tmp") {}

Result<void> BlobFiles::prepare() {
  INGOT_TRY(make_dir(m_tmp));
  // Temp files belong to writes that never committed: the previous owner is gone (we hold
  // the lock), so none of them can still become a blob.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(m_tmp, ec)) {
    std::error_code removed;
    std::filesystem::remove_all(entry.path(), removed);
    if (!removed) {
      m_removed_temps.push_back(entry.path().filename().string());
    }
  }
  for (unsigned b = 0; b < 256; ++b) {
    INGOT_TRY(make_dir(m_blobs / shard_name(static_cast<std::uint8_t>(b))));
  }
  return {};
}

Result<TempFile> BlobFiles::create_temp() {
  // Unique within this process by the counter, across processes by the lock on the data dir.
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto name = std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                    std::to_string(rng() % 1000000);
  auto path = m_tmp / name;
  auto fd = open_file(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (!fd) {
    return std::move(fd).error();
  }
  return TempFile(std::move(*fd), std::move(path));
}

Result<void> BlobFiles::publish(TempFile& file, const Hash& hash) {
  const auto target = path_of(hash);
  if (::rename(file.path().c_str(), target.c_str()) != 0) {
    return errno_error(errno, "cannot move " + file.path().string() + " to " + target.string());
  }
  file.release();
  return {};
}

Result<UniqueFd> BlobFiles::open(const Hash& hash) const {
  return open_file(path_of(hash), O_RDONLY);
}

Result<void> BlobFiles::remove(const Hash& hash) {
  const auto path = path_of(hash);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errno_error(errno, "cannot remove " + path.string());
  }
  return {};
}

bool BlobFiles::is_own_temp(std::string_view name) {
  // create_temp() names start with the pid; prepare() emptied tmp/ when this process opened
  // the data dir, so any other name was put there by someone else since.
  return name.starts_with(std::to_string(::getpid()) + "-");
}

std::filesystem::path BlobFiles::path_of(const Hash& hash) const {
  return m_blobs / shard_name(hash[0]) / to_hex(hash);
}

} // namespace ingot::cas
