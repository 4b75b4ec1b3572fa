// The content-addressed store: blobs by SHA-256, and the namespaces (`ac`, `kv`, `ref`, `nix`)
// over them.
//
// Small blobs live inline in the index (RocksDB); large ones are files under blobs/, written
// through tmp/ and renamed into place before the index commit, so a blob is visible only once
// it is whole. Each blob is stored raw or as one zstd frame, whichever the writer judged
// cheaper, with an XXH3 of the stored bytes to find bit rot.
//
// Thread-safe: any number of threads may read, write and delete concurrently.
#pragma once

#include "cas/digest.hpp"
#include "util/bytes.hpp"
#include "util/function_ref.hpp"
#include "util/result.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ingot::cas {

enum class Codec : std::uint8_t { raw = 0, zstd = 1 };
std::string_view to_string(Codec codec);

enum class Compression { off, automatic };

// ac: action results (Bazel, ccache's bazel layout); kv: opaque keys; ref: names of trees;
// nix: Nix binary-cache records keyed by their path below /nix/ ("<hash32>.narinfo",
// "nar/<file>", …), each the digest of a stored blob, last writer wins, as kv.
// The one list of namespaces: the enum, k_namespaces, the index's tables (cas/index.hpp) and
// so fsck's checks are made from it, so that a namespace added here cannot be left out of
// any of them. The order is persisted (back references store the enum's value): append only.
// A namespace added here also needs its counter in Usage, UsageDelta (appended to
// k_usage_fields with a new usage format, cas/record.cpp) and entries_field(), and its bucket
// in GcReport.
#define INGOT_NAMESPACES(X) X(ac) X(kv) X(ref) X(nix)

enum class Namespace : std::uint8_t {
#define INGOT_NAMESPACE_ENUM(name) name,
  INGOT_NAMESPACES(INGOT_NAMESPACE_ENUM)
#undef INGOT_NAMESPACE_ENUM
};

inline constexpr std::array k_namespaces{
#define INGOT_NAMESPACE_VALUE(name) Namespace::name,
    INGOT_NAMESPACES(INGOT_NAMESPACE_VALUE)
#undef INGOT_NAMESPACE_VALUE
};

// "ac", "kv", "ref", "nix": also the name of the namespace's table in the index.
constexpr std::string_view to_string(Namespace ns) {
  constexpr std::array<std::string_view, k_namespaces.size()> k_names{
#define INGOT_NAMESPACE_NAME(name) #name,
      INGOT_NAMESPACES(INGOT_NAMESPACE_NAME)
#undef INGOT_NAMESPACE_NAME
  };
  return k_names[static_cast<std::size_t>(ns)];
}

// Whether Store::open makes a data dir where there is none.
enum class Create { no, yes };

struct StoreOptions {
  std::filesystem::path dir;
  // Only the server (and `ingot init`) make data dirs. Every other opener passes no: a typo in
  // --data must be an error, not a fresh empty data dir that answers "no problems" or takes a
  // token the running server never sees. With no, a dir without a FORMAT file (and without an
  // index) is Errc::not_found, and nothing is created.
  Create create = Create::yes;
  // The bound on the data dir's size on disk (as `du -sb` counts it, index included); 0 is
  // none. Writes reserve their space first, evicting least recently used blobs to make room.
  std::uint64_t max_size = 0;
  // GC starts in the background above gc_high * max_size and evicts down to gc_low * max_size,
  // so that writes rarely have to evict for themselves.
  double gc_high = 0.9;
  double gc_low = 0.8;
  // Unix seconds for recency; tests set a clock they move by hand.
  std::function<std::int64_t()> clock = {};
  // A read (GET, HEAD, FindMissing) counts as a use this many seconds after it happened: a
  // blob read within that time is evicted only after every unpinned blob that was not read
  // since. Without it, a burst of writes turning the whole bound over in less than recency's
  // one-second grain evicted what builds were reading at that very moment (issue 14). Writes,
  // uploads of a stored blob and naming a blob count as uses when they happen.
  std::int64_t read_protection_s = 60;
  // Bytes free for the server on the data dir's file system (statvfs f_bavail); tests set
  // a fake one.
  std::function<std::uint64_t()> free_space = {};
  // Blobs up to this size are kept inline in the index; larger ones become files.
  // Picked by measurement (bench/README.md, "Inline threshold sweep"): warm gets cross over
  // between 16 and 32 KiB (files win above), while an inline put is a log append and a file
  // put a new-file fsync, 17x slower at 32 KiB. Above 64 KiB inline gets lose clearly.
  // The default, k_auto_inline_threshold, is 32 KiB, or max_size / 4096 when that is smaller
  // (at least 1 KiB): under a small bound, RocksDB's transient files (WAL, flushes,
  // compaction outputs, deleted values not yet compacted away) would be a large share of the
  // bound, while a file is freed the moment its blob is evicted. Store::open resolves it.
  static constexpr std::uint64_t k_auto_inline_threshold = ~std::uint64_t{0};
  std::uint64_t inline_threshold = k_auto_inline_threshold;
  Compression compression = Compression::automatic;
  // zstd level for blobs the writer decides to compress. 1 keeps a put near disk speed.
  int zstd_level = 1;
};

