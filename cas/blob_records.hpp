// Internal to cas/: blob records and their files. A blob is visible once its record is in the
// index; a large one's file is renamed into blobs/ just before (cas/blob_files.hpp). Commit and
// removal of one digest serialise on its lock, which recency, pins, eviction and fsck take too.
#pragma once

#include "cas/blob_files.hpp"
#include "cas/index.hpp"
#include "cas/recency.hpp"
#include "cas/store.hpp"

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace ingot::cas {

class SpaceAccount;
class UsageCounters;

// Where a blob's stored bytes come from: the index (inline) or a file.
class StoredSource {
public:
  virtual ~StoredSource() = default;
  // Reads up to out.size() bytes at offset; fewer only at the end.
  [[nodiscard]] virtual Result<std::size_t> read_at(std::uint64_t offset, MutableByteView out) = 0;
  // The open file the bytes are read from, or -1 when they are in memory.
  virtual int fd() const { return -1; }
};

// store_reader.cpp
std::unique_ptr<StoredSource> inline_source(std::string bytes);
std::unique_ptr<StoredSource> file_source(UniqueFd fd, std::filesystem::path path);
[[nodiscard]] Result<std::unique_ptr<BlobReader>>
make_reader(const BlobInfo& info, std::unique_ptr<StoredSource> source, const ReadOptions& options);

// A stored blob's bytes against its checksum.
enum class BlobCheck {
  ok,
  corrupt,
  missing, // indexed, but the file is gone
  gone,    // removed while being checked: not damage
};

class BlobRecords {
public:
  BlobRecords(Index& index, BlobFiles files, UsageCounters& usage, SpaceAccount& space,
              Recency& recency);
  BlobRecords(const BlobRecords&) = delete;
  BlobRecords& operator=(const BlobRecords&) = delete;

  // Serialises commit and removal of one digest against each other, so that "is it there?"
  // and the index write that follows agree.
  std::mutex& lock(const Hash& hash) { return m_locks[hash[1] % m_locks.size()]; }
  BlobFiles& files() { return m_files; }

  // A stored blob's info; a use of kind `use` when it is there.
  [[nodiscard]] Result<BlobInfo> stat(const Hash& hash, Use use);
  // Whether it is stored; a use of kind `use` when it is (a blob uploaded again is written,
  // not read).
  bool contains(const Hash& hash, Use use);
  [[nodiscard]] Result<std::unique_ptr<BlobReader>>
  open_read(const Hash& hash, FunctionRef<ReadOptions(const BlobInfo&)> plan);
  [[nodiscard]] Result<std::string> get(const Hash& hash);

  // For writers: make a finished blob visible. A blob already present is kept as it is.
  [[nodiscard]] Result<void> commit_inline(const Digest& digest, const BlobRecord& record,
                                           ByteView stored);
  [[nodiscard]] Result<void> commit_file(const Digest& digest, const BlobRecord& record,
                                         TempFile& file);
  // Removes a blob with its record (the caller holds its lock).
  [[nodiscard]] Result<void> erase(const Hash& hash, const BlobRecord& record);
  // For recency: moves a blob to `tick` in the eviction order, if it is still stored.
  [[nodiscard]] Result<void> touch_stored(const Hash& hash, std::int64_t tick);

  [[nodiscard]] Result<BlobCheck> check(const Hash& hash, const BlobRecord& record);
  [[nodiscard]] Result<void> verify(const Hash& hash);
  [[nodiscard]] Result<ScrubReport> scrub();

private:
  [[nodiscard]] Result<bool> stored_already(const Hash& hash);
  [[nodiscard]] Result<std::unique_ptr<StoredSource>> source_of(const Hash& hash, StoredBlob& blob);

  Index& m_index;
  BlobFiles m_files;
  UsageCounters& m_usage;
  SpaceAccount& m_space;
  Recency& m_recency;
  std::array<std::mutex, 64> m_locks;
};

// A blob's info from its record.
BlobInfo info_of(const Hash& hash, const BlobRecord& record);
Error missing_blob(const Hash& hash);

} // namespace ingot::cas
