// The Store facade: opening a data dir, and each Store call handed to the part it belongs to.
#include "cas/fsck_run.hpp"
#include "cas/store_impl.hpp"
#include "cas/store_writer.hpp"
#include "util/thread_role.hpp"

#include <algorithm>
#include <fcntl.h>
#include <fstream>

namespace ingot::cas {

namespace {

constexpr std::string_view k_format_line = "ingot data dir, format 1";

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

} // namespace

bool is_data_dir(const std::filesystem::path& dir) {
  // An index without FORMAT is a data dir too: open() then says how to restore FORMAT.
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "FORMAT", ec) ||
         std::filesystem::exists(dir / "index" / "CURRENT", ec);
}

std::string_view to_string(Codec codec) {
  return codec == Codec::zstd ? "zstd" : "raw";
}

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  std::error_code ec;
  if (options.create == Create::no && !is_data_dir(options.dir)) {
    return make_error(Errc::not_found, std::filesystem::exists(options.dir, ec)
                                           ? options.dir.string() + " is not an Ingot data dir"
                                           : "no Ingot data dir at " + options.dir.string());
  }
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
      m_usage(usage), m_space(m_options, *m_index, m_usage),
      m_recency(*m_index, m_usage, m_options.clock, m_options.read_protection_s),
      m_records(*m_index, std::move(files), m_usage, m_space, m_recency),
      m_entries(*m_index, m_records, m_usage, m_space),
      m_pins(*m_index, m_records, m_usage, m_recency, m_leases, m_space),
      m_evictor(m_options, *m_index, m_records, m_entries, m_leases, m_recency, m_space) {
  m_space.set_reclaimer(m_evictor);
}

StoreImpl::~StoreImpl() {
  m_evictor.stop();
  (void)flush_recency();
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
  UsageDelta added;
  added.file_bytes = total.file_bytes - loaded.file_bytes;
  m_usage.apply(added);
  return {};
}

namespace {

constexpr std::string_view k_max_size = "max_size";

} // namespace

void StoreImpl::start_background() {
  if (m_options.max_size > 0) {
    (void)m_index->put_meta(k_max_size, std::to_string(m_options.max_size));
  }
  m_evictor.start();
}

std::optional<std::uint64_t> StoreImpl::recorded_max_size() {
  auto value = m_index->get_meta(k_max_size);
  if (!value || !*value) {
    return std::nullopt;
  }
  try {
    return std::stoull(**value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// --- blobs ---

Result<std::unique_ptr<BlobWriter>> StoreImpl::begin_write(std::optional<Digest> expected) {
  expect_may_block("Store::begin_write");
  return make_writer(writer_parts(), expected);
}

Result<Digest> StoreImpl::put(ByteView data, std::optional<Digest> expected) {
  expect_may_block("Store::put");
  auto writer = make_writer(writer_parts(), expected);
  if (!writer) {
    return std::move(writer).error();
  }
  INGOT_TRY((*writer)->append(data));
  return (*writer)->commit();
}

Result<BlobInfo> StoreImpl::stat(const Hash& hash) {
  return m_records.stat(hash, Use::read);
}

bool StoreImpl::contains(const Hash& hash) {
  return m_records.contains(hash, Use::read);
}

void StoreImpl::touch(const Hash& hash) {
  m_recency.touch(hash, Use::read);
}

Result<std::unique_ptr<BlobReader>> StoreImpl::open_read(const Hash& hash,
                                                         const ReadOptions& options) {
  return m_records.open_read(hash, [&options](const BlobInfo&) { return options; });
}

Result<std::unique_ptr<BlobReader>>
StoreImpl::open_read(const Hash& hash, FunctionRef<ReadOptions(const BlobInfo&)> plan) {
  return m_records.open_read(hash, plan);
}

Result<std::string> StoreImpl::get(const Hash& hash) {
  return m_records.get(hash);
}

Result<void> StoreImpl::remove(const Hash& hash) {
  expect_may_block("Store::remove");
  if (hash == empty_digest().hash) {
    return make_error(Errc::invalid_argument, "the empty blob is always present");
  }
  std::lock_guard lock(m_records.lock(hash));
  auto blob = m_index->get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return missing_blob(hash);
  }
  INGOT_TRY(m_records.erase(hash, (*blob)->record));
  // Entries go with their value blob, as under eviction.
  GcReport dropped;
  return m_entries.drop_entries_of(hash, (*blob)->record.stored_size, dropped);
}

Result<void> StoreImpl::verify(const Hash& hash) {
  return m_records.verify(hash);
}

Result<ScrubReport> StoreImpl::scrub() {
  return m_records.scrub();
}

Result<FsckReport> StoreImpl::fsck(Repair repair) {
  return FsckRun(FsckParts{*this, *m_index, m_records, m_entries, m_pins, m_usage}, repair).run();
}

// --- usage, space and GC ---

Usage StoreImpl::usage() const {
  return m_usage.usage();
}

void StoreImpl::count_lookup(bool hit) {
  m_usage.count_lookup(hit);
}

Space StoreImpl::space() const {
  return m_space.space();
}

Result<GcReport> StoreImpl::gc(const GcOptions& options) {
  return m_evictor.gc(options);
}

GcStats StoreImpl::gc_stats() {
  return m_evictor.gc_stats();
}

Result<void> StoreImpl::flush_recency() {
  return m_recency.flush(m_records);
}

// --- pins and records ---

Result<void> StoreImpl::pin(std::string_view name, std::vector<Hash> blobs) {
  return m_pins.pin(name, std::move(blobs));
}

Result<void> StoreImpl::unpin(std::string_view name) {
  return m_pins.unpin(name);
}

Result<bool> StoreImpl::is_pinned(std::string_view name) {
  return m_pins.is_pinned(name);
}

// Records share the meta table with the store's own settings, under their own prefix.
Result<std::optional<std::string>> StoreImpl::get_record(std::string_view name) {
  return m_index->get_meta("record/" + std::string(name));
}

Result<void> StoreImpl::put_record(std::string_view name, std::string_view value) {
  expect_may_block("Store::put_record");
  return m_index->put_meta("record/" + std::string(name), value);
}

// --- namespaces ---

Result<Entry> StoreImpl::ns_get(Namespace ns, std::string_view key) {
  return m_entries.get(ns, key);
}

Result<void> StoreImpl::ns_put(Namespace ns, std::string_view key, const Digest& value) {
  return m_entries.put(ns, key, value);
}

Result<void> StoreImpl::ns_remove(Namespace ns, std::string_view key) {
  return m_entries.remove(ns, key);
}

Result<std::vector<std::pair<std::string, Entry>>>
StoreImpl::ns_list(Namespace ns, std::string_view prefix, std::size_t limit) {
  return m_entries.list(ns, prefix, limit);
}

} // namespace ingot::cas
