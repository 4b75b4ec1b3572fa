// On-disk encodings of index values. Each starts with a format version byte so that later
// versions can add fields and still read what earlier ones wrote.
#pragma once

#include "cas/digest.hpp"
#include "cas/store.hpp"

#include <array>
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
  // Added in usage format 3; a format 2 value decodes with it at zero and still `complete`:
  // the versions that wrote format 2 had no nix namespace, so zero is its exact count.
  std::int64_t nix_entries = 0;
  bool complete = true;
};

// Whether fsck can recount a counter from the records (hits and misses are history).
enum class Recount { no, yes };

struct UsageField {
  std::int64_t UsageDelta::*member;
  std::string_view name; // as fsck reports it: "pinned bytes"
  Recount recount;
};

// Every counter, in its encoded order (format 1 had the first five, format 2 up to ref entries):
// encoding, sums and fsck's recount all go through this list. Append only, with a new format in
// cas/record.cpp, so that values already written still decode.
inline constexpr std::array k_usage_fields{
    UsageField{&UsageDelta::blobs, "blobs", Recount::yes},
    UsageField{&UsageDelta::logical_bytes, "logical bytes", Recount::yes},
    UsageField{&UsageDelta::stored_bytes, "stored bytes", Recount::yes},
    UsageField{&UsageDelta::ac_entries, "ac entries", Recount::yes},
    UsageField{&UsageDelta::kv_entries, "kv entries", Recount::yes},
    UsageField{&UsageDelta::file_bytes, "file bytes", Recount::yes},
    UsageField{&UsageDelta::pinned_blobs, "pinned blobs", Recount::yes},
    UsageField{&UsageDelta::pinned_bytes, "pinned bytes", Recount::yes},
    UsageField{&UsageDelta::hits, "hits", Recount::no},
    UsageField{&UsageDelta::misses, "misses", Recount::no},
    UsageField{&UsageDelta::ref_entries, "ref entries", Recount::yes},
    UsageField{&UsageDelta::nix_entries, "nix entries", Recount::yes},
};
// A counter added to UsageDelta but not to the list would be neither persisted nor checked.
static_assert(sizeof(UsageDelta) == (k_usage_fields.size() + 1) * sizeof(std::int64_t),
              "every std::int64_t counter of UsageDelta must be in k_usage_fields");

// The entry counter of a namespace.
std::int64_t& entries_field(UsageDelta& delta, Namespace ns);
std::string encode_usage(const UsageDelta& delta);
std::optional<UsageDelta> decode_usage(std::string_view value);
UsageDelta add(const UsageDelta& a, const UsageDelta& b);
bool is_zero(const UsageDelta& d);

} // namespace ingot::cas
