// Internal to cas/: recency, recorded off the read path. Uses are kept in memory and written
// into the eviction order by flush() (the background thread does it every half second), so a
// read costs no index write. The eviction order's time (tick) and its floor live here too.
#pragma once

#include "cas/hash_hasher.hpp"
#include "cas/index.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace ingot::cas {

class BlobRecords;
class UsageCounters;

enum class Use { write, read };

class Recency {
public:
  // `clock` gives unix seconds (the system clock when empty); see
  // StoreOptions::read_protection_s for `read_protection_s`.
  Recency(Index& index, UsageCounters& usage, std::function<std::int64_t()> clock,
          std::int64_t read_protection_s);
  Recency(const Recency&) = delete;
  Recency& operator=(const Recency&) = delete;

  // Unix seconds, from the clock a test set, if any.
  std::int64_t now() const;
  // now(), but never behind an earlier tick: the eviction order's time.
  std::int64_t tick();

  // Records a use of a stored blob, in memory.
  void touch(const Hash& hash, Use use);
  // True while a use of `hash` is recorded and not yet written: eviction must see it.
  bool touched(const Hash& hash);
  // Writes the uses recorded since the last flush into the eviction order (each under its
  // blob's lock, through `records`), and the lookups counted since.
  [[nodiscard]] Result<void> flush(BlobRecords& records);

  // One eviction run: holds the floor, so that runs go one at a time, and moves it up as the
  // run evicts.
  class FloorRun {
  public:
    explicit FloorRun(Recency& recency) : m_lock(recency.m_floor_mutex), m_floor(recency.m_floor) {}
    const LruKey& floor() const { return m_floor; }
    void raise(const LruKey& key) { m_floor = key; }

  private:
    std::unique_lock<std::mutex> m_lock;
    LruKey& m_floor;
  };
  FloorRun begin_run() { return FloorRun(*this); }
  // Where the eviction order's live part starts (waits for a run in progress).
  LruKey floor();
  // An unpinned blob goes back into the eviction order at its last use, which may lie below
  // the floor where eviction resumes: the next run starts from the beginning of the order, or
  // the blob would never be evicted again (until a restart).
  void forget_floor();

private:
  Index& m_index;
  UsageCounters& m_usage;
  const std::function<std::int64_t()> m_clock;
  const std::int64_t m_read_protection_s;
  std::atomic<std::int64_t> m_last_tick{0};

  // Uses recorded since the last flush, sharded to keep readers off each other's locks.
  struct TouchShard {
    std::mutex mutex;
    std::unordered_map<Hash, Use, HashHasher> hashes; // a read outranks a write
  };
  std::array<TouchShard, 16> m_touches;

  // One eviction at a time; `m_floor` is where the eviction order's live part starts.
  std::mutex m_floor_mutex;
  LruKey m_floor;
};

} // namespace ingot::cas
