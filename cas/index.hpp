// The index: blob records (with inline blobs' bytes), namespace entries and usage counters,
// kept in RocksDB. Every mutation is one atomic WriteBatch that also carries its usage delta,
// so the persisted accounting always matches the records.
#pragma once

#include "cas/record.hpp"
#include "util/result.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
// Every table of the index (a RocksDB column family, named as its enumerator), in the order
// fsck visits them: what later checks look up comes first (pin sets in meta and pin counts,
// then blob records, then what names blobs). One table per namespace, from INGOT_NAMESPACES:
// the index opens, and fsck checks, whatever this list holds, and fsck's switch over it has
// no default, so that a table added here without a check does not compile.
#define INGOT_INDEX_TABLES(X)                                                                      \
  X(meta)             /* usage counters, pin sets, pending blob files, settings and records */     \
  X(pins)             /* hash -> pin count */                                                      \
  X(blobs)            /* hash -> blob record (and inline bytes) */                                 \
  INGOT_NAMESPACES(X) /* key -> entry */                                                           \
  X(atime)            /* hash -> last use (tick) */                                                \
  X(lru)              /* tick (big-endian) + hash -> "": the eviction order of unpinned blobs */   \
  X(backrefs)         /* hash + namespace + key -> "": the entries naming a blob */

enum class IndexTable : std::uint8_t {
#define INGOT_INDEX_TABLE_ENUM(name) name,
  INGOT_INDEX_TABLES(INGOT_INDEX_TABLE_ENUM)
#undef INGOT_INDEX_TABLE_ENUM
};

inline constexpr std::array k_index_tables{
#define INGOT_INDEX_TABLE_VALUE(name) IndexTable::name,
    INGOT_INDEX_TABLES(INGOT_INDEX_TABLE_VALUE)
#undef INGOT_INDEX_TABLE_VALUE
};

// The column family's name.
constexpr std::string_view to_string(IndexTable table) {
  constexpr std::array<std::string_view, k_index_tables.size()> k_names{
#define INGOT_INDEX_TABLE_NAME(name) #name,
      INGOT_INDEX_TABLES(INGOT_INDEX_TABLE_NAME)
#undef INGOT_INDEX_TABLE_NAME
  };
  return k_names[static_cast<std::size_t>(table)];
}

// The table of a namespace's entries: they follow the blobs table in Namespace order.
constexpr IndexTable table_of(Namespace ns) {
  return static_cast<IndexTable>(static_cast<std::size_t>(IndexTable::blobs) + 1 +
                                 static_cast<std::size_t>(ns));
}

constexpr std::optional<Namespace> namespace_of(IndexTable table) {
  for (const Namespace ns : k_namespaces) {
    if (table_of(ns) == table) {
      return ns;
    }
  }
  return std::nullopt;
}

static_assert([] {
  for (const Namespace ns : k_namespaces) {
    if (to_string(table_of(ns)) != to_string(ns) || namespace_of(table_of(ns)) != ns) {
      return false;
    }
  }
  return true;
}());

// Keys of the meta table.
inline constexpr std::string_view k_usage_key = "usage";
inline constexpr std::string_view k_pending_prefix = "pending/"; // + hash
inline constexpr std::string_view k_pin_set_prefix = "pinset/";  // + name -> hashes
inline constexpr std::string_view k_meta_prefix = "m/";          // + name (settings, records)

// Keys of the eviction order and of the back references, as fsck reads them.
std::optional<LruKey> parse_lru_key(std::string_view key);
std::optional<std::pair<Hash, EntryRef>> parse_back_reference_key(std::string_view key);

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
  // For fsck (callers hold the store's pin lock): every pin set, and every pin count.
  [[nodiscard]] virtual Result<std::vector<std::pair<std::string, std::vector<Hash>>>>
  list_pin_sets() = 0;
  [[nodiscard]] virtual Result<std::vector<std::pair<Hash, std::uint32_t>>> list_pin_counts() = 0;
  // For fsck (callers hold the blob's lock): puts a stored blob at `tick` in the eviction order
  // (or only records the use when pinned), replacing a last use that was lost or unreadable.
  [[nodiscard]] virtual Result<void> reset_recency(const Hash& hash, std::int64_t tick) = 0;

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

  // Visits every key and value of every table, in k_index_tables order, all from one
  // snapshot, until `visit` returns false. Returns the usage counters of that same snapshot,
  // so that a caller can compare what the records add up to with what is recorded while
  // other writes go on.
  using RawVisitor =
      std::function<bool(IndexTable table, std::string_view key, std::string_view value)>;
  [[nodiscard]] virtual Result<UsageDelta> for_each_raw(const RawVisitor& visit) = 0;
  // Deletes one key whatever its value holds, with `delta` in the same batch.
  [[nodiscard]] virtual Result<void> delete_raw(IndexTable table, std::string_view key,
                                                const UsageDelta& delta) = 0;
  // Whether `key` is in `table` now (fsck checks what it read in the snapshot still holds).
  [[nodiscard]] virtual Result<bool> has_raw(IndexTable table, std::string_view key) = 0;
};

} // namespace ingot::cas
