// Exclusive ownership of a data dir. A POSIX record lock (fcntl) ends with the process,
// however it ends, and lets a second opener ask the kernel who holds it; POSIX locks do not
// conflict within one process, so openers in this process are checked against a registry.
#pragma once

#include "util/file_io.hpp"
#include "util/result.hpp"

#include <filesystem>
#include <string>

namespace ingot::cas {

class LockFile {
public:
  // Errc::busy, naming the holder's pid and command line, when the lock is held.
  [[nodiscard]] static Result<LockFile> acquire(const std::filesystem::path& path);

  LockFile(LockFile&& other) noexcept;
  LockFile& operator=(LockFile&&) = delete;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

private:
  LockFile(UniqueFd fd, std::string key) : m_fd(std::move(fd)), m_key(std::move(key)) {}
  UniqueFd m_fd;
  std::string m_key; // registry key; empty once moved from
};

} // namespace ingot::cas
