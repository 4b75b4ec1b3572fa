#include "cas/blob_records.hpp"

#include "cas/space_account.hpp"
#include "cas/usage_counters.hpp"
#include "util/hex.hpp"
#include "util/thread_role.hpp"

#include <algorithm>

#include <xxhash.h>

namespace ingot::cas {

namespace {

constexpr std::size_t k_scrub_chunk = 1 << 20;

} // namespace

BlobInfo info_of(const Hash& hash, const BlobRecord& r) {
  return BlobInfo{Digest{hash, r.size}, r.codec, r.stored_size, r.is_inline, r.created_unix_s};
}

Error missing_blob(const Hash& hash) {
  return make_error(Errc::not_found, "blob " + to_hex(hash) + " is not stored");
}

BlobRecords::BlobRecords(Index& index, BlobFiles files, UsageCounters& usage, SpaceAccount& space,
                         Recency& recency)
    : m_index(index), m_files(std::move(files)), m_usage(usage), m_space(space),
      m_recency(recency) {}

namespace {

// What storing a blob adds to the usage counters.
UsageDelta addition_of(const BlobRecord& record) {
  UsageDelta delta;
  delta.blobs = 1;
  delta.logical_bytes = static_cast<std::int64_t>(record.size);
  delta.stored_bytes = static_cast<std::int64_t>(record.stored_size);
  return delta;
}

} // namespace

// A blob written again is kept as it is, and counts as in use. The caller holds its lock.
Result<bool> BlobRecords::stored_already(const Hash& hash) {
  auto existing = m_index.get_blob(hash, WithData::no);
  if (!existing) {
    return std::move(existing).error();
  }
  if (!existing->has_value()) {
    return false;
  }
  m_recency.touch(hash, Use::write);
  return true;
}

Result<void> BlobRecords::commit_inline(const Digest& digest, const BlobRecord& record,
                                        ByteView stored) {
  expect_may_block("Store::commit");
  std::lock_guard lock(this->lock(digest.hash));
  auto existing = stored_already(digest.hash);
  if (!existing) {
    return std::move(existing).error();
  }
  if (*existing) {
    return {};
  }
  UsageDelta delta = addition_of(record);
  INGOT_TRY(m_index.put_blob(digest.hash, record, stored, delta, m_recency.tick()));
  m_usage.apply(delta);
  // Twice: RocksDB keeps the bytes in its log until the memtable holding them is flushed to
  // a table file, so for a while they are on disk twice. The next measurement corrects it.
  m_space.note_index_write(2 * stored.size() + k_record_overhead);
  return {};
}

Result<void> BlobRecords::commit_file(const Digest& digest, const BlobRecord& record,
                                      TempFile& file) {
  expect_may_block("Store::commit");
  std::lock_guard lock(this->lock(digest.hash));
  auto existing = stored_already(digest.hash);
  if (!existing) {
    return std::move(existing).error();
  }
  if (*existing) {
    return {}; // the temp file goes with the writer
  }
  INGOT_TRY(m_index.put_pending(digest.hash));
  INGOT_TRY(m_files.publish(file, digest.hash));
  UsageDelta delta = addition_of(record);
  delta.file_bytes = delta.stored_bytes;
  if (auto r = m_index.put_blob(digest.hash, record, {}, delta, m_recency.tick()); !r) {
    (void)m_files.remove(digest.hash);
    return std::move(r).error();
  }
  m_usage.apply(delta);
  m_space.note_index_write(k_record_overhead);
  return {};
}

Result<BlobInfo> BlobRecords::stat(const Hash& hash, Use use) {
  auto blob = m_index.get_blob(hash, WithData::no);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return missing_blob(hash);
  }
  m_recency.touch(hash, use);
  return info_of(hash, (*blob)->record);
}

bool BlobRecords::contains(const Hash& hash, Use use) {
  auto blob = m_index.get_blob(hash, WithData::no);
  if (blob && blob->has_value()) {
    m_recency.touch(hash, use);
    return true;
  }
  return false;
}

