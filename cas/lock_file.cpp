#include "cas/lock_file.hpp"

#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <unistd.h>

namespace ingot::cas {

namespace {

std::mutex g_registry_mutex;
std::set<std::string> g_registry; // data dirs locked by this process

std::string command_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : raw) {
    if (c == '\0') {
      c = ' ';
    }
  }
  while (!raw.empty() && raw.back() == ' ') {
    raw.pop_back();
  }
  return raw.empty() ? "command unknown" : raw;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char when[32] = {};
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return when;
}

Error busy(const std::filesystem::path& dir, const std::string& holder) {
  return make_error(Errc::busy, "data dir " + dir.string() + " is in use by " + holder +
                                    "; stop that process or choose another --data");
}

} // namespace

Result<LockFile> LockFile::acquire(const std::filesystem::path& path) {
  std::error_code ec;
  const std::string key = std::filesystem::weakly_canonical(path, ec).string();
  const auto dir = path.parent_path();
  std::lock_guard registry_lock(g_registry_mutex);
  if (g_registry.count(key) != 0) {
    return busy(dir, "this process (pid " + std::to_string(::getpid()) + ", " +
                         command_of(::getpid()) + ")");
  }
  auto fd = open_file(path, O_RDWR | O_CREAT, 0644);
  if (!fd) {
    return std::move(fd).error();
  }
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(fd->get(), F_SETLK, &lock) != 0) {
    if (errno != EAGAIN && errno != EACCES) {
      return errno_error(errno, "cannot lock " + path.string());
    }
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    if (::fcntl(fd->get(), F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK) {
      return busy(dir, "pid " + std::to_string(probe.l_pid) + " (" + command_of(probe.l_pid) + ")");
    }
    return busy(dir, "another process");
  }
  // For people looking at the file; the lock itself is what counts.
  std::ostringstream holder;
  holder << "pid " << ::getpid() << " (" << command_of(::getpid()) << ", since " << utc_now()
         << ")\n";
  const std::string text = holder.str();
  if (::ftruncate(fd->get(), 0) == 0) {
    (void)::pwrite(fd->get(), text.data(), text.size(), 0);
  }
  g_registry.insert(key);
  return LockFile(std::move(*fd), key);
}

LockFile::LockFile(LockFile&& other) noexcept
    : m_fd(std::move(other.m_fd)), m_key(std::move(other.m_key)) {
  other.m_key.clear();
}

LockFile::~LockFile() {
  if (!m_key.empty()) {
    // Close first (releasing the lock), then let this process open the dir again.
    m_fd.reset();
    std::lock_guard registry_lock(g_registry_mutex);
    g_registry.erase(m_key);
  }
}

} // namespace ingot::cas
