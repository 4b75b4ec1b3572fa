// POSIX file I/O that reports failures as Result, converting errno once, here.
#pragma once

#include "util/bytes.hpp"
#include "util/result.hpp"

#include <filesystem>
#include <string>

namespace ingot {

// ENOSPC/EDQUOT -> no_space, ENOENT -> not_found, EACCES/EPERM -> unauthorized, else io.
Error errno_error(int err, const std::string& what);

// An owned file descriptor, closed on destruction.
class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : m_fd(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return m_fd; }
  explicit operator bool() const { return m_fd >= 0; }
  int release();
  void reset(int fd = -1);

private:
  int m_fd = -1;
};

[[nodiscard]] Result<UniqueFd> open_file(const std::filesystem::path& path, int flags,
                                         int mode = 0644);
// Writes every byte (retrying short writes and EINTR).
[[nodiscard]] Result<void> write_all(int fd, ByteView data, const std::filesystem::path& path);
// Reads up to out.size() bytes at offset; fewer only at end of file.
[[nodiscard]] Result<std::size_t> pread_full(int fd, MutableByteView out, std::uint64_t offset,
                                             const std::filesystem::path& path);
[[nodiscard]] Result<void> fsync_fd(int fd, const std::filesystem::path& path);

} // namespace ingot
