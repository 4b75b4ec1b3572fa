#include "util/file_io.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace ingot {

Error errno_error(int err, const std::string& what) {
  Errc code = Errc::io;
  switch (err) {
  case ENOSPC:
  case EDQUOT:
    code = Errc::no_space;
    break;
  case ENOENT:
    code = Errc::not_found;
    break;
  case EACCES:
  case EPERM:
  case EROFS:
    code = Errc::unauthorized;
    break;
  default:
    break;
  }
  return make_error(code, what + ": " + std::strerror(err));
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset(other.release());
  }
  return *this;
}

int UniqueFd::release() {
  const int fd = m_fd;
  m_fd = -1;
  return fd;
}

void UniqueFd::reset(int fd) {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
  m_fd = fd;
}

Result<UniqueFd> open_file(const std::filesystem::path& path, int flags, int mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) {
    return errno_error(errno, "cannot open " + path.string());
  }
  return UniqueFd(fd);
}

Result<void> write_all(int fd, ByteView data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno_error(errno, "cannot write " + path.string());
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::size_t> pread_full(int fd, MutableByteView out, std::uint64_t offset,
                               const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno_error(errno, "cannot read " + path.string());
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Result<void> fsync_fd(int fd, const std::filesystem::path& path) {
  if (::fsync(fd) != 0) {
    return errno_error(errno, "cannot fsync " + path.string());
  }
  return {};
}

} // namespace ingot