Result<std::unique_ptr<StoredSource>> BlobRecords::source_of(const Hash& hash, StoredBlob& blob) {
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

Result<std::unique_ptr<BlobReader>>
BlobRecords::open_read(const Hash& hash, FunctionRef<ReadOptions(const BlobInfo&)> plan) {
  auto blob = m_index.get_blob(hash, WithData::yes);
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
  m_recency.touch(hash, Use::read);
  const auto info = info_of(hash, (*blob)->record);
  return make_reader(info, std::move(*source), plan(info));
}

Result<std::string> BlobRecords::get(const Hash& hash) {
  auto reader = open_read(hash, [](const BlobInfo&) { return ReadOptions{}; });
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

Result<void> BlobRecords::erase(const Hash& hash, const BlobRecord& r) {
  auto pins = m_index.pin_count(hash);
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
  INGOT_TRY(m_index.delete_blob(hash, delta));
  m_usage.apply(delta);
  // A delete is written too: tombstones for the record, its last use and its place in the
  // order, in the log and then a table until a compaction drops them.
  m_space.note_index_write(k_record_overhead);
  if (r.is_inline) {
    m_space.note_inline_freed(r.stored_size);
  } else {
    // Readers that already opened the file keep reading it: unlink only drops the name.
    INGOT_TRY(m_files.remove(hash));
  }
  return {};
}

Result<BlobCheck> BlobRecords::check(const Hash& hash, const BlobRecord& record) {
  auto blob = m_index.get_blob(hash, WithData::yes);
  if (!blob) {
    return std::move(blob).error();
  }
  if (!blob->has_value()) {
    return BlobCheck::gone;
  }
  auto source = source_of(hash, **blob);
  if (!source) {
    if (source.error().code != Errc::not_found) {
      return std::move(source).error();
    }
    // Either removed since the lookup, or really missing: under the digest's lock, which a
    // removal holds from index delete to unlink, the index tells which.
    std::lock_guard lock(this->lock(hash));
    auto again = m_index.get_blob(hash, WithData::no);
    if (!again) {
      return std::move(again).error();
    }
    if (!again->has_value()) {
      return BlobCheck::gone;
    }
    return std::filesystem::exists(m_files.path_of(hash)) ? check(hash, record)
                                                          : BlobCheck::missing;
  }
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<std::uint8_t> buf(std::min<std::uint64_t>(k_scrub_chunk, record.stored_size + 1));
  std::uint64_t offset = 0;
  BlobCheck result = BlobCheck::ok;
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
    result = BlobCheck::corrupt;
  }
  XXH3_freeState(state);
  return result;
}

Result<void> BlobRecords::verify(const Hash& hash) {
  auto blob = m_index.get_blob(hash, WithData::no);
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
  case BlobCheck::ok:
    return {};
  case BlobCheck::gone:
    return missing_blob(hash);
  case BlobCheck::missing:
    return make_error(Errc::corrupt, "blob " + to_hex(hash) + " is indexed but its file " +
                                         m_files.path_of(hash).string() + " is missing");
  case BlobCheck::corrupt:
    break;
  }
  return make_error(Errc::corrupt, "blob " + to_hex(hash) +
                                       ": stored bytes fail their checksum (bit rot or tampering)");
}

Result<ScrubReport> BlobRecords::scrub() {
  ScrubReport report;
  Result<void> failure;
  auto scanned = m_index.for_each_blob([&](const Hash& hash, const BlobRecord& record) {
    auto result = check(hash, record);
    if (!result) {
      failure = std::move(result).error();
      return false;
    }
    if (*result == BlobCheck::gone) {
      return true; // removed while the scrub ran
    }
    ++report.checked;
    report.stored_bytes += record.stored_size;
    if (*result == BlobCheck::corrupt) {
      report.corrupt.push_back(Digest{hash, record.size});
    } else if (*result == BlobCheck::missing) {
      report.missing.push_back(Digest{hash, record.size});
    }
    return true;
  });
  INGOT_TRY(std::move(scanned));
  INGOT_TRY(std::move(failure));
  return report;
}

Result<void> BlobRecords::touch_stored(const Hash& hash, std::int64_t tick) {
  std::lock_guard lock(this->lock(hash));
  return m_index.touch(hash, tick);
}

} // namespace ingot::cas
