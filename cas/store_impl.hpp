// Internal to cas/: the Store facade over the store's parts, each with its own locks and
// counters (as ccache's Storage sits over its backends):
//   UsageCounters  usage_counters.hpp  the usage counters, and lookups not yet persisted
//   SpaceAccount   space_account.hpp   --max-size and the disk: measurements, reservations
//   Recency        recency.hpp         uses recorded off the read path; tick; eviction floor
//   Leases         leases.hpp          blobs held in memory by uploads and pins under way
//   BlobRecords    blob_records.hpp    blob records and files; the per-digest locks
//   Entries        entries.hpp         namespace entries; the per-key locks
//   Pins           pins.hpp            pin sets and pin counts
//   Evictor        evictor.hpp         eviction, GC runs and stats, the background thread
// and FsckRun (fsck_run.hpp), a client of the others. The writer (store_writer.hpp) gets
// the parts it needs, never the store.
#pragma once

#include "cas/blob_records.hpp"
#include "cas/entries.hpp"
#include "cas/evictor.hpp"
#include "cas/index.hpp"
#include "cas/leases.hpp"
#include "cas/lock_file.hpp"
#include "cas/pins.hpp"
#include "cas/recency.hpp"
#include "cas/space_account.hpp"
#include "cas/store.hpp"
#include "cas/store_writer.hpp"
#include "cas/usage_counters.hpp"

#include <memory>

namespace ingot::cas {

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
  void touch(const Hash& hash) override;
  Result<std::unique_ptr<BlobReader>> open_read(const Hash& hash,
                                                const ReadOptions& options) override;
  Result<std::unique_ptr<BlobReader>>
  open_read(const Hash& hash, FunctionRef<ReadOptions(const BlobInfo&)> plan) override;
  Result<std::string> get(const Hash& hash) override;
  Result<void> remove(const Hash& hash) override;
  Result<void> verify(const Hash& hash) override;
  Result<ScrubReport> scrub() override;
  Result<FsckReport> fsck(Repair repair) override;
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

private:
  // What a writer works with, so that it never calls back into the store.
  WriterParts writer_parts() { return {m_options, m_space, m_leases, m_records}; }

  StoreOptions m_options;
  LockFile m_lock;
  std::unique_ptr<Index> m_index;
  UsageCounters m_usage;
  SpaceAccount m_space;
  Recency m_recency;
  Leases m_leases;
  BlobRecords m_records;
  Entries m_entries;
  Pins m_pins;
  Evictor m_evictor;
};

} // namespace ingot::cas
