#include "cas/store_impl.hpp"
#include "util/hex.hpp"
#include "util/thread_role.hpp"

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <functional>

#include <xxhash.h>

namespace ingot::cas {

namespace {

constexpr std::string_view k_format_line = "ingot data dir, format 1";
constexpr std::size_t k_scrub_chunk = 1 << 20;

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<void> check_format(const std::filesystem::path& dir) {
  const auto path = dir / "FORMAT";
  std::ifstream in(path);
  std::string line;
  if (in && std::getline(in, line) && !line.empty()) {
    if (line != k_format_line) {
      return make_error(Errc::invalid_argument, "data dir " + dir.string() + " has format '" +
                                                    line + "'; this ingot reads '" +
                                                    std::string(k_format_line) + "'");
    }
    return {};
  }
  // Absent, or empty from an older crash: a data dir whose index was never created is new.
  if (std::filesystem::exists(dir / "index" / "CURRENT")) {
    return make_error(Errc::corrupt, "data dir " + dir.string() +
                                         " has an index but no FORMAT file; restore FORMAT "
                                         "(one line: '" +
                                         std::string(k_format_line) + "')");
  }
  // Written whole or not at all: a temp file, synced, renamed into place.
  const auto temp = dir / "FORMAT.new";
  auto fd = open_file(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd) {
    return std::move(fd).error();
  }
  INGOT_TRY(write_all(fd->get(), as_bytes(std::string(k_format_line) + "\n"), temp));
  INGOT_TRY(fsync_fd(fd->get(), temp));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return errno_error(errno, "cannot create " + path.string());
  }
  return {};
}

Result<void> check_key(Namespace ns, std::string_view key) {
  if (key.empty() || key.size() > k_max_key_size) {
    return make_error(Errc::invalid_argument, std::string(to_string(ns)) + " key must be 1 to " +
                                                  std::to_string(k_max_key_size) + " bytes");
  }
  return {};
}

// Blob files whose write was cut off between rename and index commit: without a record,
// nothing refers to them, so they go. Only the intents are visited, never blobs/.
Result<void> recover_pending(Index& index, BlobFiles& files) {
  auto pending = index.list_pending();
  if (!pending) {
    return std::move(pending).error();
  }
  for (const auto& hash : *pending) {
    auto blob = index.get_blob(hash, WithData::no);
    if (!blob) {
      return std::move(blob).error();
    }
    if (!blob->has_value()) {
      INGOT_TRY(files.remove(hash));
    }
    INGOT_TRY(index.clear_pending(hash));
  }
  return {};
}

BlobInfo info_of(const Hash& hash, const BlobRecord& r) {
  return BlobInfo{Digest{hash, r.size}, r.codec, r.stored_size, r.is_inline, r.created_unix_s};
}

Error missing_blob(const Hash& hash) {
  return make_error(Errc::not_found, "blob " + to_hex(hash) + " is not stored");
}

} // namespace

std::string_view to_string(Codec codec) {
  return codec == Codec::zstd ? "zstd" : "raw";
}

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return errno_error(ec.value(), "cannot create data dir " + options.dir.string());
  }
  auto lock = LockFile::acquire(options.dir / "ingot.lock");
  if (!lock) {
    return std::move(lock).error();
  }
  INGOT_TRY(check_format(options.dir));
  BlobFiles files(options.dir);
  INGOT_TRY(files.prepare());
  if (options.max_size > 0 &&
      !(0 < options.gc_low && options.gc_low <= options.gc_high && options.gc_high <= 1)) {
    return make_error(Errc::invalid_argument,
                      "GC watermarks must satisfy 0 < low <= high <= 1 (fractions of max size)");
  }
  IndexOptions index_options;
  if (options.max_size > 0) {
    // Memtables and WAL are disk the bound covers: about 1/64 of it, between 256 KiB and
    // 16 MiB.
    index_options.write_buffer_size =
        std::clamp<std::uint64_t>(options.max_size / 64, 256 << 10, 16 << 20);
  }
  StoreOptions resolved = options;
  if (resolved.inline_threshold == StoreOptions::k_auto_inline_threshold) {
    constexpr std::uint64_t k_default = 32 * 1024;
    resolved.inline_threshold =
        options.max_size > 0 ? std::clamp<std::uint64_t>(options.max_size / 4096, 1024, k_default)
                             : k_default;
  }
  auto index = Index::open(options.dir / "index", index_options);
  if (!index) {
    return std::move(index).error();
  }
  INGOT_TRY(recover_pending(**index, files));
  auto usage = (*index)->load_usage();
  if (!usage) {
    return std::move(usage).error();
  }
  auto store = std::make_unique<StoreImpl>(resolved, std::move(*lock), std::move(*index),
                                           std::move(files), *usage);
  INGOT_TRY(store->migrate(*usage));
  // REAPI: the empty blob is always present. An unreadable record of it (Errc::corrupt) must
  // not keep `ingot fsck --repair` from opening the data dir to write it again. Put only when
  // absent: a put reserves space, and in a data dir reopened with a --max-size below its use,
  // reserving evicts; open would keep its caller waiting for a GC the background thread does.
  if (!store->contains(empty_digest().hash)) {
    auto empty = store->put({}, empty_digest());
    if (!empty && empty.error().code != Errc::corrupt) {
      return std::move(empty).error();
    }
  }
  store->start_background();
  return std::unique_ptr<Store>(std::move(store));
}

