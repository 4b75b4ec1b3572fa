// Internal to cas/: the Store implementation shared by store.cpp, store_writer.cpp and
// store_reader.cpp.
#pragma once

#include "cas/blob_files.hpp"
#include "cas/index.hpp"
#include "cas/lock_file.hpp"
#include "cas/store.hpp"

#include <array>
#include <atomic>
#include <mutex>

namespace ingot::cas {

// Where a blob's stored bytes come from: the index (inline) or a file.
class StoredSource {
public:
  virtual ~StoredSource() = default;
  // Reads up to out.size() bytes at offset; fewer only at the end.
  [[nodiscard]] virtual Result<std::size_t> read_at(std::uint64_t offset, MutableByteView out) = 0;
};

std::unique_ptr<StoredSource> inline_source(std::string bytes);
std::unique_ptr<StoredSource> file_source(UniqueFd fd, std::filesystem::path path);

[[nodiscard]] Result<std::unique_ptr<BlobReader>>
make_reader(const BlobInfo& info, std::unique_ptr<StoredSource> source, const ReadOptions& options);

class StoreImpl;
std::unique_ptr<BlobWriter> make_writer(StoreImpl& store, std::optional<Digest> expected);

class StoreImpl final : public Store {
public:
  StoreImpl(const StoreOptions& options, LockFile lock, std::unique_ptr<Index> index,
            BlobFiles files, const UsageDelta& usage);

  Result<std::unique_ptr<BlobWriter>> begin_write(std::optional<Digest> expected) override;
  Result<Digest> put(ByteView data, std::optional<Digest> expected) override;
  Result<BlobInfo> stat(const Hash& hash) override;
  bool contains(const Hash& hash) override;
  Result<std::unique_ptr<BlobReader>> open_read(const Hash& hash,
                                                const ReadOptions& options) override;
  Result<std::string> get(const Hash& hash) override;
  Result<void> remove(const Hash& hash) override;
  Result<void> verify(const Hash& hash) override;
  Result<ScrubReport> scrub() override;
  Result<FsckReport> fsck(Repair repair) override; // in store_fsck.cpp
  Usage usage() const override;
  Result<Entry> ns_get(Namespace ns, std::string_view key) override;
  Result<void> ns_put(Namespace ns, std::string_view key, const Digest& value) override;
  Result<void> ns_remove(Namespace ns, std::string_view key) override;

  // For writers: make a finished blob visible. A blob already present is kept as it is.
  [[nodiscard]] Result<void> commit_inline(const Digest& digest, const BlobRecord& record,
                                           ByteView stored);
  [[nodiscard]] Result<void> commit_file(const Digest& digest, const BlobRecord& record,
                                         TempFile& file);

  const StoreOptions& options() const { return m_options; }
  BlobFiles& files() { return m_files; }

private:
  friend class FsckRun; // store_fsck.cpp: checks and repairs under the same locks as writes

  enum class Check {
    ok,
    corrupt,
    missing, // indexed, but the file is gone
    gone,    // removed while being checked: not damage
  };
  [[nodiscard]] Result<Check> check(const Hash& hash, const BlobRecord& record);
  [[nodiscard]] Result<std::unique_ptr<StoredSource>> source_of(const Hash& hash, StoredBlob& blob);
  std::mutex& stripe(const Hash& hash);
  std::mutex& stripe(std::string_view key);
  void apply(const UsageDelta& delta);

  StoreOptions m_options;
  LockFile m_lock;
  std::unique_ptr<Index> m_index;
  BlobFiles m_files;

  // Serialises commit and removal of one digest (or one namespace key) against each other,
  // so that "is it there?" and the index write that follows agree.
  std::array<std::mutex, 64> m_stripes;

  std::atomic<std::uint64_t> m_blobs{0};
  std::atomic<std::uint64_t> m_logical_bytes{0};
  std::atomic<std::uint64_t> m_stored_bytes{0};
  std::atomic<std::uint64_t> m_ac_entries{0};
  std::atomic<std::uint64_t> m_kv_entries{0};
};

} // namespace ingot::cas
