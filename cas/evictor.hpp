// Internal to cas/: garbage collection. Evicts least recently used unpinned blobs, with the
// entries whose value they were, when a write finds the bound full (reclaim), when asked (gc),
// and from a background thread above the high watermark; that thread also writes recency and
// measures the disk.
#pragma once

#include "cas/recency.hpp"
#include "cas/space_account.hpp"
#include "cas/store.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ingot::cas {

class BlobRecords;
class Entries;
class Index;
class Leases;

class Evictor final : public Reclaimer {
public:
  Evictor(const StoreOptions& options, Index& index, BlobRecords& records, Entries& entries,
          Leases& leases, Recency& recency, SpaceAccount& space);
  ~Evictor() override;
  Evictor(const Evictor&) = delete;
  Evictor& operator=(const Evictor&) = delete;

  // Loads the last report and starts the background thread.
  void start();
  // Stops the background thread (waits for a run in progress).
  void stop();

  [[nodiscard]] Result<GcReport> gc(const GcOptions& options);
  GcStats gc_stats();

  Result<void> reclaim(std::uint64_t bytes) override;
  void request_gc() override;

private:
  [[nodiscard]] Result<void> evict(Recency::FloorRun& run, std::uint64_t target, DryRun dry_run,
                                   GcReport& report);
  // How long ago the oldest blob of the eviction order from `from` on was used.
  [[nodiscard]] Result<std::optional<std::int64_t>> oldest_age(const LruKey& from);
  // Adds a finished run to the GC stats and keeps it as the last report.
  void note_run(const GcReport& report);
  void background();

  const StoreOptions& m_options;
  Index& m_index;
  BlobRecords& m_records;
  Entries& m_entries;
  Leases& m_leases;
  Recency& m_recency;
  SpaceAccount& m_space;

  std::mutex m_stats_mutex;
  GcStats m_stats;
  // Runs under way now, for GcStats::running: read before gc_stats() waits for one to end.
  std::atomic<unsigned> m_running{0};

  std::mutex m_background_mutex;
  std::condition_variable m_background_cv;
  bool m_stopping = false;
  bool m_gc_wanted = false;
  std::thread m_background;
};

} // namespace ingot::cas