StoreImpl::StoreImpl(const StoreOptions& options, LockFile lock, std::unique_ptr<Index> index,
                     BlobFiles files, const UsageDelta& usage)
    : Store(options.dir), m_options(options), m_lock(std::move(lock)), m_index(std::move(index)),
      m_files(std::move(files)) {
  apply(usage);
}

// Data dirs written before usage format 2 lack the file-byte counter and the eviction order:
// one pass over the records, once, adds both.
Result<void> StoreImpl::migrate(const UsageDelta& loaded) {
  if (loaded.complete) {
    return {};
  }
  UsageDelta total = loaded;
  total.complete = true;
  Result<void> failure;
  INGOT_TRY(m_index->for_each_blob([&](const Hash& hash, const BlobRecord& record) {
    if (!record.is_inline) {
      total.file_bytes += static_cast<std::int64_t>(record.stored_size);
    }
    failure = m_index->touch(hash, record.created_unix_s);
    return static_cast<bool>(failure);
  }));
  INGOT_TRY(std::move(failure));
  INGOT_TRY(m_index->set_usage(total));
  m_file_bytes = static_cast<std::uint64_t>(total.file_bytes);
  return {};
}

void StoreImpl::apply(const UsageDelta& d) {
  // Unsigned wrap-around makes adding a negative delta a subtraction.
  m_blobs += static_cast<std::uint64_t>(d.blobs);
  m_logical_bytes += static_cast<std::uint64_t>(d.logical_bytes);
  m_stored_bytes += static_cast<std::uint64_t>(d.stored_bytes);
  m_ac_entries += static_cast<std::uint64_t>(d.ac_entries);
  m_kv_entries += static_cast<std::uint64_t>(d.kv_entries);
  m_ref_entries += static_cast<std::uint64_t>(d.ref_entries);
  m_file_bytes += static_cast<std::uint64_t>(d.file_bytes);
  m_pinned_blobs += static_cast<std::uint64_t>(d.pinned_blobs);
  m_pinned_bytes += static_cast<std::uint64_t>(d.pinned_bytes);
  m_hits += static_cast<std::uint64_t>(d.hits);
  m_misses += static_cast<std::uint64_t>(d.misses);
}

Usage StoreImpl::usage() const {
  Usage u;
  u.blobs = m_blobs.load();
  u.logical_bytes = m_logical_bytes.load();
  u.stored_bytes = m_stored_bytes.load();
  u.ac_entries = m_ac_entries.load();
  u.kv_entries = m_kv_entries.load();
  u.ref_entries = m_ref_entries.load();
  u.file_bytes = m_file_bytes.load();
  u.pinned_blobs = m_pinned_blobs.load();
  u.pinned_bytes = m_pinned_bytes.load();
  u.hits = m_hits.load() + m_new_hits.load();
  u.misses = m_misses.load() + m_new_misses.load();
  return u;
}

void StoreImpl::count_lookup(bool hit) {
  (hit ? m_new_hits : m_new_misses).fetch_add(1, std::memory_order_relaxed);
}

std::mutex& StoreImpl::stripe(const Hash& hash) {
  return m_stripes[hash[1] % m_stripes.size()];
}

