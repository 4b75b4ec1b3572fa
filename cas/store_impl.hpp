// Internal to cas/: the Store implementation shared by store.cpp, store_writer.cpp and
// store_reader.cpp.
#pragma once

#include "cas/blob_files.hpp"
#include "cas/index.hpp"
#include "cas/lock_file.hpp"
#include "cas/store.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace ingot::cas {

// Where a blob's stored bytes come from: the index (inline) or a file.
class StoredSource {
public:
  virtual ~StoredSource() = default;
  // Reads up to out.size() bytes at offset; fewer only at the end.
  [[nodiscard]] virtual Result<std::size_t> read_at(std::uint64_t offset, MutableByteView out) = 0;
  // The open file the bytes are read from, or -1 when they are in memory.
  virtual int fd() const { return -1; }
};

std::unique_ptr<StoredSource> inline_source(std::string bytes);
std::unique_ptr<StoredSource> file_source(UniqueFd fd, std::filesystem::path path);

[[nodiscard]] Result<std::unique_ptr<BlobReader>>
make_reader(const BlobInfo& info, std::unique_ptr<StoredSource> source, const ReadOptions& options);

class StoreImpl;
[[nodiscard]] Result<std::unique_ptr<BlobWriter>> make_writer(StoreImpl& store,
                                                              std::optional<Digest> expected);