struct BlobInfo {
  Digest digest;
  Codec codec = Codec::raw;
  std::uint64_t stored_size = 0; // bytes on disk (after compression)
  bool is_inline = false;
  std::int64_t created_unix_s = 0;
};

// Exact usage, persisted with every index commit: reopening never rescans blobs/.
struct Usage {
  std::uint64_t blobs = 0;
  std::uint64_t logical_bytes = 0; // sum of blob sizes
  std::uint64_t stored_bytes = 0;  // sum of stored (possibly compressed) sizes
  std::uint64_t ac_entries = 0;
  std::uint64_t kv_entries = 0;
  std::uint64_t ref_entries = 0;
  std::uint64_t nix_entries = 0;
  std::uint64_t file_bytes = 0; // stored bytes of blobs kept as files, the rest are inline
  std::uint64_t pinned_blobs = 0;
  std::uint64_t pinned_bytes = 0;
  std::uint64_t hits = 0; // lookups that found what they asked for (count_lookup)
  std::uint64_t misses = 0;
};

// What the data dir takes on disk, as the size bound counts it.
struct Space {
  std::uint64_t max_size = 0; // 0: no bound
  std::uint64_t gc_high = 0;
  std::uint64_t gc_low = 0;
  std::uint64_t used = 0;     // files + index + other + reserved
  std::uint64_t files = 0;    // blob files
  std::uint64_t index = 0;    // the RocksDB index, with inline blobs (and, under a bound, room
                              // for its flushes and compactions)
  std::uint64_t other = 0;    // directories and small files
  std::uint64_t reserved = 0; // writes in flight
  std::uint64_t pinned = 0;
};

enum class DryRun { no, yes };

struct GcOptions {
  // Bytes on disk to get down to; by default the low watermark of max_size.
  std::optional<std::uint64_t> target;
  DryRun dry_run = DryRun::no;
};

