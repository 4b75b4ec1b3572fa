// Eviction in least-recently-used order (recency: recency.cpp; space: space_account.cpp).
//
// The eviction order is a column of the index keyed by (last use, hash), so a GC run reads
// exactly the entries it evicts, plus the ones it must skip (leased, or touched meanwhile);
// it never scans what stays.
#include "cas/evictor.hpp"

#include "cas/blob_records.hpp"
#include "cas/entries.hpp"
#include "cas/gc_report.hpp"
#include "cas/leases.hpp"
#include "util/thread_role.hpp"

#include <algorithm>
#include <chrono>

namespace ingot::cas {

namespace {

// Eviction reads the order in batches of this many keys.
constexpr std::size_t k_scan_batch = 256;
// How often the background thread writes recency and measures the disk.
constexpr auto k_background_period = std::chrono::milliseconds(500);
constexpr std::string_view k_last_gc = "last_gc";

// Counts a run as under way for as long as it lives.
class RunningCount {
public:
  explicit RunningCount(std::atomic<unsigned>& count) : m_count(count) { ++m_count; }
  ~RunningCount() { --m_count; }
  RunningCount(const RunningCount&) = delete;
  RunningCount& operator=(const RunningCount&) = delete;

private:
  std::atomic<unsigned>& m_count;
};

} // namespace

Evictor::Evictor(const StoreOptions& options, Index& index, BlobRecords& records, Entries& entries,
                 Leases& leases, Recency& recency, SpaceAccount& space)
    : m_options(options), m_index(index), m_records(records), m_entries(entries), m_leases(leases),
      m_recency(recency), m_space(space) {}

Evictor::~Evictor() {
  stop();
}

void Evictor::start() {
  if (auto last = m_index.get_meta(k_last_gc); last && *last) {
    m_stats.last = decode_report(**last);
  }
  m_space.measure_disk();
  m_background = std::thread([this] { background(); });
}

void Evictor::stop() {
  {
    std::lock_guard lock(m_background_mutex);
    m_stopping = true;
  }
  m_background_cv.notify_all();
  if (m_background.joinable()) {
    m_background.join();
  }
}

void Evictor::background() {
  std::unique_lock lock(m_background_mutex);
  while (!m_stopping) {
    m_background_cv.wait_for(lock, k_background_period,
                             [this] { return m_stopping || m_gc_wanted; });
    if (m_stopping) {
      break;
    }
    m_gc_wanted = false;
    lock.unlock();
    (void)m_recency.flush(m_records);
    m_space.measure_disk();
    const auto s = m_space.space();
    if (s.max_size > 0 && s.used > s.gc_high) {
      (void)gc({});
    }

    lock.lock();
  }
}

// It counts as a GC run: the metrics show every eviction. Reads since the last flush go into
// the order first, so that what is being read now is not what goes.
Result<void> Evictor::reclaim(std::uint64_t bytes) {
  const RunningCount counted(m_running);
  const auto started = std::chrono::steady_clock::now();
  GcReport report;
  INGOT_TRY(m_recency.flush(m_records));
  auto run = m_recency.begin_run();
  const auto low = m_space.space().gc_low;
  report.target = std::min(low, m_options.max_size - bytes);
  report.before = m_space.used_bytes();
  INGOT_TRY(evict(run, report.target, DryRun::no, report));
  report.after = m_space.used_bytes();
  report.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.finished_unix_s = m_recency.now();
  if (report.cas.entries > 0) {
    note_run(report);
  }
  return {};
}

void Evictor::request_gc() {
  {
    std::lock_guard wake(m_background_mutex);
    m_gc_wanted = true;
  }
  m_background_cv.notify_one();
}

Result<void> Evictor::evict(Recency::FloorRun& run, std::uint64_t target, DryRun dry_run,
                            GcReport& report) {
  const std::uint64_t start = m_space.used_bytes();
  // Under a bound, `freed` is what used_bytes() will show: a file's bytes, and an inline
  // blob's only while the credit index_bytes() gives them lasts. Counting an inline blob in
  // full past that credit let a write's eviction stop with no room made, and the write fail
  // with no_space while files could still go. Going on for such blobs without end would empty
  // an all-inline store for nothing a compaction has not yet given back: the estimate of what
  // the disk gets back in time, `estimate`, may pass the request by the credit cap, no more.
  // Without a bound there is no credit, and the two are the same.
  const std::uint64_t cap = m_space.credit_cap();
  std::uint64_t credit = m_space.credit();
  std::uint64_t freed = 0;
  std::uint64_t estimate = 0;
  const auto more = [&] {
    return start > target + freed && estimate < start - target + cap;
  };
  LruKey from = run.floor();
  bool advance_floor = dry_run == DryRun::no;
  bool skip_first = false;
  while (more()) {
    auto keys = m_index.lru_scan(from, k_scan_batch + (skip_first ? 1 : 0));
    if (!keys) {
      return std::move(keys).error();
    }
    auto it = keys->begin();
    if (skip_first && it != keys->end() && *it == from) {
      ++it;
    }
    if (it == keys->end()) {
      break;
    }
    for (; it != keys->end() && more(); ++it) {
      const LruKey key = *it;
      from = key;
      skip_first = true;
      if (key.hash == empty_digest().hash) {
        continue; // REAPI: always present; the floor may pass it
      }
      if (m_leases.held(key.hash)) {
        advance_floor = false; // still there: the next run must see it again
        continue;
      }
      if (m_recency.touched(key.hash)) {
        continue; // used since the last flush, which will move it up the order
      }
      std::lock_guard lock(m_records.lock(key.hash));
      auto last = m_index.last_use(key.hash);
      if (!last) {
        return std::move(last).error();
      }
      if (!*last || **last != key.tick) {
        continue; // used or removed since the scan read it
      }
      auto blob = m_index.get_blob(key.hash, WithData::no);
      if (!blob) {
        return std::move(blob).error();
      }
      if (!blob->has_value()) {
        continue;
      }
      // A pin taken since the scan read the key (pins take this lock too) keeps the blob.
      auto pins = m_index.pin_count(key.hash);
      if (!pins) {
        return std::move(pins).error();
      }
      if (*pins > 0) {
        continue;
      }
      const auto record = (*blob)->record;
      estimate += record.stored_size + k_record_overhead;
      // Its tombstones take about what its record did (erase_blob counts them) until a
      // compaction drops both: what it frees is its bytes, less that.
      if (m_options.max_size == 0) {
        freed += record.stored_size;
      } else if (!record.is_inline) {
        freed += record.stored_size - std::min(record.stored_size, k_record_overhead);
      } else {
        const std::uint64_t credited = std::min(credit, cap);
        credit += record.stored_size;
        const std::uint64_t gained = std::min(credit, cap) - credited;
        freed += gained - std::min(gained, k_record_overhead);
      }
      if (dry_run == DryRun::yes) {
        auto refs = m_index.entries_of(key.hash);
        if (!refs) {
          return std::move(refs).error();
        }
        ++report.cas.entries;
        if (refs->empty()) {
          report.cas.bytes += record.stored_size;
        }
        for (const auto& ref : *refs) {
          auto& b = bucket(report, ref.ns);
          ++b.entries;
          b.bytes += &ref == &refs->front() ? record.stored_size : 0;
        }
        continue;
      }
      INGOT_TRY(m_records.erase(key.hash, record));
      INGOT_TRY(m_entries.drop_entries_of(key.hash, record.stored_size, report));
      if (advance_floor) {
        // The tick only: a blob written later in the same second may sort before `key` by
        // its hash, and must not fall below the floor. Never past now: a read's key lies in
        // the future, and blobs written until then sort before it.
        run.raise(LruKey{std::min(key.tick, m_recency.tick()), {}});
      }
    }
  }
  report.target_reached = start <= target + freed;
  return {};
}

Result<GcReport> Evictor::gc(const GcOptions& options) {
  expect_may_block("Store::gc");
  const RunningCount counted(m_running);
  const auto started = std::chrono::steady_clock::now();
  GcReport report;
  report.dry_run = options.dry_run == DryRun::yes;
  if (options.target) {
    report.target = *options.target;
  } else if (m_options.max_size > 0) {
    report.target = m_space.space().gc_low;
  } else {
    return make_error(Errc::invalid_argument,
                      "no GC target: give one (--target SIZE) or set a size bound (--max-size)");
  }
  INGOT_TRY(m_recency.flush(m_records)); // the order must know about the latest reads
  {
    auto run = m_recency.begin_run();
    report.before = m_space.used_bytes();
    INGOT_TRY(evict(run, report.target, options.dry_run, report));
    const std::uint64_t freed =
        report.cas.bytes + report.ac.bytes + report.kv.bytes + report.ref.bytes + report.nix.bytes;
    report.after =
        report.dry_run ? (report.before > freed ? report.before - freed : 0) : m_space.used_bytes();
    // The run judged its progress by estimates; a measurement that shows the target met (the
    // index flushed or compacted meanwhile) is met, so the report never contradicts itself.
    report.target_reached = report.target_reached || report.after <= report.target;
    auto oldest = oldest_age(run.floor());
    if (!oldest) {
      return std::move(oldest).error();
    }
    report.oldest_survivor_age_s = *oldest;
  }
  report.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.finished_unix_s = m_recency.now();
  if (!report.dry_run) {
    note_run(report);
  }
  return report;
}

void Evictor::note_run(const GcReport& report) {
  std::lock_guard lock(m_stats_mutex);
  ++m_stats.runs;
  m_stats.evicted_entries += report.cas.entries;
  m_stats.evicted_bytes +=
      report.cas.bytes + report.ac.bytes + report.kv.bytes + report.ref.bytes + report.nix.bytes;
  m_stats.duration_s += report.duration_s;
  m_stats.last = report;
  (void)m_index.put_meta(k_last_gc, encode_report(report));
}

GcStats Evictor::gc_stats() {
  GcStats stats;
  {
    std::lock_guard lock(m_stats_mutex);
    stats = m_stats;
  }
  stats.running = m_running.load() > 0;
  if (auto oldest = oldest_age(m_recency.floor())) {
    stats.oldest_entry_age_s = *oldest;
  }
  return stats;
}

Result<std::optional<std::int64_t>> Evictor::oldest_age(const LruKey& from) {
  auto oldest = m_index.lru_scan(from, 2);
  if (!oldest) {
    return std::move(oldest).error();
  }
  for (const auto& key : *oldest) {
    if (key.hash != empty_digest().hash) {
      return std::optional<std::int64_t>(std::max<std::int64_t>(0, m_recency.now() - key.tick));
    }
  }
  return std::optional<std::int64_t>{};
}

} // namespace ingot::cas
