// Internal to cas/: space accounting against --max-size and the disk. Blob files are counted
// exactly (the usage counters); the index and the rest are measured every half second, with
// an estimate of what changed since; writes reserve their space before they write a byte.
#pragma once

#include "cas/store.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

namespace ingot::cas {

class Index;
class SpaceAccount;
class UsageCounters;

// Space held for a write in flight; given back on destruction.
class Reservation {
public:
  Reservation() = default;
  Reservation(SpaceAccount* account, std::uint64_t bytes) : m_account(account), m_bytes(bytes) {}
  ~Reservation() { release(); }
  Reservation(Reservation&& o) noexcept
      : m_account(std::exchange(o.m_account, nullptr)), m_bytes(std::exchange(o.m_bytes, 0)) {}
  Reservation& operator=(Reservation&& o) noexcept {
    release();
    m_account = std::exchange(o.m_account, nullptr);
    m_bytes = std::exchange(o.m_bytes, 0);
    return *this;
  }
  std::uint64_t bytes() const { return m_bytes; }
  void release();
  // Takes over another reservation of the same account: one holding the sum.
  void absorb(Reservation&& other) {
    m_account = other.m_account;
    m_bytes += std::exchange(other.m_bytes, 0);
    other.m_account = nullptr;
  }

private:
  SpaceAccount* m_account = nullptr;
  std::uint64_t m_bytes = 0;
};

// What a full bound turns to for room: the evictor.
class Reclaimer {
public:
  virtual ~Reclaimer() = default;
  // Evicts for a write of `bytes` that found no room under the bound, down to the low
  // watermark so that the next writes find room.
  [[nodiscard]] virtual Result<void> reclaim(std::uint64_t bytes) = 0;
  // Asks for a GC run in the background: the high watermark is passed.
  virtual void request_gc() = 0;
};

class SpaceAccount {
public:
  // Reads max_size, gc_high, gc_low, free_space and dir from `options`.
  SpaceAccount(const StoreOptions& options, Index& index, const UsageCounters& usage);
  SpaceAccount(const SpaceAccount&) = delete;
  SpaceAccount& operator=(const SpaceAccount&) = delete;

  // Needed by reserve() under a bound.
  void set_reclaimer(Reclaimer& reclaimer) { m_reclaimer = &reclaimer; }

  // Space for `bytes` more on disk, evicting to make room; Errc::no_space when pinned data
  // and other writes leave none, or the file system has no room.
  [[nodiscard]] Result<Reservation> reserve(std::uint64_t bytes);
  void release(std::uint64_t bytes) { m_reserved -= bytes; }

  // Measures the index and the rest of the data dir (the background thread, every period).
  void measure_disk();
  Space space() const;
  std::uint64_t used_bytes() const;

  // Bytes written to the index since the last measurement, which corrects the estimate.
  void note_index_write(std::uint64_t bytes) { m_index_added += bytes; }
  // An evicted or removed inline blob: its bytes count as freed before a compaction frees
  // them, up to credit_cap().
  void note_inline_freed(std::uint64_t bytes);
  std::uint64_t credit() const { return m_index_credit.load(); }
  // The slack the size bound allows for (README, "Disk bound").
  std::uint64_t credit_cap() const;

private:
  std::uint64_t index_bytes() const;
  std::string no_room_message(std::uint64_t bytes) const;
  // Errc::no_space unless the file system has room for `bytes` more besides the writes in
  // flight and what the index needs to flush and compact. Under m_reserve_mutex.
  [[nodiscard]] Result<void> check_disk_room(std::uint64_t bytes) const;

  const StoreOptions& m_options;
  Index& m_index;
  const UsageCounters& m_usage;
  Reclaimer* m_reclaimer = nullptr;

  std::atomic<std::uint64_t> m_reserved{0};
  std::atomic<std::uint64_t> m_index_measured{0};
  std::atomic<std::uint64_t> m_index_added{0};
  std::atomic<std::uint64_t> m_index_credit{0};   // inline bytes evicted, not yet compacted away
  std::atomic<std::uint64_t> m_index_headroom{0}; // what flushes and compactions may add
  std::atomic<std::uint64_t> m_index_need{0};     // the same, measured with or without a bound
  std::atomic<bool> m_inline_evicted{false};      // since reserve() last compacted the index
  std::atomic<std::uint64_t> m_other_measured{0};
  std::mutex m_reserve_mutex;
};

} // namespace ingot::cas