std::mutex& StoreImpl::stripe(std::string_view key) {
  return m_key_stripes[std::hash<std::string_view>{}(key) % m_key_stripes.size()];
}

Result<std::unique_ptr<BlobWriter>> StoreImpl::begin_write(std::optional<Digest> expected) {
  expect_may_block("Store::begin_write");
  return make_writer(*this, expected);
}

Result<Digest> StoreImpl::put(ByteView data, std::optional<Digest> expected) {
  expect_may_block("Store::put");
  auto writer = make_writer(*this, expected);
  if (!writer) {
    return std::move(writer).error();
  }
  INGOT_TRY((*writer)->append(data));
  return (*writer)->commit();
}

Result<void> StoreImpl::commit_inline(const Digest& digest, const BlobRecord& record,
                                      ByteView stored) {
  expect_may_block("Store::commit");
  std::lock_guard lock(stripe(digest.hash));
  auto existing = m_index->get_blob(digest.hash, WithData::no);
  if (!existing) {
    return std::move(existing).error();
  }
  if (existing->has_value()) {
    touch(digest.hash, Use::write); // written again: in use
    return {};
  }
  UsageDelta delta;
  delta.blobs = 1;
  delta.logical_bytes = static_cast<std::int64_t>(record.size);
  delta.stored_bytes = static_cast<std::int64_t>(record.stored_size);
  INGOT_TRY(m_index->put_blob(digest.hash, record, stored, delta, tick()));
  apply(delta);
  // Twice: RocksDB keeps the bytes in its log until the memtable holding them is flushed to
  // a table file, so for a while they are on disk twice. The next measurement corrects it.
  m_index_added += 2 * stored.size() + k_record_overhead;
  return {};
}

Result<void> StoreImpl::commit_file(const Digest& digest, const BlobRecord& record,
                                    TempFile& file) {
  expect_may_block("Store::commit");
  std::lock_guard lock(stripe(digest.hash));
  auto existing = m_index->get_blob(digest.hash, WithData::no);
  if (!existing) {
    return std::move(existing).error();
  }
  if (existing->has_value()) {
    touch(digest.hash, Use::write);
    return {}; // the temp file goes with the writer
  }
  INGOT_TRY(m_index->put_pending(digest.hash));
  INGOT_TRY(m_files.publish(file, digest.hash));
  UsageDelta delta;
  delta.blobs = 1;
  delta.logical_bytes = static_cast<std::int64_t>(record.size);
  delta.stored_bytes = static_cast<std::int64_t>(record.stored_size);
  delta.file_bytes = delta.stored_bytes;
  if (auto r = m_index->put_blob(digest.hash, record, {}, delta, tick()); !r) {
    (void)m_files.remove(digest.hash);
    return std::move(r).error();
  }
  apply(delta);
  m_index_added += k_record_overhead;
  return {};
}

Result<BlobInfo> StoreImpl::stat(const Hash& hash) {
  return stat(hash, Use::read);
}

Result<BlobInfo> StoreImpl::stat(const Hash& hash, Use use) {
  auto blob = m_index->get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return missing_blob(hash);
  }
  touch(hash, use);
  return info_of(hash, (*blob)->record);
}

bool StoreImpl::contains(const Hash& hash) {
  auto blob = m_index->get_blob(hash, WithData::no);
  if (blob && blob->has_value()) {
    touch(hash, Use::read);
    return true;
  }
  return false;
}

bool StoreImpl::contains_written(const Hash& hash) {
  auto blob = m_index->get_blob(hash, WithData::no);
  if (blob && blob->has_value()) {
    touch(hash, Use::write);
    return true;
  }
  return false;
}

Result<std::unique_ptr<StoredSource>> StoreImpl::source_of(const Hash& hash, StoredBlob& blob) {
  if (blob.record.is_inline) {
    return inline_source(std::move(blob.inline_data));
  }
  auto fd = m_files.open(hash);
  if (!fd) {
    // Removed between the index lookup and the open: for this reader it is gone.
    if (fd.error().code == Errc::not_found) {
      return missing_blob(hash);
    }
    return std::move(fd).error();
  }
  return file_source(std::move(*fd), m_files.path_of(hash));
}

Result<std::unique_ptr<BlobReader>> StoreImpl::open_read(const Hash& hash,
                                                         const ReadOptions& options) {
  return open_read(hash, [&options](const BlobInfo&) { return options; });
}

