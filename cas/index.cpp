#include "cas/index.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/metadata.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_batch.h>

namespace ingot::cas {

namespace {

std::string lru_key(std::int64_t tick, const Hash& h) {
  std::string key(8 + h.size(), '\0');
  const auto t = static_cast<std::uint64_t>(tick);
  for (int i = 0; i < 8; ++i) {
    key[static_cast<std::size_t>(i)] = static_cast<char>((t >> (56 - 8 * i)) & 0xff);
  }
  std::memcpy(key.data() + 8, h.data(), h.size());
  return key;
}

template <class T>
std::string encode_int(T v) {
  std::string out(sizeof(T), '\0');
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

template <class T>
std::optional<T> decode_int(std::string_view in) {
  if (in.size() != sizeof(T)) {
    return std::nullopt;
  }
  T v;
  std::memcpy(&v, in.data(), sizeof(T));
  return v;
}

std::string back_reference_key(const Hash& h, Namespace ns, std::string_view key) {
  std::string out(reinterpret_cast<const char*>(h.data()), h.size());
  out.push_back(static_cast<char>(ns));
  out.append(key);
  return out;
}

std::string pending_key(const Hash& h) {
  std::string key(k_pending_prefix);
  key.append(reinterpret_cast<const char*>(h.data()), h.size());
  return key;
}

Error to_error(const rocksdb::Status& s, const std::string& what) {
  Errc code = Errc::io;
  if (s.IsNoSpace()) {
    code = Errc::no_space;
  } else if (s.IsCorruption()) {
    code = Errc::corrupt;
  } else if (s.IsNotFound()) {
    code = Errc::not_found;
  } else if (s.IsBusy() || s.IsTimedOut()) {
    code = Errc::busy;
  }
  return make_error(code, "index: " + what + ": " + s.ToString());
}

rocksdb::Slice slice(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

// Sums usage deltas, so concurrent commits add to the counters without a read-modify-write.
class UsageMerge final : public rocksdb::AssociativeMergeOperator {
public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    UsageDelta sum;
    if (existing != nullptr) {
      auto e = decode_usage(existing->ToStringView());
      if (!e) {
        return false;
      }
      sum = *e;
    }
    auto d = decode_usage(value.ToStringView());
    if (!d) {
      return false;
    }
    *new_value = encode_usage(add(sum, *d));
    return true;
  }
  const char* Name() const override { return "IngotUsageMerge"; }
};

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
    const auto s = m_db->Get(rocksdb::ReadOptions(), m_blobs, slice(hash), &value);
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
    const auto s = m_db->Get(rocksdb::ReadOptions(), cf(ns), key, &value);
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

  Result<UsageDelta> load_usage() override {
    std::string value;
    const auto s = m_db->Get(rocksdb::ReadOptions(), m_meta, k_usage_key, &value);
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

rocksdb::ColumnFamilyOptions table_options(const std::shared_ptr<rocksdb::Cache>& cache,
                                           std::uint64_t write_buffer) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Bloom filters make misses (FindMissing, cache misses) cost no disk read.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = write_buffer;
  // Eviction deletes in bulk: files dense with tombstones are compacted soon, so the space
  // comes back and scans of the eviction order do not wade through deleted keys.
  cf.table_properties_collector_factories.push_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(256, 64));
  // Compactions write their output before they drop their inputs: smaller ones keep that
  // transient disk use small next to --max-size. This bounds compactions below L1 only; one
  // from L0 takes all of L1, as headroom() counts.
  cf.target_file_size_base = std::max<std::uint64_t>(write_buffer, 1 << 20);
  // headroom() counts on L0 compacting into L1 (RocksDB's default before 8.4; said here so
  // that a newer RocksDB does not compact L0 into the last level instead).
  cf.level_compaction_dynamic_level_bytes = false;
  cf.max_compaction_bytes = 8 * cf.target_file_size_base;
  return cf;
}

} // namespace

std::optional<LruKey> parse_lru_key(std::string_view key) {
  if (key.size() != 8 + sizeof(Hash)) {
    return std::nullopt;
  }
  std::uint64_t t = 0;
  for (int i = 0; i < 8; ++i) {
    t = (t << 8) | static_cast<std::uint8_t>(key[static_cast<std::size_t>(i)]);
  }
  LruKey out;
  out.tick = static_cast<std::int64_t>(t);
  std::memcpy(out.hash.data(), key.data() + 8, out.hash.size());
  return out;
}

std::optional<std::pair<Hash, EntryRef>> parse_back_reference_key(std::string_view key) {
  if (key.size() <= sizeof(Hash) ||
      static_cast<std::uint8_t>(key[sizeof(Hash)]) >= k_namespaces.size()) {
    return std::nullopt;
  }
  Hash hash;
  std::memcpy(hash.data(), key.data(), hash.size());
  return std::pair{hash, EntryRef{static_cast<Namespace>(key[sizeof(Hash)]),
                                  std::string(key.substr(sizeof(Hash) + 1))}};
}

Result<std::unique_ptr<Index>> Index::open(const std::filesystem::path& dir,
                                           const IndexOptions& index_options) {
  const std::uint64_t buffer = index_options.write_buffer_size;
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  // RocksDB's info LOG (compactions, flushes, stalls) grows without end unless rolled: it
  // is rolled at the size of a write buffer, within 256 KiB .. 4 MiB, and two old ones kept,
  // so it takes little of a small --max-size.
  options.max_log_file_size = std::clamp<std::uint64_t>(buffer, 256 << 10, 4 << 20);
  options.keep_log_file_num = 2;
  options.recycle_log_file_num = 0;
  options.max_total_wal_size = 4 * buffer;
  options.db_write_buffer_size = 4 * buffer;
  options.max_manifest_file_size = 4 << 20;

  auto cache = rocksdb::NewLRUCache(64 << 20);
  auto blobs = table_options(cache, buffer);
  // Blob values are already compressed by the writer when that pays.
  blobs.compression = rocksdb::kNoCompression;
  auto small = table_options(cache, std::max<std::uint64_t>(buffer / 4, 64 << 10));
  auto meta = small;
  meta.merge_operator = std::make_shared<UsageMerge>();

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors{
      {rocksdb::kDefaultColumnFamilyName, small}};
  for (const auto table : k_index_tables) {
    descriptors.emplace_back(std::string(to_string(table)), table == IndexTable::blobs  ? blobs
                                                            : table == IndexTable::meta ? meta
                                                                                        : small);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const auto s = rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &raw);
  if (!s.ok()) {
    return to_error(s, "cannot open " + dir.string());
  }
  return std::unique_ptr<Index>(
      std::make_unique<RocksIndex>(std::unique_ptr<rocksdb::DB>(raw), std::move(handles)));
}

} // namespace ingot::cas
