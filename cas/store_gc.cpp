// Space and garbage collection: reservations against --max-size, recency recorded off the
// read path, eviction in least-recently-used order (pins and leases: store_pins.cpp).
//
// The eviction order is a column of the index keyed by (last use, hash), so a GC run reads
// exactly the entries it evicts, plus the ones it must skip (leased, or touched meanwhile);
// it never scans what stays.
#include "cas/store_impl.hpp"
#include "util/size.hpp"
#include "util/thread_role.hpp"

#include <algorithm>
#include <chrono>
#include <sys/stat.h>
#include <sys/statvfs.h>

namespace ingot::cas {

namespace {

// Eviction reads the order in batches of this many keys.
constexpr std::size_t k_scan_batch = 256;
// Room the index keeps on the file system besides its flushes and compactions (headroom()):
// manifest and OPTIONS rewrites, the tombstones of DELETEs and GC, recency and counters, which
// are written without reserving. A RocksDB flush or compaction that meets ENOSPC is no 507:
// Debian's librocksdb 7.8 is built with assertions, and WritableFileWriter asserts when a table
// builder writes on after a failed write, aborting the server; without assertions it stops
// every index write, deletes included, until a restart.
constexpr std::uint64_t k_index_margin = 2 << 20;
// How often the background thread writes recency and measures the disk.
constexpr auto k_background_period = std::chrono::milliseconds(500);

// Evicted inline bytes count as freed before compaction frees them, up to this much: the
// slack the size bound allows for (README, "Disk bound").
std::uint64_t credit_cap(std::uint64_t max_size) {
  return max_size / 32;
}

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

Evicted& bucket(GcReport& report, Namespace ns) {
  switch (ns) {
  case Namespace::ac:
    return report.ac;
  case Namespace::kv:
    return report.kv;
  case Namespace::ref:
    break;
  }
  return report.ref;
}

} // namespace

std::int64_t StoreImpl::now() const {
  if (m_options.clock) {
    return m_options.clock();
  }
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t StoreImpl::tick() {
  // Never behind a tick already handed out: a wall clock stepped back must not put new uses
  // before the eviction floor, where eviction would not see them until a restart.
  const std::int64_t t = now();
  std::int64_t last = m_last_tick.load();
  while (t > last && !m_last_tick.compare_exchange_weak(last, t)) {
  }
  return std::max(t, last);
}

void Reservation::release() {
  if (m_store != nullptr && m_bytes > 0) {
    m_store->release(m_bytes);
  }
  m_store = nullptr;
  m_bytes = 0;
}

StoreImpl::~StoreImpl() {
  {
    std::lock_guard lock(m_background_mutex);
    m_stopping = true;
  }
  m_background_cv.notify_all();
  if (m_background.joinable()) {
    m_background.join();
  }
  (void)flush_recency();
}

namespace {

constexpr std::string_view k_last_gc = "last_gc";
constexpr std::string_view k_max_size = "max_size";

// The last GC report, kept in the index so that `ingot stats` shows it after a restart.
std::string encode_report(const GcReport& r) {
  std::string out;
  for (const auto v : {r.target, r.before, r.after, r.cas.entries, r.cas.bytes, r.ac.entries,
                       r.ac.bytes, r.kv.entries, r.kv.bytes, r.ref.entries, r.ref.bytes,
                       static_cast<std::uint64_t>(r.oldest_survivor_age_s.value_or(-1)),
                       static_cast<std::uint64_t>(r.duration_s * 1e6),
                       static_cast<std::uint64_t>(r.finished_unix_s),
                       static_cast<std::uint64_t>(r.target_reached)}) {
    out += std::to_string(v) + ' ';
  }
  return out;
}

std::optional<GcReport> decode_report(const std::string& text) {
  std::vector<std::uint64_t> v;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t used = 0;
    try {
      v.push_back(std::stoull(text.substr(pos), &used));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    pos += used + 1;
  }
  if (v.size() != 15) {
    return std::nullopt;
  }
  GcReport r;
  r.target = v[0];
  r.before = v[1];
  r.after = v[2];
  r.cas = {v[3], v[4]};
  r.ac = {v[5], v[6]};
  r.kv = {v[7], v[8]};
  r.ref = {v[9], v[10]};
  if (static_cast<std::int64_t>(v[11]) >= 0) {
    r.oldest_survivor_age_s = static_cast<std::int64_t>(v[11]);
  }
  r.duration_s = static_cast<double>(v[12]) / 1e6;
  r.finished_unix_s = static_cast<std::int64_t>(v[13]);
  r.target_reached = v[14] != 0;
  return r;
}

} // namespace

std::optional<std::uint64_t> StoreImpl::recorded_max_size() {
  auto value = m_index->get_meta(k_max_size);
  if (!value || !*value) {
    return std::nullopt;
  }
  try {
    return std::stoull(**value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void StoreImpl::start_background() {
  if (auto last = m_index->get_meta(k_last_gc); last && *last) {
    m_stats.last = decode_report(**last);
  }
  if (m_options.max_size > 0) {
    (void)m_index->put_meta(k_max_size, std::to_string(m_options.max_size));
  }
  measure_disk();
  m_background = std::thread([this] { background(); });
}

void StoreImpl::background() {
  std::unique_lock lock(m_background_mutex);
  while (!m_stopping) {
    m_background_cv.wait_for(lock, k_background_period,
                             [this] { return m_stopping || m_gc_wanted; });
    if (m_stopping) {
      break;
    }
    m_gc_wanted = false;
    lock.unlock();
    (void)flush_recency();
    measure_disk();
    const auto s = space();
    if (s.max_size > 0 && s.used > s.gc_high) {
      (void)gc({});
    }

    lock.lock();
  }
}

// --- recency ---

void StoreImpl::touch(const Hash& hash, Use use) {
  auto& shard = m_touches[hash[2] % m_touches.size()];
  std::lock_guard lock(shard.mutex);
  auto [it, added] = shard.hashes.try_emplace(hash, use);
  if (!added && use == Use::read) {
    it->second = Use::read;
  }
}

bool StoreImpl::touched(const Hash& hash) {
  auto& shard = m_touches[hash[2] % m_touches.size()];
  std::lock_guard lock(shard.mutex);
  return shard.hashes.contains(hash);
}

Result<void> StoreImpl::flush_recency() {
  const auto tick = this->tick();
  for (auto& shard : m_touches) {
    std::unordered_map<Hash, Use, HashHasher> hashes;
    {
      std::lock_guard lock(shard.mutex);
      hashes.swap(shard.hashes);
    }
    // A blob's key in the eviction order stays in the recent future after a read (see
    // StoreOptions::read_protection_s); the floor never passes tick(), so new writes, which
    // sort before it, are still seen by eviction.
    for (const auto& [hash, use] : hashes) {
      std::lock_guard lock(stripe(hash));
      const auto at = use == Use::read ? tick + m_options.read_protection_s : tick;
      INGOT_TRY(m_index->touch(hash, at));
    }
  }
  UsageDelta counts;
  counts.hits = static_cast<std::int64_t>(m_new_hits.exchange(0));
  counts.misses = static_cast<std::int64_t>(m_new_misses.exchange(0));
  if (!is_zero(counts)) {
    if (auto r = m_index->add_usage(counts); !r) {
      m_new_hits += static_cast<std::uint64_t>(counts.hits);
      m_new_misses += static_cast<std::uint64_t>(counts.misses);
      return r;
    }
    apply(counts);
  }
  return {};
}

// --- space ---

void StoreImpl::measure_disk() {
  const auto& dir = this->dir();
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
  m_index_need = m_index->headroom();
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

std::uint64_t StoreImpl::index_bytes() const {
  const std::uint64_t grown =
      m_index_measured.load() + m_index_added.load() + m_index_headroom.load();
  const std::uint64_t credit = std::min(m_index_credit.load(), credit_cap(m_options.max_size));
  return grown > credit ? grown - credit : 0;
}

std::uint64_t StoreImpl::used_bytes() const {
  return m_file_bytes.load() + index_bytes() + m_other_measured.load() + m_reserved.load();
}

Space StoreImpl::space() const {
  Space s;
  s.max_size = m_options.max_size;
  s.gc_high = static_cast<std::uint64_t>(static_cast<double>(s.max_size) * m_options.gc_high);
  s.gc_low = static_cast<std::uint64_t>(static_cast<double>(s.max_size) * m_options.gc_low);
  s.files = m_file_bytes.load();
  s.index = index_bytes();
  s.other = m_other_measured.load();
  s.reserved = m_reserved.load();
  s.used = s.files + s.index + s.other + s.reserved;
  s.pinned = m_pinned_bytes.load();
  return s;
}

std::string StoreImpl::no_room_message(std::uint64_t bytes) const {
  const auto s = space();
  return "no room for " + format_size(bytes) + " under --max-size " + format_size(s.max_size) +
         ": " + format_size(s.pinned) + " is pinned, " + format_size(s.reserved) +
         " is held by uploads in flight and nothing else can be evicted; raise --max-size or "
         "unpin refs or releases";
}

Result<void> StoreImpl::check_disk_room(std::uint64_t bytes) const {
  std::uint64_t free = 0;
  if (m_options.free_space) {
    free = m_options.free_space();
  } else {
    struct statvfs fs {};
    if (::statvfs(dir().c_str(), &fs) != 0) {
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
                    "the disk holding " + dir().string() + " is full: " + format_size(free) +
                        " free, " + format_size(bytes) + " needed, " + format_size(index) +
                        " kept for the index and " + format_size(m_reserved.load()) +
                        " for uploads in flight; free disk space (admin DELETE of blobs, POST "
                        "/v1/gc?target=SIZE) or set --max-size below the disk's size");
}

Result<Reservation> StoreImpl::reserve(std::uint64_t bytes) {
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
          {
            std::lock_guard wake(m_background_mutex);
            m_gc_wanted = true;
          }
          m_background_cv.notify_one();
        }
        return Reservation(this, bytes);
      }
    }
    // Full: evict for this write now, down to the low watermark so the next writes find room.
    // It counts as a GC run: the metrics show every eviction. Reads since the last flush go
    // into the order first, so that what is being read now is not what goes.
    const auto started = std::chrono::steady_clock::now();
    GcReport report;
    INGOT_TRY(flush_recency());
    std::lock_guard gc_lock(m_gc_mutex);
    const auto low = space().gc_low;
    report.target = std::min(low, m_options.max_size - bytes);
    report.before = used_bytes();
    INGOT_TRY(evict(report.target, DryRun::no, report));
    report.after = used_bytes();
    report.duration_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report.finished_unix_s = now();
    if (report.cas.entries > 0) {
      note_run(report);
    }
    const bool evicted_inline = attempt == 1 && m_inline_evicted.exchange(false);
    if (attempt == 1 && (m_index_credit.load() > 0 || evicted_inline)) {
      // Evicted inline blobs still on disk until RocksDB compacts them: compact now rather
      // than refuse a write the bound has room for. They are counted twice until then, in
      // the index and in the room kept for compacting it; and a measurement that caught a
      // compaction in flight may have spent the credit, which is no sign they are gone.
      INGOT_TRY(m_index->compact());
      measure_disk();
    }
  }
  return make_error(Errc::no_space, no_room_message(bytes));
}

// --- eviction ---

Result<void> StoreImpl::drop_entries_of(const Hash& hash, std::uint64_t bytes, GcReport& report) {
  auto refs = m_index->entries_of(hash);
  if (!refs) {
    return std::move(refs).error();
  }
  bool counted = false;
  for (const auto& ref : *refs) {
    std::lock_guard lock(stripe(ref.key));
    auto entry = m_index->get_entry(ref.ns, ref.key);
    if (!entry) {
      return std::move(entry).error();
    }
    if (!entry->has_value() || (*entry)->value.hash != hash) {
      INGOT_TRY(m_index->delete_back_reference(hash, ref));
      continue;
    }
    UsageDelta delta;
    entries_field(delta, ref.ns) = -1;
    INGOT_TRY(m_index->delete_entry(ref.ns, ref.key, hash, delta));
    apply(delta);
    auto& b = bucket(report, ref.ns);
    ++b.entries;
    if (!counted) {
      b.bytes += bytes;
      counted = true;
    }
  }
  if (!counted) {
    report.cas.bytes += bytes;
  }
  ++report.cas.entries;
  return {};
}

Result<void> StoreImpl::evict(std::uint64_t target, DryRun dry_run, GcReport& report) {
  const std::uint64_t start = used_bytes();
  // Under a bound, `freed` is what used_bytes() will show: a file's bytes, and an inline
  // blob's only while the credit index_bytes() gives them lasts. Counting an inline blob in
  // full past that credit let a write's eviction stop with no room made, and the write fail
  // with no_space while files could still go. Going on for such blobs without end would empty
  // an all-inline store for nothing a compaction has not yet given back: the estimate of what
  // the disk gets back in time, `estimate`, may pass the request by the credit cap, no more.
  // Without a bound there is no credit, and the two are the same.
  const std::uint64_t cap = credit_cap(m_options.max_size);
  std::uint64_t credit = m_index_credit.load();
  std::uint64_t freed = 0;
  std::uint64_t estimate = 0;
  const auto more = [&] {
    return start > target + freed && estimate < start - target + cap;
  };
  LruKey from = m_floor;
  bool advance_floor = dry_run == DryRun::no;
  bool skip_first = false;
  while (more()) {
    auto keys = m_index->lru_scan(from, k_scan_batch + (skip_first ? 1 : 0));
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
      if (held(key.hash)) {
        advance_floor = false; // still there: the next run must see it again
        continue;
      }
      if (touched(key.hash)) {
        continue; // used since the last flush, which will move it up the order
      }
      std::lock_guard lock(stripe(key.hash));
      auto last = m_index->last_use(key.hash);
      if (!last) {
        return std::move(last).error();
      }
      if (!*last || **last != key.tick) {
        continue; // used or removed since the scan read it
      }
      auto blob = m_index->get_blob(key.hash, WithData::no);
      if (!blob) {
        return std::move(blob).error();
      }
      if (!blob->has_value()) {
        continue;
      }
      // A pin taken since the scan read the key (pins take this lock too) keeps the blob.
      auto pins = m_index->pin_count(key.hash);
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
        auto refs = m_index->entries_of(key.hash);
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
      INGOT_TRY(erase_blob(key.hash, record));
      INGOT_TRY(drop_entries_of(key.hash, record.stored_size, report));
      if (advance_floor) {
        // The tick only: a blob written later in the same second may sort before `key` by
        // its hash, and must not fall below the floor. Never past now: a read's key lies in
        // the future, and blobs written until then sort before it.
        m_floor = LruKey{std::min(key.tick, tick()), {}};
      }
    }
  }
  report.target_reached = start <= target + freed;
  return {};
}

Result<GcReport> StoreImpl::gc(const GcOptions& options) {
  expect_may_block("Store::gc");
  const auto started = std::chrono::steady_clock::now();
  GcReport report;
  report.dry_run = options.dry_run == DryRun::yes;
  if (options.target) {
    report.target = *options.target;
  } else if (m_options.max_size > 0) {
    report.target = space().gc_low;
  } else {
    return make_error(Errc::invalid_argument,
                      "no GC target: give one (--target SIZE) or set a size bound (--max-size)");
  }
  INGOT_TRY(flush_recency()); // the order must know about the latest reads
  {
    std::lock_guard gc_lock(m_gc_mutex);
    report.before = used_bytes();
    INGOT_TRY(evict(report.target, options.dry_run, report));
    const std::uint64_t freed =
        report.cas.bytes + report.ac.bytes + report.kv.bytes + report.ref.bytes;
    report.after =
        report.dry_run ? (report.before > freed ? report.before - freed : 0) : used_bytes();
    // The run judged its progress by estimates; a measurement that shows the target met (the
    // index flushed or compacted meanwhile) is met, so the report never contradicts itself.
    report.target_reached = report.target_reached || report.after <= report.target;
    auto oldest = m_index->lru_scan(m_floor, 2);
    if (!oldest) {
      return std::move(oldest).error();
    }
    for (const auto& key : *oldest) {
      if (key.hash != empty_digest().hash) {
        report.oldest_survivor_age_s = std::max<std::int64_t>(0, now() - key.tick);
        break;
      }
    }
  }
  report.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.finished_unix_s = now();
  if (!report.dry_run) {
    note_run(report);
  }
  return report;
}

void StoreImpl::note_run(const GcReport& report) {
  std::lock_guard lock(m_stats_mutex);
  ++m_stats.runs;
  m_stats.evicted_entries += report.cas.entries;
  m_stats.evicted_bytes += report.cas.bytes + report.ac.bytes + report.kv.bytes + report.ref.bytes;
  m_stats.duration_s += report.duration_s;
  m_stats.last = report;
  (void)m_index->put_meta(k_last_gc, encode_report(report));
}

GcStats StoreImpl::gc_stats() {
  GcStats stats;
  {
    std::lock_guard lock(m_stats_mutex);
    stats = m_stats;
  }
  LruKey from;
  {
    std::lock_guard lock(m_gc_mutex);
    from = m_floor;
  }
  if (auto oldest = m_index->lru_scan(from, 2)) {
    for (const auto& key : *oldest) {
      if (key.hash != empty_digest().hash) {
        stats.oldest_entry_age_s = std::max<std::int64_t>(0, now() - key.tick);
        break;
      }
    }
  }
  return stats;
}

} // namespace ingot::cas
