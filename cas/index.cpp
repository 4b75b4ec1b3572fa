#include "cas/index_rocks.hpp"
#include "cas/read_tier.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

namespace ingot::cas {

namespace {

// The lookups a request makes (a blob record, an entry): from memory only inside a
// MemoryOnlyReads scope, where RocksDB answers Incomplete rather than read a block from disk.
rocksdb::ReadOptions lookup_options() {
  rocksdb::ReadOptions options;
  if (memory_only_reads()) {
    options.read_tier = rocksdb::kBlockCacheTier;
  }
  return options;
}

class RocksIndex final : public Index {
public:
  RocksIndex(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : m_db(std::move(db)), m_handles(std::move(handles)) {
    m_blobs = cf(IndexTable::blobs);
    m_meta = cf(IndexTable::meta);
    m_lru = cf(IndexTable::lru);
    m_last_use = cf(IndexTable::atime);
    m_backrefs = cf(IndexTable::backrefs);
    m_pins = cf(IndexTable::pins);
  }

  ~RocksIndex() override {
    for (auto* h : m_handles) {
      m_db->DestroyColumnFamilyHandle(h);
    }
    m_db->Close();
  }

  RocksIndex(const RocksIndex&) = delete;
  RocksIndex& operator=(const RocksIndex&) = delete;

  Result<std::optional<StoredBlob>> get_blob(const Hash& hash, WithData with_data) override {
    rocksdb::PinnableSlice value;
    const auto s = m_db->Get(lookup_options(), m_blobs, slice(hash), &value);
    if (s.IsNotFound()) {
      return std::optional<StoredBlob>{};
    }
    if (!s.ok()) {
      return to_error(s, "reading a blob record");
    }
    std::string_view data;
    auto record = decode_blob_value(value.ToStringView(), &data);
    if (!record) {
      return make_error(Errc::corrupt, "index: unreadable blob record; run `ingot fsck --repair`");
    }
    StoredBlob out{*record, {}};
    if (with_data == WithData::yes) {
      out.inline_data.assign(data);
    }
    return std::optional<StoredBlob>{std::move(out)};
  }

  Result<void> put_pending(const Hash& hash) override {
    rocksdb::WriteBatch batch;
    batch.Put(m_meta, pending_key(hash), "");
    return commit(batch, {}, "recording a pending blob");
  }

  Result<void> clear_pending(const Hash& hash) override {
    rocksdb::WriteBatch batch;
    batch.Delete(m_meta, pending_key(hash));
    return commit(batch, {}, "clearing a pending blob");
  }

  Result<std::vector<Hash>> list_pending() override {
    std::vector<Hash> out;
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions(), m_meta));
    for (it->Seek(k_pending_prefix); it->Valid() && it->key().starts_with(k_pending_prefix);
         it->Next()) {
      const auto key = it->key();
      if (key.size() != k_pending_prefix.size() + sizeof(Hash)) {
        continue;
      }
      Hash hash;
      std::memcpy(hash.data(), key.data() + k_pending_prefix.size(), hash.size());
      out.push_back(hash);
    }
    if (!it->status().ok()) {
      return to_error(it->status(), "listing pending blobs");
    }
    return out;
  }

  Result<void> put_blob(const Hash& hash, const BlobRecord& record, ByteView inline_data,
                        UsageDelta& delta, std::int64_t tick) override {
    auto old = last_use(hash);
    if (!old) {
      return std::move(old).error();
    }
    auto pins = pin_count(hash);
    if (!pins) {
      return std::move(pins).error();
    }
    rocksdb::WriteBatch batch;
    batch.Put(m_blobs, slice(hash), encode_blob_value(record, inline_data));
    if (!record.is_inline) {
      batch.Delete(m_meta, pending_key(hash));
    }
    move_in_order(batch, hash, *old, tick, *pins);
    if (*pins > 0) {
      delta.pinned_blobs += 1;
      delta.pinned_bytes += static_cast<std::int64_t>(record.stored_size);
    }
    return commit(batch, delta, "storing a blob record");
  }