struct HashHasher {
  std::size_t operator()(const Hash& h) const noexcept {
    std::size_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

// Space held for a write in flight; given back on destruction.
class Reservation {
public:
  Reservation() = default;
  Reservation(StoreImpl* store, std::uint64_t bytes) : m_store(store), m_bytes(bytes) {}
  ~Reservation() { release(); }
  Reservation(Reservation&& o) noexcept
      : m_store(std::exchange(o.m_store, nullptr)), m_bytes(std::exchange(o.m_bytes, 0)) {}
  Reservation& operator=(Reservation&& o) noexcept {
    release();
    m_store = std::exchange(o.m_store, nullptr);
    m_bytes = std::exchange(o.m_bytes, 0);
    return *this;
  }
  std::uint64_t bytes() const { return m_bytes; }
  void release();
  // Takes over another reservation of the same store: one holding the sum.
  void absorb(Reservation&& other) {
    m_store = other.m_store;
    m_bytes += std::exchange(other.m_bytes, 0);
    other.m_store = nullptr;
  }

private:
  StoreImpl* m_store = nullptr;
  std::uint64_t m_bytes = 0;
};

// Keeps blobs from eviction while held (an upload that found its blob already stored, a pin
// being set up).
class Lease {
public:
  Lease(StoreImpl& store, std::vector<Hash> hashes);
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

private:
  StoreImpl& m_store;
  std::vector<Hash> m_hashes;
};

class StoreImpl final : public Store {
public:
  StoreImpl(const StoreOptions& options, LockFile lock, std::unique_ptr<Index> index,
            BlobFiles files, const UsageDelta& usage);
  ~StoreImpl() override;
  StoreImpl(const StoreImpl&) = delete;
  StoreImpl& operator=(const StoreImpl&) = delete;

  // Starts the thread that writes recency and runs GC; after open() has finished its writes.
  void start_background();
  // Brings a data dir written by an older version up to date (once).
  [[nodiscard]] Result<void> migrate(const UsageDelta& loaded);

  Result<std::unique_ptr<BlobWriter>> begin_write(std::optional<Digest> expected) override;
  Result<Digest> put(ByteView data, std::optional<Digest> expected) override;
  Result<BlobInfo> stat(const Hash& hash) override;
  bool contains(const Hash& hash) override;
  Result<std::unique_ptr<BlobReader>> open_read(const Hash& hash,
                                                const ReadOptions& options) override;
  Result<std::unique_ptr<BlobReader>>
  open_read(const Hash& hash, FunctionRef<ReadOptions(const BlobInfo&)> plan) override;
  Result<std::string> get(const Hash& hash) override;
  Result<void> remove(const Hash& hash) override;
  Result<void> verify(const Hash& hash) override;
  Result<ScrubReport> scrub() override;
  Result<FsckReport> fsck(Repair repair) override; // in store_fsck.cpp
  Usage usage() const override;
  void count_lookup(bool hit) override;
  Space space() const override;
  Result<GcReport> gc(const GcOptions& options) override;
  GcStats gc_stats() override;
  std::optional<std::uint64_t> recorded_max_size() override;
  Result<void> flush_recency() override;
  Result<std::optional<std::string>> get_record(std::string_view name) override;
  Result<void> put_record(std::string_view name, std::string_view value) override;
  Result<void> pin(std::string_view name, std::vector<Hash> blobs) override;
  Result<void> unpin(std::string_view name) override;
  Result<bool> is_pinned(std::string_view name) override;
  Result<Entry> ns_get(Namespace ns, std::string_view key) override;
  Result<void> ns_put(Namespace ns, std::string_view key, const Digest& value) override;
  Result<void> ns_remove(Namespace ns, std::string_view key) override;
  Result<std::vector<std::pair<std::string, Entry>>> ns_list(Namespace ns, std::string_view prefix,
                                                             std::size_t limit) override;

  // For writers: space for `bytes` more on disk, evicting to make room; Errc::no_space when
  // pinned data and other writes leave none.
  [[nodiscard]] Result<Reservation> reserve(std::uint64_t bytes);
  void release(std::uint64_t bytes) { m_reserved -= bytes; }
  void hold(const Hash& hash);
  void unhold(const Hash& hash);
  // contains() for writers: a blob uploaded again is written, not read.
  bool contains_written(const Hash& hash);

  // For writers: make a finished blob visible. A blob already present is kept as it is.
  [[nodiscard]] Result<void> commit_inline(const Digest& digest, const BlobRecord& record,
                                           ByteView stored);
  [[nodiscard]] Result<void> commit_file(const Digest& digest, const BlobRecord& record,
                                         TempFile& file);

  const StoreOptions& options() const { return m_options; }
  // Unix seconds, from StoreOptions::clock when a test set one.
  std::int64_t now() const;
  // now(), but never behind an earlier tick: the eviction order's time.
  std::int64_t tick();
  BlobFiles& files() { return m_files; }

private:
  friend class FsckRun; // store_fsck.cpp: checks and repairs under the same locks as writes

  enum class Check {
    ok,
    corrupt,
    missing, // indexed, but the file is gone
    gone,    // removed while being checked: not damage
  };
  [[nodiscard]] Result<Check> check(const Hash& hash, const BlobRecord& record);
  [[nodiscard]] Result<std::unique_ptr<StoredSource>> source_of(const Hash& hash, StoredBlob& blob);
  std::mutex& stripe(const Hash& hash);
  std::mutex& stripe(std::string_view key);
  void apply(const UsageDelta& delta);
  // Records a use of a stored blob, in memory; flush_recency() writes it.
  enum class Use { write, read };
  void touch(const Hash& hash, Use use);
  // True while a use of `hash` is recorded and not yet written: eviction must see it.
  bool touched(const Hash& hash);
  // A stored blob's info; a use of kind `use` when it is there.
  [[nodiscard]] Result<BlobInfo> stat(const Hash& hash, Use use);
  // Removes a blob with its record (the caller holds its stripe).
  [[nodiscard]] Result<void> erase_blob(const Hash& hash, const BlobRecord& record);
  // Drops the entries whose value was `hash`, counting them into `report`.
  [[nodiscard]] Result<void> drop_entries_of(const Hash& hash, std::uint64_t bytes,
                                             GcReport& report);
  [[nodiscard]] Result<void> evict(std::uint64_t target, DryRun dry_run, GcReport& report);
  [[nodiscard]] Result<void> adjust_pin(const Hash& hash, int change);
  void forget_floor();
  bool held(const Hash& hash);
  // Adds a finished run to the GC stats and keeps it as the last report.
  void note_run(const GcReport& report);
  void measure_disk();
  std::uint64_t used_bytes() const;
  std::uint64_t index_bytes() const;
  void background();
  std::string no_room_message(std::uint64_t bytes) const;
  // Errc::no_space unless the file system has room for `bytes` more besides the writes in
  // flight and what the index needs to flush and compact. Under m_reserve_mutex.
  [[nodiscard]] Result<void> check_disk_room(std::uint64_t bytes) const;

  StoreOptions m_options;
  LockFile m_lock;
  std::unique_ptr<Index> m_index;
  BlobFiles m_files;

  // Serialises commit and removal of one digest (or one namespace key) against each other,
  // so that "is it there?" and the index write that follows agree.
  std::array<std::mutex, 64> m_stripes;

  std::atomic<std::uint64_t> m_blobs{0};
  std::atomic<std::uint64_t> m_logical_bytes{0};
  std::atomic<std::uint64_t> m_stored_bytes{0};
  std::atomic<std::uint64_t> m_ac_entries{0};
  std::atomic<std::uint64_t> m_kv_entries{0};
  std::atomic<std::uint64_t> m_ref_entries{0};
  std::atomic<std::uint64_t> m_file_bytes{0};
  std::atomic<std::uint64_t> m_pinned_blobs{0};
  std::atomic<std::uint64_t> m_pinned_bytes{0};
  std::atomic<std::uint64_t> m_hits{0};
  std::atomic<std::uint64_t> m_misses{0};
  // Lookups counted since the last flush, persisted by the background thread.
  std::atomic<std::uint64_t> m_new_hits{0};
  std::atomic<std::uint64_t> m_new_misses{0};

  // Namespace keys lock apart from blobs, so eviction may hold a blob and then its entries.
  std::array<std::mutex, 64> m_key_stripes;

  // Uses recorded since the last flush, sharded to keep readers off each other's locks.
  struct TouchShard {
    std::mutex mutex;
    std::unordered_map<Hash, Use, HashHasher> hashes; // a read outranks a write
  };
  std::array<TouchShard, 16> m_touches;

  // Space: files are counted exactly; the index and the rest are measured every second, with
  // an estimate of what changed since.
  std::atomic<std::uint64_t> m_reserved{0};
  std::atomic<std::uint64_t> m_index_measured{0};
  std::atomic<std::uint64_t> m_index_added{0};
  std::atomic<std::uint64_t> m_index_credit{0};   // inline bytes evicted, not yet compacted away
  std::atomic<std::uint64_t> m_index_headroom{0}; // what flushes and compactions may add
  std::atomic<std::uint64_t> m_index_need{0};     // the same, measured with or without a bound
  std::atomic<bool> m_inline_evicted{false};      // since reserve() last compacted the index
  std::atomic<std::uint64_t> m_other_measured{0};
  std::mutex m_reserve_mutex;

  std::mutex m_leases_mutex;
  std::unordered_map<Hash, int, HashHasher> m_leases;
  std::mutex m_pin_mutex;

  // One eviction at a time; `m_floor` is where the eviction order's live part starts.
  std::mutex m_gc_mutex;
  LruKey m_floor;
  std::mutex m_stats_mutex;
  GcStats m_stats;

  std::mutex m_background_mutex;
  std::condition_variable m_background_cv;
  bool m_stopping = false;
  bool m_gc_wanted = false;
  std::thread m_background;
  std::atomic<std::int64_t> m_last_tick{0};
};

} // namespace ingot::cas
