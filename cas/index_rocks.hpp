// Internal to cas/: what the RocksDB index's files share (index.cpp, index_keys.cpp,
// index_open.cpp), and what a test that opens the index with RocksDB itself needs to open it
// as the store does.
#pragma once

#include "cas/index.hpp"

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/slice.h>

namespace ingot::cas {

// --- key formats (index_keys.cpp) ---
// The eviction order's key: the tick big-endian, so that keys sort by time, then the hash.
std::string lru_key(std::int64_t tick, const Hash& h);
std::string back_reference_key(const Hash& h, Namespace ns, std::string_view key);
std::string pending_key(const Hash& h);

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

inline rocksdb::Slice slice(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

// The one conversion of a RocksDB status into an Error.
Error to_error(const rocksdb::Status& s, const std::string& what);

// --- opening (index_open.cpp) ---
// Sums usage deltas, so concurrent commits add to the counters without a read-modify-write:
// the meta table's merge operator.
std::shared_ptr<rocksdb::MergeOperator> usage_merge_operator();

// --- the index itself (index.cpp) ---
// Takes the open database; `handles` follow open()'s descriptor order: the default column
// family, then k_index_tables.
std::unique_ptr<Index> make_rocks_index(std::unique_ptr<rocksdb::DB> db,
                                        std::vector<rocksdb::ColumnFamilyHandle*> handles);

} // namespace ingot::cas