  Result<void> delete_blob(const Hash& hash, const UsageDelta& delta) override {
    auto old = last_use(hash);
    if (!old) {
      return std::move(old).error();
    }
    rocksdb::WriteBatch batch;
    batch.Delete(m_blobs, slice(hash));
    if (*old) {
      batch.Delete(m_lru, lru_key(**old, hash));
      batch.Delete(m_last_use, slice(hash));
    }
    // The pin count stays: a purged blob of a pinned tree is pinned again when uploaded again.
    return commit(batch, delta, "removing a blob record");
  }

  Result<void> touch(const Hash& hash, std::int64_t tick) override {
    auto old = last_use(hash);
    if (!old) {
      return std::move(old).error();
    }
    if (!*old || **old >= tick) {
      return {}; // not stored, or already as recent
    }
    auto pins = pin_count(hash);
    if (!pins) {
      return std::move(pins).error();
    }
    rocksdb::WriteBatch batch;
    move_in_order(batch, hash, *old, tick, *pins);
    return commit(batch, {}, "recording a blob's use");
  }

  Result<std::optional<std::int64_t>> last_use(const Hash& hash) override {
    rocksdb::PinnableSlice value;
    const auto s = m_db->Get(rocksdb::ReadOptions(), m_last_use, slice(hash), &value);
    if (s.IsNotFound()) {
      return std::optional<std::int64_t>{};
    }
    if (!s.ok()) {
      return to_error(s, "reading a blob's last use");
    }
    auto tick = decode_int<std::int64_t>(value.ToStringView());
    if (!tick) {
      return make_error(Errc::corrupt,
                        "index: unreadable last-use time; run `ingot fsck --repair`");
    }
    return std::optional<std::int64_t>{*tick};
  }

  Result<std::vector<LruKey>> lru_scan(const LruKey& from, std::size_t limit) override {
    std::vector<LruKey> out;
    rocksdb::ReadOptions options;
    options.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(options, m_lru));
    for (it->Seek(lru_key(from.tick, from.hash)); it->Valid() && out.size() < limit; it->Next()) {
      if (auto key = parse_lru_key(it->key().ToStringView())) {
        out.push_back(*key);
      }
    }
    if (!it->status().ok()) {
      return to_error(it->status(), "reading the eviction order");
    }
    return out;
  }

  Result<std::uint32_t> pin_count(const Hash& hash) override {
    rocksdb::PinnableSlice value;
    const auto s = m_db->Get(rocksdb::ReadOptions(), m_pins, slice(hash), &value);
    if (s.IsNotFound()) {
      return std::uint32_t{0};
    }
    if (!s.ok()) {
      return to_error(s, "reading a pin count");
    }
    return decode_int<std::uint32_t>(value.ToStringView()).value_or(0);
  }

  Result<void> set_pin_count(const Hash& hash, std::uint32_t count,
                             const UsageDelta& delta) override {
    auto old = last_use(hash);
    if (!old) {
      return std::move(old).error();
    }
    auto pins = pin_count(hash);
    if (!pins) {
      return std::move(pins).error();
    }
    rocksdb::WriteBatch batch;
    if (count == 0) {
      batch.Delete(m_pins, slice(hash));
    } else {
      batch.Put(m_pins, slice(hash), encode_int(count));
    }
    if (*old && (*pins == 0) != (count == 0)) {
      if (count == 0) {
        batch.Put(m_lru, lru_key(**old, hash), "");
      } else {
        batch.Delete(m_lru, lru_key(**old, hash));
      }
    }
    return commit(batch, delta, "changing a pin");
  }

  Result<std::vector<Hash>> get_pin_set(std::string_view name) override {
    std::string value;
    const auto s = m_db->Get(rocksdb::ReadOptions(), m_meta,
                             std::string(k_pin_set_prefix) + std::string(name), &value);
    std::vector<Hash> out;
    if (s.IsNotFound()) {
      return out;
    }
    if (!s.ok()) {
      return to_error(s, "reading a pin set");
    }
    out.resize(value.size() / sizeof(Hash));
    if (!out.empty()) { // memcpy's pointers must not be null, even for 0 bytes
      std::memcpy(out.data(), value.data(), out.size() * sizeof(Hash));
    }
    return out;
  }

  Result<void> put_pin_set(std::string_view name, const std::vector<Hash>& hashes) override {
    rocksdb::WriteBatch batch;
    const auto key = std::string(k_pin_set_prefix) + std::string(name);
    if (hashes.empty()) {
      batch.Delete(m_meta, key);
    } else {
      batch.Put(m_meta, key,
                rocksdb::Slice(reinterpret_cast<const char*>(hashes.data()),
                               hashes.size() * sizeof(Hash)));
    }
    return commit(batch, {}, "storing a pin set");
  }

