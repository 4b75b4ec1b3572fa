// The index: blob records (with inline blobs' bytes), namespace entries and usage counters,
// kept in RocksDB. Every mutation is one atomic WriteBatch that also carries its usage delta,
// so the persisted accounting always matches the records.
#pragma once

#include "cas/record.hpp"
#include "util/result.hpp"

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

// The index's tables of records, for fsck's raw access.
enum class IndexTable : std::uint8_t { blobs, ac, kv };

class Index {
public:
  [[nodiscard]] static Result<std::unique_ptr<Index>> open(const std::filesystem::path& dir);
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
  [[nodiscard]] virtual Result<void> put_blob(const Hash& hash, const BlobRecord& record,
                                              ByteView inline_data, const UsageDelta& delta) = 0;
  [[nodiscard]] virtual Result<void> delete_blob(const Hash& hash, const UsageDelta& delta) = 0;

  [[nodiscard]] virtual Result<std::optional<Entry>> get_entry(Namespace ns,
                                                               std::string_view key) = 0;
  [[nodiscard]] virtual Result<void> put_entry(Namespace ns, std::string_view key,
                                               const Entry& entry, const UsageDelta& delta) = 0;
  [[nodiscard]] virtual Result<void> delete_entry(Namespace ns, std::string_view key,
                                                  const UsageDelta& delta) = 0;

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
  // Commits a usage delta alone: fsck's correction when the counters and records disagree.
  [[nodiscard]] virtual Result<void> add_usage(const UsageDelta& delta) = 0;
};

} // namespace ingot::cas