Result<std::unique_ptr<BlobReader>>
StoreImpl::open_read(const Hash& hash, FunctionRef<ReadOptions(const BlobInfo&)> plan) {
  auto blob = m_index->get_blob(hash, WithData::yes);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return missing_blob(hash);
  }
  auto source = source_of(hash, **blob);
  if (!source) {
    return std::move(source).error();
  }
  touch(hash, Use::read);
  const auto info = info_of(hash, (*blob)->record);
  return make_reader(info, std::move(*source), plan(info));
}

Result<std::string> StoreImpl::get(const Hash& hash) {
  auto reader = open_read(hash, {});
  if (!reader) {
    return std::move(reader).error();
  }
  std::string out((*reader)->length(), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    auto n =
        (*reader)->read({reinterpret_cast<std::uint8_t*>(out.data()) + done, out.size() - done});
    if (!n) {
      return std::move(n).error();
    }
    if (*n == 0) {
      return make_error(Errc::corrupt, "blob " + to_hex(hash) + " ended early");
    }
    done += *n;
  }
  return out;
}

Result<void> StoreImpl::remove(const Hash& hash) {
  expect_may_block("Store::remove");
  if (hash == empty_digest().hash) {
    return make_error(Errc::invalid_argument, "the empty blob is always present");
  }
  std::lock_guard lock(stripe(hash));
  auto blob = m_index->get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return missing_blob(hash);
  }
  INGOT_TRY(erase_blob(hash, (*blob)->record));
  // Entries go with their value blob, as under eviction.
  GcReport dropped;
  return drop_entries_of(hash, (*blob)->record.stored_size, dropped);
}

Result<void> StoreImpl::erase_blob(const Hash& hash, const BlobRecord& r) {
  auto pins = m_index->pin_count(hash);
  if (!pins) {
    return std::move(pins).error();
  }
  UsageDelta delta;
  delta.blobs = -1;
  delta.logical_bytes = -static_cast<std::int64_t>(r.size);
  delta.stored_bytes = -static_cast<std::int64_t>(r.stored_size);
  if (!r.is_inline) {
    delta.file_bytes = delta.stored_bytes;
  }
  if (*pins > 0) {
    delta.pinned_blobs = -1;
    delta.pinned_bytes = delta.stored_bytes;
  }
  INGOT_TRY(m_index->delete_blob(hash, delta));
  apply(delta);
  // A delete is written too: tombstones for the record, its last use and its place in the
  // order, in the log and then a table until a compaction drops them.
  m_index_added += k_record_overhead;
  if (r.is_inline) {
    m_index_credit += r.stored_size;
    m_inline_evicted = true;
  } else {
    // Readers that already opened the file keep reading it: unlink only drops the name.
    INGOT_TRY(m_files.remove(hash));
  }
  return {};
}

Result<StoreImpl::Check> StoreImpl::check(const Hash& hash, const BlobRecord& record) {
  auto blob = m_index->get_blob(hash, WithData::yes);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return Check::gone;
  }
  auto source = source_of(hash, **blob);
  if (!source) {
    if (source.error().code != Errc::not_found) {
      return std::move(source).error();
    }
    // Either removed since the lookup, or really missing: under the digest's lock, which a
    // removal holds from index delete to unlink, the index tells which.
    std::lock_guard lock(stripe(hash));
    auto again = m_index->get_blob(hash, WithData::no);
    if (!again) {
      return std::move(again).error();
    }
    if (!again->has_value()) {
      return Check::gone;
    }
    return std::filesystem::exists(m_files.path_of(hash)) ? check(hash, record) : Check::missing;
  }
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<std::uint8_t> buf(std::min<std::uint64_t>(k_scrub_chunk, record.stored_size + 1));
  std::uint64_t offset = 0;
  Check result = Check::ok;
  for (;;) {
    auto n = (*source)->read_at(offset, buf);
    if (!n) {
      XXH3_freeState(state);
      return std::move(n).error();
    }
    if (*n == 0) {
      break;
    }
    XXH3_64bits_update(state, buf.data(), *n);
    offset += *n;
  }
  if (offset != record.stored_size || XXH3_64bits_digest(state) != record.xxh3) {
    result = Check::corrupt;
  }
  XXH3_freeState(state);
  return result;
}

