#include "cas/store_impl.hpp"
#include "util/hex.hpp"

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
std::string_view to_string(Namespace ns) {
  return ns == Namespace::ac ? "ac" : "kv";
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
  auto index = Index::open(options.dir / "index");
  if (!index) {
    return std::move(index).error();
  }
  INGOT_TRY(recover_pending(**index, files));
  auto usage = (*index)->load_usage();
  if (!usage) {
    return std::move(usage).error();
  }
  auto store = std::make_unique<StoreImpl>(options, std::move(*lock), std::move(*index),
                                           std::move(files), *usage);
  // REAPI: the empty blob is always present. An unreadable record of it (Errc::corrupt) must
  // not keep `ingot fsck --repair` from opening the data dir to write it again.
  auto empty = store->put({}, empty_digest());
  if (!empty && empty.error().code != Errc::corrupt) {
    return std::move(empty).error();
  }
  return std::unique_ptr<Store>(std::move(store));
}

StoreImpl::StoreImpl(const StoreOptions& options, LockFile lock, std::unique_ptr<Index> index,
                     BlobFiles files, const UsageDelta& usage)
    : Store(options.dir), m_options(options), m_lock(std::move(lock)), m_index(std::move(index)),
      m_files(std::move(files)) {
  apply(usage);
}

void StoreImpl::apply(const UsageDelta& d) {
  // Unsigned wrap-around makes adding a negative delta a subtraction.
  m_blobs += static_cast<std::uint64_t>(d.blobs);
  m_logical_bytes += static_cast<std::uint64_t>(d.logical_bytes);
  m_stored_bytes += static_cast<std::uint64_t>(d.stored_bytes);
  m_ac_entries += static_cast<std::uint64_t>(d.ac_entries);
  m_kv_entries += static_cast<std::uint64_t>(d.kv_entries);
}

Usage StoreImpl::usage() const {
  return Usage{m_blobs.load(), m_logical_bytes.load(), m_stored_bytes.load(), m_ac_entries.load(),
               m_kv_entries.load()};
}

std::mutex& StoreImpl::stripe(const Hash& hash) {
  return m_stripes[hash[1] % m_stripes.size()];
}

std::mutex& StoreImpl::stripe(std::string_view key) {
  return m_stripes[std::hash<std::string_view>{}(key) % m_stripes.size()];
}

Result<std::unique_ptr<BlobWriter>> StoreImpl::begin_write(std::optional<Digest> expected) {
  return make_writer(*this, expected);
}

Result<Digest> StoreImpl::put(ByteView data, std::optional<Digest> expected) {
  auto writer = make_writer(*this, expected);
  INGOT_TRY(writer->append(data));
  return writer->commit();
}

Result<void> StoreImpl::commit_inline(const Digest& digest, const BlobRecord& record,
                                      ByteView stored) {
  std::lock_guard lock(stripe(digest.hash));
  auto existing = m_index->get_blob(digest.hash, WithData::no);
  if (!existing) {
    return std::move(existing).error();
  }
  if (existing->has_value()) {
    return {};
  }
  const UsageDelta delta{1, static_cast<std::int64_t>(record.size),
                         static_cast<std::int64_t>(record.stored_size), 0, 0};
  INGOT_TRY(m_index->put_blob(digest.hash, record, stored, delta));
  apply(delta);
  return {};
}

Result<void> StoreImpl::commit_file(const Digest& digest, const BlobRecord& record,
                                    TempFile& file) {
  std::lock_guard lock(stripe(digest.hash));
  auto existing = m_index->get_blob(digest.hash, WithData::no);
  if (!existing) {
    return std::move(existing).error();
  }
  if (existing->has_value()) {
    return {}; // the temp file goes with the writer
  }
  INGOT_TRY(m_index->put_pending(digest.hash));
  INGOT_TRY(m_files.publish(file, digest.hash));
  const UsageDelta delta{1, static_cast<std::int64_t>(record.size),
                         static_cast<std::int64_t>(record.stored_size), 0, 0};
  if (auto r = m_index->put_blob(digest.hash, record, {}, delta); !r) {
    (void)m_files.remove(digest.hash);
    return std::move(r).error();
  }
  apply(delta);
  return {};
}

Result<BlobInfo> StoreImpl::stat(const Hash& hash) {
  auto blob = m_index->get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return missing_blob(hash);
  }
  return info_of(hash, (*blob)->record);
}

bool StoreImpl::contains(const Hash& hash) {
  auto blob = m_index->get_blob(hash, WithData::no);
  return blob && blob->has_value();
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
  return make_reader(info_of(hash, (*blob)->record), std::move(*source), options);
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
  const auto& r = (*blob)->record;
  const UsageDelta delta{-1, -static_cast<std::int64_t>(r.size),
                         -static_cast<std::int64_t>(r.stored_size), 0, 0};
  INGOT_TRY(m_index->delete_blob(hash, delta));
  apply(delta);
  if (!r.is_inline) {
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
  // An entry whose value is gone is not a hit.
  if (!contains((*entry)->value.hash)) {
    return make_error(Errc::not_found, std::string(to_string(ns)) + " key's value blob " +
                                           (*entry)->value.hex() + " is gone");
  }
  return **entry;
}

Result<void> StoreImpl::ns_put(Namespace ns, std::string_view key, const Digest& value) {
  INGOT_TRY(check_key(ns, key));
  auto info = stat(value.hash);
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
  if (!existing->has_value()) {
    (ns == Namespace::ac ? delta.ac_entries : delta.kv_entries) = 1;
  }
  INGOT_TRY(m_index->put_entry(ns, key, Entry{value, now_unix_ms()}, delta));
  apply(delta);
  return {};
}

Result<void> StoreImpl::ns_remove(Namespace ns, std::string_view key) {
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
  (ns == Namespace::ac ? delta.ac_entries : delta.kv_entries) = -1;
  INGOT_TRY(m_index->delete_entry(ns, key, delta));
  apply(delta);
  return {};
}

} // namespace ingot::cas
