// Large blobs as files: blobs/<first two hex digits>/<hex>, written through tmp/.
#pragma once

#include "cas/digest.hpp"
#include "util/file_io.hpp"
#include "util/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::cas {

// A file being written under tmp/; removed on destruction unless published.
class TempFile {
public:
  TempFile() = default;
  TempFile(UniqueFd fd, std::filesystem::path path)
      : m_fd(std::move(fd)), m_path(std::move(path)) {}
  ~TempFile();
  TempFile(TempFile&&) noexcept = default;
  TempFile& operator=(TempFile&&) noexcept = default;

  [[nodiscard]] Result<void> write(ByteView data);
  [[nodiscard]] Result<void> sync() { return fsync_fd(m_fd.get(), m_path); }
  const std::filesystem::path& path() const { return m_path; }
  // Called once the file has been renamed away: nothing is left to remove.
  void release() { m_path.clear(); }

private:
  UniqueFd m_fd;
  std::filesystem::path m_path;
  std::uint64_t m_written = 0;
  std::uint64_t m_flushed = 0; // bytes handed to writeback so far
};

class BlobFiles {
public:
  explicit BlobFiles(const std::filesystem::path& data_dir);

  // Creates blobs/ with its shards and tmp/, and removes temp files a crash left behind.
  [[nodiscard]] Result<void> prepare();

  [[nodiscard]] Result<TempFile> create_temp();
  // Renames a synced temp file into place; replaces an existing file of the same hash, which
  // has the same content by construction.
  [[nodiscard]] Result<void> publish(TempFile& file, const Hash& hash);
  // Errc::not_found when the file is gone.
  [[nodiscard]] Result<UniqueFd> open(const Hash& hash) const;
  [[nodiscard]] Result<void> remove(const Hash& hash);

  std::filesystem::path path_of(const Hash& hash) const;

  // For fsck: the names prepare() removed from tmp/, and whether a name in tmp/ is one that
  // create_temp() of this process gives (a write in flight, not a leftover).
  const std::vector<std::string>& removed_temps() const { return m_removed_temps; }
  static bool is_own_temp(std::string_view name);

private:
  std::filesystem::path m_blobs;
  std::filesystem::path m_tmp;
  std::vector<std::string> m_removed_temps;
};

} // namespace ingot::cas
