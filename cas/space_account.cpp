#include "cas/space_account.hpp"

#include "cas/index.hpp"
#include "cas/usage_counters.hpp"
#include "util/size.hpp"
#include "util/thread_role.hpp"

#include <algorithm>
#include <sys/stat.h>
#include <sys/statvfs.h>

namespace ingot::cas {

namespace {

// Room the index keeps on the file system besides its flushes and compactions (headroom()):
// manifest and OPTIONS rewrites, the tombstones of DELETEs and GC, recency and counters, which
// are written without reserving. A RocksDB flush or compaction that meets ENOSPC is no 507:
// Debian's librocksdb 7.8 is built with assertions, and WritableFileWriter asserts when a table
// builder writes on after a failed write, aborting the server; without assertions it stops
// every index write, deletes included, until a restart.
constexpr std::uint64_t k_index_margin = 2 << 20;

// Apparent sizes, as `du -sb` adds them up: every file and directory below `path`.
std::uint64_t apparent_size(const std::filesystem::path& path) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(path, ec), end; !ec && it != end;
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0) {
      total += static_cast<std::uint64_t>(st.st_size);
    }
  }
  return total;
}

std::uint64_t size_of(const std::filesystem::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

} // namespace

void Reservation::release() {
  if (m_account != nullptr && m_bytes > 0) {
    m_account->release(m_bytes);
  }
  m_account = nullptr;
  m_bytes = 0;
}

SpaceAccount::SpaceAccount(const StoreOptions& options, Index& index, const UsageCounters& usage)
    : m_options(options), m_index(index), m_usage(usage) {}

// Evicted inline bytes count as freed before compaction frees them, up to this much: the
// slack the size bound allows for (README, "Disk bound").
std::uint64_t SpaceAccount::credit_cap() const {
  return m_options.max_size / 32;
}

void SpaceAccount::note_inline_freed(std::uint64_t bytes) {
  m_index_credit += bytes;
  m_inline_evicted = true;
}

void SpaceAccount::measure_disk() {
  const auto& dir = m_options.dir;
  const std::uint64_t index = apparent_size(dir / "index") + size_of(dir / "index");
  // The bytes the estimate expected, less what was measured: what compactions gave back of
  // the evicted inline bytes.
  const std::uint64_t expected = m_index_measured.load() + m_index_added.exchange(0);
  const std::uint64_t reclaimed = expected > index ? expected - index : 0;
  std::uint64_t credit = m_index_credit.load();
  while (
      !m_index_credit.compare_exchange_weak(credit, credit > reclaimed ? credit - reclaimed : 0)) {
  }
  m_index_measured = index;
  // Flushes and compactions hold new tables next to what they replace for a few milliseconds,
  // rarely seen by a measurement but by `du` sooner or later: under a bound, their room is
  // kept (a compaction from L0 rewrites all of L1: without it, a bound full of inline blobs
  // was passed by up to a half).
  m_index_need = m_index.headroom();
  if (m_options.max_size > 0) {
    m_index_headroom = m_index_need.load();
  }
  // Everything else but blob files (counted exactly) and temp files (reserved): the
  // directories themselves and the small files at the top.
  std::uint64_t other = size_of(dir) + size_of(dir / "blobs") + size_of(dir / "tmp");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir / "blobs", ec)) {
    other += size_of(e.path());
  }
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) {
      other += size_of(e.path());
    }
  }
  m_other_measured = other;
}

std::uint64_t SpaceAccount::index_bytes() const {
  const std::uint64_t grown =
      m_index_measured.load() + m_index_added.load() + m_index_headroom.load();
  const std::uint64_t credit = std::min(m_index_credit.load(), credit_cap());
  return grown > credit ? grown - credit : 0;
}

std::uint64_t SpaceAccount::used_bytes() const {
  return m_usage.file_bytes() + index_bytes() + m_other_measured.load() + m_reserved.load();
}

