// On-disk encodings of index values. Each starts with a format version byte so that later
// versions can add fields and still read what earlier ones wrote.
#pragma once

#include "cas/digest.hpp"
#include "cas/store.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ingot::cas {

struct BlobRecord {
  std::uint64_t size = 0;
  std::uint64_t stored_size = 0;
  Codec codec = Codec::raw;
  bool is_inline = false;
  std::uint64_t xxh3 = 0; // XXH3-64 of the stored bytes
  std::int64_t created_unix_s = 0;
};

// A blob's index value: the record, followed by the stored bytes when the blob is inline.
std::string encode_blob_value(const BlobRecord& record, ByteView inline_data);
// Returns nullopt for a value this version cannot read; `inline_data` views into `value`.
std::optional<BlobRecord> decode_blob_value(std::string_view value,
                                            std::string_view* inline_data = nullptr);

std::string encode_entry(const Entry& entry);
std::optional<Entry> decode_entry(std::string_view value);

// What a record adds to the index besides inline bytes: key, record, last use, eviction order.
inline constexpr std::uint64_t k_record_overhead = 160;

// Accounting deltas, summed by the index's merge operator.
struct UsageDelta {
  std::int64_t blobs = 0;
  std::int64_t logical_bytes = 0;
  std::int64_t stored_bytes = 0;
  std::int64_t ac_entries = 0;
  std::int64_t kv_entries = 0;
  // Added in usage format 2; a format 1 value decodes with these at zero and `complete` false.
  std::int64_t file_bytes = 0; // stored bytes of blobs kept as files (the rest are inline)
  std::int64_t pinned_blobs = 0;
  std::int64_t pinned_bytes = 0; // stored bytes of pinned blobs
  std::int64_t hits = 0;         // lookups that found what they asked for
  std::int64_t misses = 0;
  std::int64_t ref_entries = 0;
  bool complete = true;
};
// The entry counter of a namespace.
std::int64_t& entries_field(UsageDelta& delta, Namespace ns);
std::string encode_usage(const UsageDelta& delta);
std::optional<UsageDelta> decode_usage(std::string_view value);
UsageDelta add(const UsageDelta& a, const UsageDelta& b);
bool is_zero(const UsageDelta& d);

} // namespace ingot::cas
