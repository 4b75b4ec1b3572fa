// The stores gc_bench runs on: where they go, a fresh directory for each, and the clock they
// keep recency by.

#pragma once

#include "bench/gc_bench.hpp"
#include "cas/store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/vfs.h>
#include <system_error>
#include <unistd.h>

namespace ingot::gc_bench {

inline constexpr long k_tmpfs_magic = 0x01021994;

inline std::filesystem::path bench_root(const Args& args) {
  if (args.dir) {
    return *args.dir;
  }
  for (const char* var : {"INGOT_BENCH_DIR", "TMPDIR"}) {
    if (const char* value = std::getenv(var); value != nullptr && *value != '\0') {
      return value;
    }
  }
  return "/tmp";
}

// A fresh directory, removed with everything in it.
class ScratchDir {
public:
  explicit ScratchDir(const std::filesystem::path& root) {
    std::filesystem::create_directories(root);
    std::string pattern = (root / "ingot-gc-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed under " + root.string());
    }
    m_path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

// Recency is kept in whole seconds of StoreOptions::clock. The bench runs its store on the real
// clock plus an offset it can move forward, so that the hot set's uses are strictly more recent
// than every put, even when a small store is filled within one second.
class BenchClock {
public:
  std::int64_t now() const {
    const auto real = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    return real + m_offset.load();
  }
  void skip(std::int64_t seconds) { m_offset += seconds; }

private:
  std::atomic<std::int64_t> m_offset{0};
};

inline std::unique_ptr<cas::Store> open_store(const std::filesystem::path& dir, BenchClock& clock) {
  cas::StoreOptions options;
  options.dir = dir;
  options.clock = [&clock] {
    return clock.now();
  };
  // No size bound: the only GC runs are the ones this bench starts.
  auto store = cas::Store::open(options);
  if (!store) {
    throw std::runtime_error("open " + dir.string() + ": " + store.error().message);
  }
  return std::move(*store);
}

inline bool on_tmpfs(const std::filesystem::path& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == k_tmpfs_magic;
}

} // namespace ingot::gc_bench
