// Internal to cas/: one run of Store::fsck. fsck.cpp checks blob records and namespace
// entries; fsck_index.cpp the tables derived from them (pins, last uses, the eviction order,
// back references) and the usage counters; fsck_files.cpp blobs/ and tmp/.
#pragma once

#include "cas/blob_records.hpp"
#include "cas/entries.hpp"
#include "cas/hash_hasher.hpp"
#include "cas/index.hpp"
#include "cas/pins.hpp"
#include "cas/usage_counters.hpp"

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ingot::cas {

// What fsck works with: the store's parts, for their locks, and the index's records as
// stored. Removals and the empty blob's rewrite go through the store itself, so that they
// maintain what any removal or write does.
struct FsckParts {
  Store& store;
  Index& index;
  BlobRecords& records; // per-digest locks, checksums, files
  Entries& entries;     // per-key locks
  Pins& pins;           // the pin lock
  UsageCounters& usage;
};

class FsckRun {
public:
  FsckRun(const FsckParts& parts, Repair repair) : m_parts(parts), m_repair(repair) {}

  Result<FsckReport> run();

private:
  // Says what a repair did, or fails saying why it could not.
  using Fix = std::function<Result<std::string>()>;

  static std::string hex_of(std::string_view bytes);
  // Namespace keys and pin set names, quoted and escaped to stay on one line.
  static std::string quoted(std::string_view key);
  void found(FsckIssue issue, std::string subject, std::string detail, const Fix& fix);
  std::string shown(const Hash& hash) const;
  // One record of the snapshot, handed to the check of its table.
  Result<void> check_record(IndexTable table, std::string_view key, std::string_view value);

  // --- blob records (fsck.cpp) ---
  Result<void> check_blob(std::string_view key, std::string_view value);
  Result<std::string> drop_blob(const Hash& hash, const BlobRecord& record, std::string action);
  Result<std::string> drop_unreadable_blob(const Hash& hash);
  Result<void> rewrite_empty_blob(const BlobRecord* record);
  bool is_pinned(const Hash& hash) const;
  void found_pinned(FsckIssue issue, const Hash& hash, const BlobRecord& record,
                    std::string detail);

  // --- namespace entries (fsck.cpp) ---
  Result<void> check_entry(Namespace ns, std::string_view key, std::string_view value);
  Result<void> keep_if_pinned(Namespace ns, std::string_view key);
  Result<std::string> drop_entry(Namespace ns, std::string_view key,
                                 const std::optional<Digest>& value, const std::string& why);

  // --- files (fsck_files.cpp) ---
  Result<void> scan_blob_files();
  Result<void> scan_shard(const std::filesystem::path& dir, const std::string& shard);
  Result<void> check_blob_file(const std::filesystem::directory_entry& entry,
                               const std::string& shard);
  Result<void> scan_tmp();
  void report_removed_temps();

  // --- derived tables and counters (fsck_index.cpp) ---
  Result<void> check_meta(std::string_view key, std::string_view value);
  Result<void> check_pin_record(std::string_view key, std::string_view value);
  Result<void> check_recency(const Hash& hash, const BlobRecord& record);
  Result<void> check_last_use(std::string_view key, std::string_view value);
  Result<void> check_lru(std::string_view key);
  Result<void> check_back_reference(std::string_view key);
  void bad_record(IndexTable table, std::string_view key, const std::string& why);
  Result<void> set_pin_count(const Hash& hash, std::optional<std::uint32_t> want);
  Result<void> check_pins();
  // Fills in `pinned_by` of the findings about pinned blobs.
  Result<void> name_pin_sets();
  void check_usage(const UsageDelta& recorded);

  FsckParts m_parts;
  Repair m_repair;
  FsckReport m_report;
  UsageDelta m_counted; // what the records in the snapshot add up to
  // Blobs found damaged, with what is wrong: entries naming them are dropped along with them.
  std::unordered_map<Hash, std::string, HashHasher> m_damaged;
  // Pin counts of the snapshot (its pins table precedes its blobs), for the pinned counters.
  std::unordered_map<Hash, std::uint32_t, HashHasher> m_pins;
};

} // namespace ingot::cas
