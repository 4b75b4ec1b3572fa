// Opening the index: RocksDB's options, sized from --max-size, and its tables.
#include "cas/index_rocks.hpp"

#include <algorithm>

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>

namespace ingot::cas {

namespace {

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

std::shared_ptr<rocksdb::MergeOperator> usage_merge_operator() {
  return std::make_shared<UsageMerge>();
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
  meta.merge_operator = usage_merge_operator();

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
  return make_rocks_index(std::unique_ptr<rocksdb::DB>(raw), std::move(handles));
}

} // namespace ingot::cas