  Result<std::vector<std::pair<std::string, std::vector<Hash>>>> list_pin_sets() override {
    std::vector<std::pair<std::string, std::vector<Hash>>> out;
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions(), m_meta));
    for (it->Seek(k_pin_set_prefix); it->Valid() && it->key().starts_with(k_pin_set_prefix);
         it->Next()) {
      const auto value = it->value();
      std::vector<Hash> hashes(value.size() / sizeof(Hash));
      if (!hashes.empty()) { // memcpy's pointers must not be null, even for 0 bytes
        std::memcpy(hashes.data(), value.data(), hashes.size() * sizeof(Hash));
      }
      out.emplace_back(it->key().ToString().substr(k_pin_set_prefix.size()), std::move(hashes));
    }
    if (!it->status().ok()) {
      return to_error(it->status(), "listing pin sets");
    }
    return out;
  }

  Result<std::vector<std::pair<Hash, std::uint32_t>>> list_pin_counts() override {
    std::vector<std::pair<Hash, std::uint32_t>> out;
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions(), m_pins));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() != sizeof(Hash)) {
        continue; // not a hash: fsck reports it from its pass over the table
      }
      Hash hash;
      std::memcpy(hash.data(), it->key().data(), hash.size());
      // As pin_count() reads it: an unreadable count is none.
      out.emplace_back(hash, decode_int<std::uint32_t>(it->value().ToStringView()).value_or(0));
    }
    if (!it->status().ok()) {
      return to_error(it->status(), "listing pin counts");
    }
    return out;
  }

  Result<void> reset_recency(const Hash& hash, std::int64_t tick) override {
    auto old = last_use(hash);
    std::optional<std::int64_t> previous;
    if (old) {
      previous = *old;
    } else if (old.error().code != Errc::corrupt) {
      return std::move(old).error();
    }
    auto pins = pin_count(hash);
    if (!pins) {
      return std::move(pins).error();
    }
    rocksdb::WriteBatch batch;
    move_in_order(batch, hash, previous, tick, *pins);
    return commit(batch, {}, "restoring a blob's place in the eviction order");
  }

  Result<std::optional<std::string>> get_meta(std::string_view name) override {
    std::string value;
    const auto s = m_db->Get(rocksdb::ReadOptions(), m_meta,
                             std::string(k_meta_prefix) + std::string(name), &value);
    if (s.IsNotFound()) {
      return std::optional<std::string>{};
    }
    if (!s.ok()) {
      return to_error(s, "reading " + std::string(name));
    }
    return std::optional<std::string>{std::move(value)};
  }

  Result<void> put_meta(std::string_view name, std::string_view value) override {
    rocksdb::WriteBatch batch;
    batch.Put(m_meta, std::string(k_meta_prefix) + std::string(name), value);
    return commit(batch, {}, "storing a setting");
  }

  Result<void> add_usage(const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    return commit(batch, delta, "storing counters");
  }

  Result<void> compact() override {
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    for (auto* cf : {m_blobs, m_lru, m_last_use}) {
      if (const auto s = m_db->CompactRange(options, cf, nullptr, nullptr); !s.ok()) {
        return to_error(s, "compacting");
      }
    }
    return {};
  }

  std::uint64_t headroom() override {
    // Flushes: each writes a memtable to an L0 table while the log holding the same bytes
    // stays (until every column family has flushed past it).
    // Compactions: each writes its output before it deletes its inputs. One runs at a time
    // (max_background_jobs = 2 gives RocksDB one flush and one compaction thread; a manual
    // compaction waits for it), so the largest counts: one from L0 into L1. Keys are hashes
    // or ticks spread over the key space, so each L0 file overlaps all of L1, and the output
    // takes up to L0, L1 and the memtable flushed into L0 meanwhile. Below 256 MiB in a
    // column family (RocksDB's default L1 size) that is all it holds; past that, a deeper
    // compaction takes one file and its share of the next level, less than L1.
    std::uint64_t memtables = 0;
    std::uint64_t largest = 0;
    for (auto* cf : m_handles) {
      std::uint64_t memtable = 0;
      (void)m_db->GetIntProperty(cf, rocksdb::DB::Properties::kCurSizeAllMemTables, &memtable);
      rocksdb::ColumnFamilyMetaData meta;
      m_db->GetColumnFamilyMetaData(cf, &meta);
      std::uint64_t compacted = memtable;
      for (const auto& level : meta.levels) {
        if (level.level <= 1) {
          compacted += level.size;
        }
      }
      memtables += memtable;
      largest = std::max(largest, compacted);
    }
    return memtables + largest;
  }

  Result<void> set_usage(const UsageDelta& total) override {
    rocksdb::WriteBatch batch;
    batch.Put(m_meta, k_usage_key, encode_usage(total));
    return commit(batch, {}, "storing counters");
  }

  Result<std::optional<Entry>> get_entry(Namespace ns, std::string_view key) override {
    rocksdb::PinnableSlice value;
    const auto s = m_db->Get(lookup_options(), cf(ns), key, &value);
    if (s.IsNotFound()) {
      return std::optional<Entry>{};
    }
    if (!s.ok()) {
      return to_error(s, "reading a namespace entry");
    }
    auto entry = decode_entry(value.ToStringView());
    if (!entry) {
      return make_error(Errc::corrupt, "index: unreadable entry; run `ingot fsck --repair`");
    }
    return std::optional<Entry>{*entry};
  }

  Result<void> put_entry(Namespace ns, std::string_view key, const Entry& entry,
                         const std::optional<Hash>& previous, const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    batch.Put(cf(ns), key, encode_entry(entry));
    if (previous && *previous != entry.value.hash) {
      batch.Delete(m_backrefs, back_reference_key(*previous, ns, key));
    }
    batch.Put(m_backrefs, back_reference_key(entry.value.hash, ns, key), "");
    return commit(batch, delta, "storing an entry");
  }

  Result<void> delete_entry(Namespace ns, std::string_view key, const Hash& value,
                            const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    batch.Delete(cf(ns), key);
    batch.Delete(m_backrefs, back_reference_key(value, ns, key));
    return commit(batch, delta, "removing an entry");
  }

  Result<std::vector<EntryRef>> entries_of(const Hash& hash) override {
    std::vector<EntryRef> out;
    const auto prefix = slice(hash);
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions(), m_backrefs));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const auto key = it->key().ToStringView();
      if (auto parsed = parse_back_reference_key(key)) {
        out.push_back(std::move(parsed->second));
      }
    }
    if (!it->status().ok()) {
      return to_error(it->status(), "reading back references");
    }
    return out;
  }

  Result<void> delete_back_reference(const Hash& hash, const EntryRef& ref) override {
    rocksdb::WriteBatch batch;
    batch.Delete(m_backrefs, back_reference_key(hash, ref.ns, ref.key));
    return commit(batch, {}, "removing a back reference");
  }

  Result<std::vector<std::pair<std::string, Entry>>>
  list_entries(Namespace ns, std::string_view prefix, std::size_t limit) override {
    std::vector<std::pair<std::string, Entry>> out;
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(rocksdb::ReadOptions(), cf(ns)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
         it->Next()) {
      if (auto entry = decode_entry(it->value().ToStringView())) {
        out.emplace_back(it->key().ToString(), *entry);
      }
    }
    if (!it->status().ok()) {
      return to_error(it->status(), "listing entries");
    }
    return out;
  }

  Result<UsageDelta> load_usage() override { return read_usage(rocksdb::ReadOptions()); }

  Result<void> for_each_blob(const BlobVisitor& visit) override {
    rocksdb::ReadOptions options;
    options.fill_cache = false; // a full pass must not evict the hot set
    std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(options, m_blobs));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const auto key = it->key();
      auto record = decode_blob_value(it->value().ToStringView());
      if (key.size() != sizeof(Hash) || !record) {
        return make_error(Errc::corrupt, "index: unreadable blob record; run `ingot fsck`");
      }
      Hash hash;
      std::memcpy(hash.data(), key.data(), hash.size());
      if (!visit(hash, *record)) {
        return {};
      }
    }
    if (!it->status().ok()) {
      return to_error(it->status(), "scanning blob records");
    }
    return {};
  }

  Result<UsageDelta> for_each_raw(const RawVisitor& visit) override {
    // One snapshot for the records and the counters: every commit writes both in one batch,
    // so in a snapshot they agree unless something is wrong, whatever writes run meanwhile.
    rocksdb::ManagedSnapshot snapshot(m_db.get());
    rocksdb::ReadOptions options;
    options.snapshot = snapshot.snapshot();
    options.fill_cache = false; // a full pass must not evict the hot set
    for (const auto table : k_index_tables) {
      std::unique_ptr<rocksdb::Iterator> it(m_db->NewIterator(options, cf(table)));
      bool more = true;
      for (it->SeekToFirst(); more && it->Valid(); it->Next()) {
        more = visit(table, it->key().ToStringView(), it->value().ToStringView());
      }
      if (!it->status().ok()) {
        return to_error(it->status(), "scanning index records");
      }
      if (!more) {
        break;
      }
    }
    return read_usage(options);
  }

  Result<void> delete_raw(IndexTable table, std::string_view key,
                          const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    batch.Delete(cf(table), key);
    return commit(batch, delta, "removing an index record");
  }

  Result<bool> has_raw(IndexTable table, std::string_view key) override {
    rocksdb::PinnableSlice value;
    const auto s = m_db->Get(rocksdb::ReadOptions(), cf(table), key, &value);
    if (s.IsNotFound()) {
      return false;
    }
    if (!s.ok()) {
      return to_error(s, "reading an index record");
    }
    return true;
  }

