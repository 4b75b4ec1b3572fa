#include "cas/index.hpp"

#include <cstring>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

namespace ingot::cas {

namespace {

constexpr const char* k_cf_blobs = "blobs";
constexpr const char* k_cf_ac = "ac";
constexpr const char* k_cf_kv = "kv";
constexpr const char* k_cf_meta = "meta";
constexpr std::string_view k_usage_key = "usage";
constexpr std::string_view k_pending_prefix = "pending/";

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

bool is_zero(const UsageDelta& d) {
  return d.blobs == 0 && d.logical_bytes == 0 && d.stored_bytes == 0 && d.ac_entries == 0 &&
         d.kv_entries == 0;
}

class RocksIndex final : public Index {
public:
  RocksIndex(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : m_db(std::move(db)), m_handles(std::move(handles)) {
    // Handles follow the descriptor order in open(): default, blobs, ac, kv, meta.
    m_blobs = m_handles[1];
    m_ac = m_handles[2];
    m_kv = m_handles[3];
    m_meta = m_handles[4];
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
                        const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    batch.Put(m_blobs, slice(hash), encode_blob_value(record, inline_data));
    if (!record.is_inline) {
      batch.Delete(m_meta, pending_key(hash));
    }
    return commit(batch, delta, "storing a blob record");
  }

  Result<void> delete_blob(const Hash& hash, const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    batch.Delete(m_blobs, slice(hash));
    return commit(batch, delta, "removing a blob record");
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
                         const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    batch.Put(cf(ns), key, encode_entry(entry));
    return commit(batch, delta, "storing an entry");
  }

  Result<void> delete_entry(Namespace ns, std::string_view key, const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    batch.Delete(cf(ns), key);
    return commit(batch, delta, "removing an entry");
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
    for (const auto table : {IndexTable::blobs, IndexTable::ac, IndexTable::kv}) {
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

  Result<void> add_usage(const UsageDelta& delta) override {
    rocksdb::WriteBatch batch;
    return commit(batch, delta, "correcting usage counters");
  }

private:
  rocksdb::ColumnFamilyHandle* cf(IndexTable table) const {
    switch (table) {
    case IndexTable::blobs:
      return m_blobs;
    case IndexTable::ac:
      return m_ac;
    case IndexTable::kv:
      break;
    }
    return m_kv;
  }

  rocksdb::ColumnFamilyHandle* cf(Namespace ns) const { return ns == Namespace::ac ? m_ac : m_kv; }

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
  rocksdb::ColumnFamilyHandle* m_ac = nullptr;
  rocksdb::ColumnFamilyHandle* m_kv = nullptr;
  rocksdb::ColumnFamilyHandle* m_meta = nullptr;
};

rocksdb::ColumnFamilyOptions table_options(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Bloom filters make misses (FindMissing, cache misses) cost no disk read.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = 16 << 20;
  return cf;
}

} // namespace

Result<std::unique_ptr<Index>> Index::open(const std::filesystem::path& dir) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 3;
  options.max_total_wal_size = 64 << 20;
  options.db_write_buffer_size = 64 << 20;

  auto cache = rocksdb::NewLRUCache(64 << 20);
  auto blobs = table_options(cache);
  // Blob values are already compressed by the writer when that pays.
  blobs.compression = rocksdb::kNoCompression;
  auto small = table_options(cache);
  small.write_buffer_size = 4 << 20;
  auto meta = small;
  meta.merge_operator = std::make_shared<UsageMerge>();

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors{
      {rocksdb::kDefaultColumnFamilyName, small},
      {k_cf_blobs, blobs},
      {k_cf_ac, small},
      {k_cf_kv, small},
      {k_cf_meta, meta},
  };
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
