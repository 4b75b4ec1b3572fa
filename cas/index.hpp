// The index: blob records (with inline blobs' bytes), namespace entries and usage counters,
// kept in RocksDB. Every mutation is one atomic WriteBatch that also carries its usage delta,
// so the persisted accounting always matches the records.
#pragma once

#include "cas/record.hpp"
#include "util/result.hpp"

#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::cas {

struct StoredBlob {
  BlobRecord record;
  std::string inline_data; // stored bytes, for inline blobs when asked for
};

enum class WithData { no, yes };

// A blob's place in the eviction order: its last use (unix seconds), then its hash.
struct LruKey {
  std::int64_t tick = 0;
  Hash hash{};
  friend auto operator<=>(const LruKey&, const LruKey&) = default;
};

// A namespace entry that names a blob as its value.
struct EntryRef {
  Namespace ns = Namespace::kv;
  std::string key;
};

struct IndexOptions {
  // RocksDB's memtables and WAL, kept small under a small --max-size: they are disk the
  // bound has to cover.
  std::uint64_t write_buffer_size = 16 << 20;
};
// The index's tables of records, for fsck's raw access.
enum class IndexTable : std::uint8_t { blobs, ac, kv };

class Index {
public:
  [[nodiscard]] static Result<std::unique_ptr<Index>> open(const std::filesystem::path& dir,
                                                           const IndexOptions& options = {});
  virtual ~Index() = default;

  [[nodiscard]] virtual Result<std::optional<StoredBlob>> get_blob(const Hash& hash,
                                                                   WithData with_data) = 0;
  // Records the intent to publish a blob file before it is renamed into blobs/: a crash
  // between the rename and put_blob() then leaves a trace that the next open follows, instead
  // of a file nothing accounts for. put_blob() clears the intent in the same batch.
  [[nodiscard]] virtual Result<void> put_pending(const Hash& hash) = 0;
  [[nodiscard]] virtual Result<void> clear_pending(const Hash& hash) = 0;
  // The hashes of intents left by writes that never committed (a handful at most).
  [[nodiscard]] virtual Result<std::vector<Hash>> list_pending() = 0;
  // Stores a record with its last use at `tick`, in the eviction order unless pinned. A blob
  // that comes back with a pin count (purged while pinned) adds its pinned bytes to `delta`.
  [[nodiscard]] virtual Result<void> put_blob(const Hash& hash, const BlobRecord& record,
                                              ByteView inline_data, UsageDelta& delta,
                                              std::int64_t tick) = 0;
  // Removes the record with its place in the eviction order (its pin count stays).
  [[nodiscard]] virtual Result<void> delete_blob(const Hash& hash, const UsageDelta& delta) = 0;

  // --- recency (callers hold the blob's lock) ---
  // Moves a stored blob to `tick` in the eviction order; nothing when it is not stored.
  [[nodiscard]] virtual Result<void> touch(const Hash& hash, std::int64_t tick) = 0;
  [[nodiscard]] virtual Result<std::optional<std::int64_t>> last_use(const Hash& hash) = 0;
  // Up to `limit` keys of the eviction order from `from` on, oldest first.
  [[nodiscard]] virtual Result<std::vector<LruKey>> lru_scan(const LruKey& from,
                                                             std::size_t limit) = 0;

  // --- pins (callers hold the blob's lock) ---
  [[nodiscard]] virtual Result<std::uint32_t> pin_count(const Hash& hash) = 0;
  // Sets a stored blob's pin count: a pinned blob leaves the eviction order, an unpinned one
  // returns to it at its last use. `delta` carries the pinned-bytes change.
  [[nodiscard]] virtual Result<void> set_pin_count(const Hash& hash, std::uint32_t count,
                                                   const UsageDelta& delta) = 0;
  // Named sets of pinned blobs (a pinned ref, a release), as written by put_pin_set.
  [[nodiscard]] virtual Result<std::vector<Hash>> get_pin_set(std::string_view name) = 0;
  [[nodiscard]] virtual Result<void> put_pin_set(std::string_view name,
                                                 const std::vector<Hash>& hashes) = 0;

  // --- small named values (settings, the last GC report) ---
  [[nodiscard]] virtual Result<std::optional<std::string>> get_meta(std::string_view name) = 0;
  [[nodiscard]] virtual Result<void> put_meta(std::string_view name, std::string_view value) = 0;
  // Commits a usage delta alone (flushed counters; fsck's correction of disagreeing ones).
  [[nodiscard]] virtual Result<void> add_usage(const UsageDelta& delta) = 0;
  // Compacts the tables eviction deletes from, so deleted inline blobs give their space back.
  [[nodiscard]] virtual Result<void> compact() = 0;
  // Disk the index may take on its own beyond what it takes now, for a few milliseconds at a
  // time: flushes write memtables to tables while their log stays, and a compaction writes
  // its output before it deletes its inputs. The size bound keeps this much free.
  virtual std::uint64_t headroom() = 0;
  // Replaces the usage total (a migration from an older format).
  [[nodiscard]] virtual Result<void> set_usage(const UsageDelta& total) = 0;

  [[nodiscard]] virtual Result<std::optional<Entry>> get_entry(Namespace ns,
                                                               std::string_view key) = 0;
  // Also keeps the value's back reference, so that evicting a blob finds its entries.
  // `previous` is the value the entry had, if any.
  [[nodiscard]] virtual Result<void> put_entry(Namespace ns, std::string_view key,
                                               const Entry& entry,
                                               const std::optional<Hash>& previous,
                                               const UsageDelta& delta) = 0;
  [[nodiscard]] virtual Result<void> delete_entry(Namespace ns, std::string_view key,
                                                  const Hash& value, const UsageDelta& delta) = 0;
  // The entries whose value is `hash` (back references may outlive a changed entry: check).
  [[nodiscard]] virtual Result<std::vector<EntryRef>> entries_of(const Hash& hash) = 0;
  [[nodiscard]] virtual Result<void> delete_back_reference(const Hash& hash,
                                                           const EntryRef& ref) = 0;
  // Entries of `ns` whose key starts with `prefix`, in key order, up to `limit`.
  [[nodiscard]] virtual Result<std::vector<std::pair<std::string, Entry>>>
  list_entries(Namespace ns, std::string_view prefix, std::size_t limit) = 0;

  // The sum of every delta ever committed.
  [[nodiscard]] virtual Result<UsageDelta> load_usage() = 0;

  // Visits every blob record in hash order until `visit` returns false.
  using BlobVisitor = std::function<bool(const Hash&, const BlobRecord&)>;
  [[nodiscard]] virtual Result<void> for_each_blob(const BlobVisitor& visit) = 0;

  // --- for fsck: values as stored, decodable or not ---

  // Visits every key and value of the blobs, ac and kv tables, in that order, all from one
  // snapshot, until `visit` returns false. Returns the usage counters of that same snapshot,
  // so that a caller can compare what the records add up to with what is recorded while
  // other writes go on.
  using RawVisitor =
      std::function<bool(IndexTable table, std::string_view key, std::string_view value)>;
  [[nodiscard]] virtual Result<UsageDelta> for_each_raw(const RawVisitor& visit) = 0;
  // Deletes one key whatever its value holds, with `delta` in the same batch.
  [[nodiscard]] virtual Result<void> delete_raw(IndexTable table, std::string_view key,
                                                const UsageDelta& delta) = 0;
};

} // namespace ingot::cas