private:
  // The usage counters as of `options` (a snapshot, or now).
  Result<UsageDelta> read_usage(const rocksdb::ReadOptions& options) {
    std::string value;
    const auto s = m_db->Get(options, m_meta, k_usage_key, &value);
    if (s.IsNotFound()) {
      return UsageDelta{};
    }
    if (!s.ok()) {
      return to_error(s, "reading usage counters");
    }
    auto usage = decode_usage(value);
    if (!usage) {
      return make_error(Errc::corrupt, "index: unreadable usage counters");
    }
    return *usage;
  }

  rocksdb::ColumnFamilyHandle* cf(Namespace ns) const { return cf(table_of(ns)); }

  // Puts a blob at `tick` in the eviction order (from `old`), or only records the use when a
  // pin keeps it out of that order.
  void move_in_order(rocksdb::WriteBatch& batch, const Hash& hash,
                     const std::optional<std::int64_t>& old, std::int64_t tick,
                     std::uint32_t pins) {
    if (old && pins == 0) {
      batch.Delete(m_lru, lru_key(*old, hash));
    }
    if (pins == 0) {
      batch.Put(m_lru, lru_key(tick, hash), "");
    }
    batch.Put(m_last_use, slice(hash), encode_int(tick));
  }

  // Handles follow the descriptor order in open(): the default column family, then the tables.
  rocksdb::ColumnFamilyHandle* cf(IndexTable table) const {
    return m_handles[1 + static_cast<std::size_t>(table)];
  }

  Result<void> commit(rocksdb::WriteBatch& batch, const UsageDelta& delta, const char* what) {
    if (!is_zero(delta)) {
      batch.Merge(m_meta, k_usage_key, encode_usage(delta));
    }
    // The WAL is written but not fsynced per commit: a killed process loses nothing (the
    // kernel has the bytes), a power cut may lose the last commits, never half of one.
    const auto s = m_db->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok()) {
      return to_error(s, what);
    }
    return {};
  }

  std::unique_ptr<rocksdb::DB> m_db;
  std::vector<rocksdb::ColumnFamilyHandle*> m_handles;
  rocksdb::ColumnFamilyHandle* m_blobs = nullptr;
  rocksdb::ColumnFamilyHandle* m_meta = nullptr;
  rocksdb::ColumnFamilyHandle* m_lru = nullptr;
  rocksdb::ColumnFamilyHandle* m_last_use = nullptr;
  rocksdb::ColumnFamilyHandle* m_backrefs = nullptr;
  rocksdb::ColumnFamilyHandle* m_pins = nullptr;
};

} // namespace

std::unique_ptr<Index> make_rocks_index(std::unique_ptr<rocksdb::DB> db,
                                        std::vector<rocksdb::ColumnFamilyHandle*> handles) {
  return std::make_unique<RocksIndex>(std::move(db), std::move(handles));
}

} // namespace ingot::cas