struct Evicted {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

struct GcReport {
  bool dry_run = false;
  std::uint64_t target = 0;
  std::uint64_t before = 0; // bytes on disk
  std::uint64_t after = 0;  // estimated, compactions of the index follow
  bool target_reached = false;
  // cas.entries counts every evicted blob; ac/kv/ref/nix entries count the entries dropped
  // with their value blob. Each evicted blob's bytes count once: under the namespace of an
  // entry that named it, or under cas.
  Evicted cas, ac, kv, ref, nix;
  std::optional<std::int64_t> oldest_survivor_age_s;
  double duration_s = 0;
  std::int64_t finished_unix_s = 0;
};

struct GcStats {
  std::uint64_t runs = 0;
  std::uint64_t evicted_entries = 0;
  std::uint64_t evicted_bytes = 0;
  double duration_s = 0; // all runs together
  std::optional<GcReport> last;
  std::optional<std::int64_t> oldest_entry_age_s; // the cache's effective retention
  bool running = false; // a run (asked for, background, or a write's reclaim) was under way
};

// A streaming write. Nothing is visible until commit() succeeds; a writer destroyed without
// a successful commit leaves nothing behind. Memory stays bounded whatever the size.
class BlobWriter {
public:
  virtual ~BlobWriter() = default;
  [[nodiscard]] virtual Result<void> append(ByteView chunk) = 0;
  // Verifies the expected digest (when one was given) and makes the blob visible.
  // Errc::invalid_argument on a mismatch, with nothing stored.
  [[nodiscard]] virtual Result<Digest> commit() = 0;
  // True when commit() will wait for the disk (a file's fsync): event loops run such
  // commits on a thread that may block.
  virtual bool commit_blocks() const = 0;
};

enum class View {
  decoded, // the blob's own bytes
  stored,  // the bytes as kept on disk: a zstd frame when info().codec is zstd
};

struct ReadOptions {
  View view = View::decoded;
  std::uint64_t offset = 0;            // into the chosen view
  std::optional<std::uint64_t> length; // to the end when unset; clamped to the end
};

// Where the bytes a reader has still to produce lie in an open file, when they are stored
// there as they are produced: a server can then hand them to the kernel (sendfile) rather than
// read them. The descriptor is the reader's: valid while it lives.
struct FileSpan {
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

class BlobReader {
public:
  virtual ~BlobReader() = default;
  virtual const BlobInfo& info() const = 0;
  // Bytes this reader will produce in total (the range, clamped).
  virtual std::uint64_t length() const = 0;
  // Fills `out` with the next bytes of the range; returns 0 at the end.
  [[nodiscard]] virtual Result<std::size_t> read(MutableByteView out) = 0;
  // The rest of the range as a span of the blob's file: for a file blob read in its stored
  // view, or in its decoded view when it is stored raw. Not for inline blobs nor for decoding
  // zstd. A file shorter than recorded is the caller's to detect.
  virtual std::optional<FileSpan> file_span() const { return std::nullopt; }
};

struct Entry {
  Digest value;
  std::int64_t updated_unix_ms = 0;
};

struct ScrubReport {
  std::uint64_t checked = 0;
  std::uint64_t stored_bytes = 0;
  std::vector<Digest> corrupt; // stored bytes do not match their checksum
  std::vector<Digest> missing; // indexed, but the blob file is gone
};

enum class Repair { no, yes };

// The ways the index, blobs/ and tmp/ can disagree with each other or with a checksum.
enum class FsckIssue : std::uint8_t {
  missing_file,    // a blob record whose file is gone
  corrupt_blob,    // stored bytes that fail their XXH3 checksum
  bad_blob_record, // a blob record that cannot be decoded
  bad_entry,       // a namespace entry that cannot be decoded, or names the wrong size
  dangling_entry,  // a namespace entry whose value blob is not stored, or is damaged
  orphan_file,     // anything under blobs/ that no blob record accounts for
  temp_file,       // a file in tmp/ that no write in flight owns
  usage_mismatch,  // a persisted usage counter disagrees with the records (one per counter)
  bad_record,      // a pin count, pin set, last use, eviction order or back reference record
                   // that cannot be decoded
  pin_count,       // a blob pinned more or fewer times than pin sets name it
  missing_pinned,  // a pin set names a blob that is not stored: never repaired, as fsck does not
                   // drop pinned data; uploading the blob again brings it back pinned
  eviction_order,  // a blob missing from the eviction order (GC would never evict it), or an
                   // entry of the order or of last uses naming no such stored, unpinned blob
};
std::string_view to_string(FsckIssue issue); // "missing_file", …

struct FsckFinding {
  FsckIssue issue = FsckIssue::corrupt_blob;
  // What it is about: a hex hash, a namespace key ("kv 'a/b'") or a path relative to the data
  // dir ("blobs/ab/ab12…").
  std::string subject;
  std::string detail; // what is wrong, one line
  bool repaired = false;
  // With Repair::yes, what was done ("removed orphan file blobs/ab/ab12…"), or why it could
  // not be. A temp file left by an earlier process is removed by Store::open whatever the
  // mode, and reported as repaired.
  std::string action;
  // Pinned data that is damaged or gone: the blob, and the pin sets that name it. fsck never
  // drops a pin, so such a finding stays unrepaired until the blob is uploaded again (its pins
  // then hold it again). Those who know what the pin sets are (releases, refs, Nix paths) say
  // what needs the blob in `detail` and how to bring it back in `restore`.
  std::optional<Hash> blob;
  std::vector<std::string> pinned_by;
  std::string restore;
};

struct FsckReport {
  std::uint64_t blobs_checked = 0;
  std::uint64_t stored_bytes_checked = 0;
  std::uint64_t entries_checked = 0;
  std::uint64_t files_checked = 0; // entries in tmp/ and under blobs/, shard dirs aside
  std::vector<FsckFinding> findings;

  // Findings that no repair dealt with: zero means the data dir is consistent now.
  std::size_t unrepaired() const;
};

// An expected digest whose size is not known up front (a chunked upload): only the hash is
// checked on commit.
inline constexpr std::uint64_t k_size_unknown = ~std::uint64_t{0};

// True when dir holds a data dir that Store::open would open with Create::no (its FORMAT file,
// or an index).
[[nodiscard]] bool is_data_dir(const std::filesystem::path& dir);

class Store {
public:
  // Opens a data dir (creating it unless options.create is no) and takes its lock: a second
  // opener, in this process or another, gets Errc::busy naming the holder. Leftover temp files are
  // removed.
  [[nodiscard]] static Result<std::unique_ptr<Store>> open(const StoreOptions& options);

  virtual ~Store() = default;

  // --- blobs ---
  [[nodiscard]] virtual Result<std::unique_ptr<BlobWriter>>
  begin_write(std::optional<Digest> expected = std::nullopt) = 0;
  // Convenience for small data already in memory.
  [[nodiscard]] virtual Result<Digest> put(ByteView data,
                                           std::optional<Digest> expected = std::nullopt) = 0;