Result<void> StoreImpl::verify(const Hash& hash) {
  auto blob = m_index->get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return missing_blob(hash);
  }
  auto result = check(hash, (*blob)->record);
  if (!result) {
    return std::move(result).error();
  }
  switch (*result) {
  case Check::ok:
    return {};
  case Check::gone:
    return missing_blob(hash);
  case Check::missing:
    return make_error(Errc::corrupt, "blob " + to_hex(hash) + " is indexed but its file " +
                                         m_files.path_of(hash).string() + " is missing");
  case Check::corrupt:
    break;
  }
  return make_error(Errc::corrupt, "blob " + to_hex(hash) +
                                       ": stored bytes fail their checksum (bit rot or tampering)");
}

Result<ScrubReport> StoreImpl::scrub() {
  ScrubReport report;
  Result<void> failure;
  auto scanned = m_index->for_each_blob([&](const Hash& hash, const BlobRecord& record) {
    auto result = check(hash, record);
    if (!result) {
      failure = std::move(result).error();
      return false;
    }
    if (*result == Check::gone) {
      return true; // removed while the scrub ran
    }
    ++report.checked;
    report.stored_bytes += record.stored_size;
    if (*result == Check::corrupt) {
      report.corrupt.push_back(Digest{hash, record.size});
    } else if (*result == Check::missing) {
      report.missing.push_back(Digest{hash, record.size});
    }
    return true;
  });
  INGOT_TRY(std::move(scanned));
  INGOT_TRY(std::move(failure));
  return report;
}

Result<Entry> StoreImpl::ns_get(Namespace ns, std::string_view key) {
  INGOT_TRY(check_key(ns, key));
  auto entry = m_index->get_entry(ns, key);
  if (!entry) {
    return std::move(entry).error();
  }
  if (!entry->has_value()) {
    return make_error(Errc::not_found, std::string(to_string(ns)) + " key not found");
  }
  // An entry whose value is gone is not a hit (eviction drops such entries; one written
  // while its value was being evicted can remain).
  if (!contains((*entry)->value.hash)) {
    return make_error(Errc::not_found, std::string(to_string(ns)) + " key's value blob " +
                                           (*entry)->value.hex() + " is gone");
  }
  return **entry;
}

Result<void> StoreImpl::ns_put(Namespace ns, std::string_view key, const Digest& value) {
  expect_may_block("Store::ns_put");
  INGOT_TRY(check_key(ns, key));
  auto info = stat(value.hash, Use::write); // naming a value is writing, not reading it
  if (!info) {
    return std::move(info).error();
  }
  if (info->digest.size != value.size) {
    return make_error(Errc::invalid_argument, "value " + value.to_string() +
                                                  " does not match the stored size " +
                                                  std::to_string(info->digest.size));
  }
  std::lock_guard lock(stripe(key));
  auto existing = m_index->get_entry(ns, key);
  if (!existing) {
    return std::move(existing).error();
  }
  UsageDelta delta;
  std::optional<Hash> previous;
  if (existing->has_value()) {
    previous = (*existing)->value.hash;
  } else {
    entries_field(delta, ns) = 1;
  }
  INGOT_TRY(m_index->put_entry(ns, key, Entry{value, now_unix_ms()}, previous, delta));
  apply(delta);
  m_index_added += 2 * key.size() + k_record_overhead;
  return {};
}

Result<void> StoreImpl::ns_remove(Namespace ns, std::string_view key) {
  expect_may_block("Store::ns_remove");
  INGOT_TRY(check_key(ns, key));
  std::lock_guard lock(stripe(key));
  auto existing = m_index->get_entry(ns, key);
  if (!existing) {
    return std::move(existing).error();
  }
  if (!existing->has_value()) {
    return make_error(Errc::not_found, std::string(to_string(ns)) + " key not found");
  }
  UsageDelta delta;
  entries_field(delta, ns) = -1;
  INGOT_TRY(m_index->delete_entry(ns, key, (*existing)->value.hash, delta));
  apply(delta);
  return {};
}

Result<std::vector<std::pair<std::string, Entry>>>
StoreImpl::ns_list(Namespace ns, std::string_view prefix, std::size_t limit) {
  if (prefix.size() > k_max_key_size) {
    return make_error(Errc::invalid_argument, "prefix is longer than any key");
  }
  return m_index->list_entries(ns, prefix, limit);
}

} // namespace ingot::cas