Space SpaceAccount::space() const {
  Space s;
  s.max_size = m_options.max_size;
  s.gc_high = static_cast<std::uint64_t>(static_cast<double>(s.max_size) * m_options.gc_high);
  s.gc_low = static_cast<std::uint64_t>(static_cast<double>(s.max_size) * m_options.gc_low);
  s.files = m_usage.file_bytes();
  s.index = index_bytes();
  s.other = m_other_measured.load();
  s.reserved = m_reserved.load();
  s.used = s.files + s.index + s.other + s.reserved;
  s.pinned = m_usage.pinned_bytes();
  return s;
}

std::string SpaceAccount::no_room_message(std::uint64_t bytes) const {
  const auto s = space();
  return "no room for " + format_size(bytes) + " under --max-size " + format_size(s.max_size) +
         ": " + format_size(s.pinned) + " is pinned, " + format_size(s.reserved) +
         " is held by uploads in flight and nothing else can be evicted; raise --max-size or "
         "unpin refs or releases";
}

Result<void> SpaceAccount::check_disk_room(std::uint64_t bytes) const {
  std::uint64_t free = 0;
  if (m_options.free_space) {
    free = m_options.free_space();
  } else {
    struct statvfs fs {};
    if (::statvfs(m_options.dir.c_str(), &fs) != 0) {
      return {}; // unknown: the write finds out, and fails cleanly on ENOSPC
    }
    free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  // Index bytes written since the last measurement count as memtable the next flush writes.
  // Reservations count whole, though an upload in flight has written part of its own already:
  // near a full disk, concurrent uploads are refused a little early, never late.
  const std::uint64_t index = m_index_need.load() + m_index_added.load() + k_index_margin;
  const std::uint64_t need = index + m_reserved.load() + bytes;
  if (free >= need) {
    return {};
  }
  return make_error(Errc::no_space,
                    "the disk holding " + m_options.dir.string() +
                        " is full: " + format_size(free) + " free, " + format_size(bytes) +
                        " needed, " + format_size(index) + " kept for the index and " +
                        format_size(m_reserved.load()) +
                        " for uploads in flight; free disk space (admin DELETE of blobs, POST "
                        "/v1/gc?target=SIZE) or set --max-size below the disk's size");
}

Result<Reservation> SpaceAccount::reserve(std::uint64_t bytes) {
  expect_may_block("Store::reserve");
  if (m_options.max_size == 0) {
    std::lock_guard lock(m_reserve_mutex);
    INGOT_TRY(check_disk_room(bytes));
    m_reserved += bytes;
    return Reservation(this, bytes);
  }
  if (bytes > m_options.max_size) {
    return make_error(Errc::no_space, "a write needing " + format_size(bytes) +
                                          " on disk cannot fit under --max-size " +
                                          format_size(m_options.max_size));
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    {
      std::lock_guard lock(m_reserve_mutex);
      // A full file system is not solved by evicting down to the low watermark of a bound
      // larger than the disk: the write gets 507 and everything stored stays.
      INGOT_TRY(check_disk_room(bytes));
      if (used_bytes() + bytes <= m_options.max_size) {
        m_reserved += bytes;
        if (used_bytes() > space().gc_high) {
          m_reclaimer->request_gc();
        }
        return Reservation(this, bytes);
      }
    }
    // Full: evict for this write now, down to the low watermark so the next writes find room.
    INGOT_TRY(m_reclaimer->reclaim(bytes));
    const bool evicted_inline = attempt == 1 && m_inline_evicted.exchange(false);
    if (attempt == 1 && (m_index_credit.load() > 0 || evicted_inline)) {
      // Evicted inline blobs still on disk until RocksDB compacts them: compact now rather
      // than refuse a write the bound has room for. They are counted twice until then, in
      // the index and in the room kept for compacting it; and a measurement that caught a
      // compaction in flight may have spent the credit, which is no sign they are gone.
      INGOT_TRY(m_index.compact());
      measure_disk();
    }
  }
  return make_error(Errc::no_space, no_room_message(bytes));
}

} // namespace ingot::cas