  [[nodiscard]] virtual Result<BlobInfo> stat(const Hash& hash) = 0;
  virtual bool contains(const Hash& hash) = 0;
  // Counts a read of a blob the caller knows to be stored (an entry just named it) as a use,
  // with no index lookup; nothing is recorded for it if it is gone by the time uses are written.
  virtual void touch(const Hash& hash) = 0;
  [[nodiscard]] virtual Result<std::unique_ptr<BlobReader>>
  open_read(const Hash& hash, const ReadOptions& options = {}) = 0;
  // The same, with the options chosen from the blob's info within the one index lookup: an
  // HTTP Range or encoding depends on the size and codec, and a stat() first would be a
  // second lookup on every request. `plan` runs inside the store and must not call it.
  [[nodiscard]] virtual Result<std::unique_ptr<BlobReader>>
  open_read(const Hash& hash, FunctionRef<ReadOptions(const BlobInfo&)> plan) = 0;
  // Whole decoded content; for small blobs.
  [[nodiscard]] virtual Result<std::string> get(const Hash& hash) = 0;
  [[nodiscard]] virtual Result<void> remove(const Hash& hash) = 0;

  // Errc::corrupt when the stored bytes no longer match their checksum.
  [[nodiscard]] virtual Result<void> verify(const Hash& hash) = 0;
  [[nodiscard]] virtual Result<ScrubReport> scrub() = 0;
  // Checks the index, blobs/ and tmp/ against each other and every blob against its checksum
  // (see FsckIssue). With Repair::yes it drops damaged records and entries and removes what
  // nothing refers to, saying in each finding what it did. It walks all of blobs/, so it is
  // for admins, not for a request path. Safe while other threads use the store.
  [[nodiscard]] virtual Result<FsckReport> fsck(Repair repair) = 0;

  virtual Usage usage() const = 0;
  // Counts a client's lookup for the hit rate; persisted with the other counters.
  virtual void count_lookup(bool hit) = 0;

  // --- space and garbage collection ---
  virtual Space space() const = 0;
  // Evicts least recently used unpinned blobs, with the entries whose value they were, until
  // the data dir is at the target. Cost grows with what is evicted, not with what is stored.
  [[nodiscard]] virtual Result<GcReport> gc(const GcOptions& options = {}) = 0;
  virtual GcStats gc_stats() = 0;
  // The bound the data dir was last served with (a server records it), for tools that open
  // the data dir without one.
  virtual std::optional<std::uint64_t> recorded_max_size() = 0;
  // Writes the uses recorded since the last flush (reads record them in memory, and a
  // background thread writes them every second).
  [[nodiscard]] virtual Result<void> flush_recency() = 0;

  // --- pins: named sets of blobs that are never evicted ---
  // Replaces the set named `name`; every blob must be stored (Errc::not_found naming it).
  [[nodiscard]] virtual Result<void> pin(std::string_view name, std::vector<Hash> blobs) = 0;
  [[nodiscard]] virtual Result<void> unpin(std::string_view name) = 0;
  [[nodiscard]] virtual Result<bool> is_pinned(std::string_view name) = 0;

  // --- records: small named values that neither GC nor a purge ever drops ---
  // For what must outlive its blobs' fate, such as release records (the blobs are pinned).
  [[nodiscard]] virtual Result<std::optional<std::string>> get_record(std::string_view name) = 0;
  [[nodiscard]] virtual Result<void> put_record(std::string_view name, std::string_view value) = 0;

  // --- namespaces: key -> digest of a stored blob ---
  [[nodiscard]] virtual Result<Entry> ns_get(Namespace ns, std::string_view key) = 0;
  // The value must already be stored (Errc::not_found otherwise). kv is last-writer-wins.
  [[nodiscard]] virtual Result<void> ns_put(Namespace ns, std::string_view key,
                                            const Digest& value) = 0;
  [[nodiscard]] virtual Result<void> ns_remove(Namespace ns, std::string_view key) = 0;
  // Entries whose key starts with `prefix`, in key order, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<std::pair<std::string, Entry>>>
  ns_list(Namespace ns, std::string_view prefix, std::size_t limit) = 0;

  const std::filesystem::path& dir() const { return m_dir; }

protected:
  explicit Store(std::filesystem::path dir) : m_dir(std::move(dir)) {}

private:
  std::filesystem::path m_dir;
};

// The pin set that keeps a pinned ref's tree (`ingot ref … --pin`).
inline std::string ref_pin_name(std::string_view ref) {
  return "ref/" + std::string(ref);
}

// Longest accepted namespace key, in bytes.
inline constexpr std::size_t k_max_key_size = 1024;

} // namespace ingot::cas
