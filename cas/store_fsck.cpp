// Store::fsck: the index, blobs/ and tmp/ checked against each other and every blob against
// its checksum, with optional repair.
//
// Order matters: blob records first (so that entries naming a damaged blob can be told
// apart), then ac/kv entries, then the usage counters, then the files. Checks and repairs
// take the same per-digest and per-key locks as writes and removals, so fsck may run while
// the store is in use without removing what a writer is about to commit.
#include "cas/store_impl.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ingot::cas {

namespace fs = std::filesystem;

namespace {

std::string hex_of(std::string_view bytes) {
  return to_hex(as_bytes(bytes));
}

// Namespace keys are opaque bytes: shown quoted, with anything unprintable escaped, so that a
// report line stays one line of plain text.
std::string quoted(std::string_view key) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out = "'";
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '\'' || c == '\\') {
      out += "\\x";
      out += k_digits[u >> 4];
      out += k_digits[u & 15];
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool is_shard_name(const std::string& name) {
  return name.size() == 2 && from_hex(name).has_value();
}

IndexTable table_of(Namespace ns) {
  return ns == Namespace::ac ? IndexTable::ac : IndexTable::kv;
}

// The counters fsck can recount from the records. Usage counters added later (by garbage
// collection) are left to whoever adds them to this recount.
bool same_counts(const UsageDelta& a, const UsageDelta& b) {
  return a.blobs == b.blobs && a.logical_bytes == b.logical_bytes &&
         a.stored_bytes == b.stored_bytes && a.ac_entries == b.ac_entries &&
         a.kv_entries == b.kv_entries && a.file_bytes == b.file_bytes;
}

std::string describe(const UsageDelta& u) {
  return std::to_string(u.blobs) + " blobs, " + std::to_string(u.logical_bytes) +
         " logical bytes, " + std::to_string(u.stored_bytes) + " stored bytes, " +
         std::to_string(u.ac_entries) + " ac and " + std::to_string(u.kv_entries) + " kv entries";
}

UsageDelta removal_of(const BlobRecord& r) {
  UsageDelta d;
  d.blobs = -1;
  d.logical_bytes = -static_cast<std::int64_t>(r.size);
  d.stored_bytes = -static_cast<std::int64_t>(r.stored_size);
  return d;
}

// Collects a directory's entries before anything in it is removed.
Result<std::vector<fs::directory_entry>> list_dir(const fs::path& dir) {
  std::vector<fs::directory_entry> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (const fs::directory_iterator end; !ec && it != end; it.increment(ec)) {
    out.push_back(*it);
  }
  if (ec) {
    return errno_error(ec.value(), "cannot list " + dir.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> remove_path(const fs::path& path, const std::string& what,
                                const std::string& shown) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    return errno_error(ec.value(), "cannot remove " + path.string());
  }
  return "removed " + what + " " + shown;
}

} // namespace

std::string_view to_string(FsckIssue issue) {
  switch (issue) {
  case FsckIssue::missing_file:
    return "missing_file";
  case FsckIssue::corrupt_blob:
    return "corrupt_blob";
  case FsckIssue::bad_blob_record:
    return "bad_blob_record";
  case FsckIssue::bad_entry:
    return "bad_entry";
  case FsckIssue::dangling_entry:
    return "dangling_entry";
  case FsckIssue::orphan_file:
    return "orphan_file";
  case FsckIssue::temp_file:
    return "temp_file";
  case FsckIssue::usage_mismatch:
    break;
  }
  return "usage_mismatch";
}

std::size_t FsckReport::unrepaired() const {
  return static_cast<std::size_t>(std::count_if(findings.begin(), findings.end(),
                                                [](const FsckFinding& f) { return !f.repaired; }));
}

// One run of fsck over a store; a friend of StoreImpl, for its locks, index and files.
class FsckRun {
public:
  FsckRun(StoreImpl& store, Repair repair) : m_store(store), m_repair(repair) {}

  Result<FsckReport> run() {
    report_removed_temps();
    Result<void> failure;
    auto recorded = m_store.m_index->for_each_raw([&](IndexTable table, std::string_view key,
                                                      std::string_view value) {
      auto r =
          table == IndexTable::blobs
              ? check_blob(key, value)
              : check_entry(table == IndexTable::ac ? Namespace::ac : Namespace::kv, key, value);
      if (!r) {
        failure = std::move(r).error();
        return false;
      }
      return true;
    });
    INGOT_TRY(std::move(failure));
    if (!recorded) {
      return std::move(recorded).error();
    }
    check_usage(*recorded);
    INGOT_TRY(scan_blob_files());
    INGOT_TRY(scan_tmp());
    return std::move(m_report);
  }

private:
  // Says what a repair did, or fails saying why it could not.
  using Fix = std::function<Result<std::string>()>;

  void found(FsckIssue issue, std::string subject, std::string detail, const Fix& fix) {
    FsckFinding finding{issue, std::move(subject), std::move(detail), false, {}};
    if (m_repair == Repair::yes) {
      auto done = fix();
      if (done) {
        finding.repaired = true;
        finding.action = std::move(*done);
      } else {
        finding.action = "not repaired: " + done.error().message;
      }
    }
    m_report.findings.push_back(std::move(finding));
  }

  std::string shown(const Hash& hash) const {
    return m_store.m_files.path_of(hash).lexically_relative(m_store.dir()).string();
  }

  // --- blob records ---

  Result<void> check_blob(std::string_view key, std::string_view value) {
    if (key.size() != sizeof(Hash)) {
      found(FsckIssue::bad_blob_record, "key " + hex_of(key),
            "a blob record whose key is " + std::to_string(key.size()) + " bytes, not a SHA-256",
            [&]() -> Result<std::string> {
              INGOT_TRY(m_store.m_index->delete_raw(IndexTable::blobs, key, {}));
              return "dropped blob record with key " + hex_of(key);
            });
      return {};
    }
    Hash hash;
    std::memcpy(hash.data(), key.data(), hash.size());
    const auto hex = to_hex(hash);
    const auto record = decode_blob_value(value);
    if (!record) {
      m_damaged.emplace(hash, "has an unreadable record");
      found(FsckIssue::bad_blob_record, hex,
            "blob record cannot be decoded (" + std::to_string(value.size()) + " bytes)",
            [&] { return drop_unreadable_blob(hash); });
      return {};
    }
    m_counted.blobs += 1;
    m_counted.logical_bytes += static_cast<std::int64_t>(record->size);
    m_counted.stored_bytes += static_cast<std::int64_t>(record->stored_size);
    if (!record->is_inline) {
      m_counted.file_bytes += static_cast<std::int64_t>(record->stored_size);
    }

    auto check = m_store.check(hash, *record);
    if (!check) {
      return std::move(check).error();
    }
    if (*check == StoreImpl::Check::gone) {
      return {}; // removed since the snapshot was taken
    }
    ++m_report.blobs_checked;
    m_report.stored_bytes_checked += record->stored_size;
    if (*check == StoreImpl::Check::corrupt) {
      m_damaged.emplace(hash, "is corrupt");
      const auto where = record->is_inline ? std::string("inline") : shown(hash);
      found(FsckIssue::corrupt_blob, hex,
            "stored bytes (" + where + ") fail their XXH3 checksum: bit rot or tampering", [&] {
              return drop_blob(hash, *record,
                               "dropped corrupt blob " + hex + " (checksum mismatch)");
            });
    } else if (*check == StoreImpl::Check::missing) {
      m_damaged.emplace(hash, "has lost its file");
      found(FsckIssue::missing_file, hex, "indexed, but its file " + shown(hash) + " is gone", [&] {
        return drop_blob(hash, *record, "dropped blob " + hex + " (its file is gone)");
      });
    }
    return {};
  }

  // Through remove(), so that usage and whatever else a removal maintains stay exact.
  Result<std::string> drop_blob(const Hash& hash, const BlobRecord& record, std::string action) {
    if (hash == empty_digest().hash) {
      INGOT_TRY(rewrite_empty_blob(&record));
      return action + ", and stored it again";
    }
    auto removed = m_store.remove(hash);
    if (!removed && removed.error().code == Errc::not_found) {
      return "blob " + to_hex(hash) + " was removed meanwhile";
    }
    INGOT_TRY(std::move(removed));
    return action;
  }

  // remove() cannot read such a record, nor can a writer replace it (both look it up first),
  // so it is deleted as it is. What it added to the usage counters is unknown: check_usage()
  // corrects them from the recount.
  Result<std::string> drop_unreadable_blob(const Hash& hash) {
    if (hash == empty_digest().hash) {
      INGOT_TRY(rewrite_empty_blob(nullptr));
      return std::string("dropped the unreadable record of the empty blob, and stored it again");
    }
    std::lock_guard lock(m_store.stripe(hash));
    INGOT_TRY(m_store.m_index->delete_raw(IndexTable::blobs, as_chars(hash), {}));
    std::error_code ec;
    const bool had_file = fs::exists(m_store.m_files.path_of(hash), ec);
    INGOT_TRY(m_store.m_files.remove(hash));
    return "dropped unreadable blob record " + to_hex(hash) +
           (had_file ? " and its file " + shown(hash) : std::string());
  }

  // REAPI: the empty blob is always present, so remove() refuses it; a damaged record of it
  // is replaced instead. `record` is null when the old record could not be decoded.
  Result<void> rewrite_empty_blob(const BlobRecord* record) {
    const Hash& hash = empty_digest().hash;
    {
      std::lock_guard lock(m_store.stripe(hash));
      const UsageDelta delta = record != nullptr ? removal_of(*record) : UsageDelta{};
      INGOT_TRY(m_store.m_index->delete_raw(IndexTable::blobs, as_chars(hash), delta));
      m_store.apply(delta);
    }
    auto again = m_store.put({}, empty_digest());
    if (!again) {
      return std::move(again).error();
    }
    return {};
  }

  // --- ac and kv entries ---

  Result<void> check_entry(Namespace ns, std::string_view key, std::string_view value) {
    ++m_report.entries_checked;
    (ns == Namespace::ac ? m_counted.ac_entries : m_counted.kv_entries) += 1;
    const auto subject = std::string(to_string(ns)) + " " + quoted(key);
    const auto entry = decode_entry(value);
    if (!entry) {
      found(FsckIssue::bad_entry, subject,
            "value cannot be decoded (" + std::to_string(value.size()) + " bytes)",
            [&] { return drop_entry(ns, key, std::nullopt, "(its value cannot be decoded)"); });
      return {};
    }
    const Digest& v = entry->value;
    FsckIssue issue = FsckIssue::dangling_entry;
    std::string problem;
    if (const auto damaged = m_damaged.find(v.hash); damaged != m_damaged.end()) {
      problem = "value blob " + v.hex() + " " + damaged->second;
    } else if (auto info = m_store.stat(v.hash); !info) {
      if (info.error().code == Errc::corrupt) {
        problem = "value blob " + v.hex() + " has an unreadable record";
      } else if (info.error().code == Errc::not_found) {
        problem = "value blob " + v.hex() + " is gone";
      } else {
        return std::move(info).error();
      }
    } else if (info->digest.size != v.size) {
      issue = FsckIssue::bad_entry;
      problem = "names " + v.to_string() + ", but that blob is " +
                std::to_string(info->digest.size) + " bytes";
    }
    if (problem.empty()) {
      return {};
    }
    found(issue, subject, problem, [&]() -> Result<std::string> {
      const bool gone = !m_store.contains(v.hash);
      return drop_entry(ns, key, v,
                        gone ? "(value blob " + v.hex() + " is gone)" : "(" + problem + ")");
    });
    return {};
  }

  // Under the key's lock, and only if the entry still holds what was checked: a writer may
  // have replaced it since the snapshot. `value` is nullopt for an unreadable entry.
  Result<std::string> drop_entry(Namespace ns, std::string_view key,
                                 const std::optional<Digest>& value, const std::string& why) {
    std::lock_guard lock(m_store.stripe(key));
    auto now = m_store.m_index->get_entry(ns, key);
    UsageDelta delta;
    (ns == Namespace::ac ? delta.ac_entries : delta.kv_entries) = -1;
    const auto name = std::string(to_string(ns)) + " entry " + quoted(key);
    if (value) {
      if (!now) {
        return std::move(now).error();
      }
      if (!now->has_value()) {
        // Removing a value blob removes the entries naming it (repairs drop blobs first).
        return "dropped " + name + " along with its value blob";
      }
      if ((*now)->value != *value) {
        return "kept " + name + ": it was rewritten meanwhile";
      }
      INGOT_TRY(m_store.m_index->delete_entry(ns, key, value->hash, delta));
    } else {
      if (now) {
        return "kept " + name + ": it was rewritten or removed meanwhile";
      }
      if (now.error().code != Errc::corrupt) {
        return std::move(now).error();
      }
      INGOT_TRY(m_store.m_index->delete_raw(table_of(ns), key, delta));
    }
    m_store.apply(delta);
    return "dropped " + name + " " + why;
  }

  // --- usage counters ---

  // `recorded` and m_counted come from one snapshot, so they differ only if the counters are
  // wrong (or an unreadable blob record added what cannot be recounted). The correction is a
  // delta, which adds up with whatever other commits do meanwhile.
  void check_usage(const UsageDelta& recorded) {
    const UsageDelta& counted = m_counted;
    if (same_counts(recorded, counted)) {
      return;
    }
    found(FsckIssue::usage_mismatch, "usage counters",
          "recorded " + describe(recorded) + "; the records add up to " + describe(counted),
          [&]() -> Result<std::string> {
            UsageDelta fix;
            fix.blobs = counted.blobs - recorded.blobs;
            fix.logical_bytes = counted.logical_bytes - recorded.logical_bytes;
            fix.stored_bytes = counted.stored_bytes - recorded.stored_bytes;
            fix.ac_entries = counted.ac_entries - recorded.ac_entries;
            fix.kv_entries = counted.kv_entries - recorded.kv_entries;
            fix.file_bytes = counted.file_bytes - recorded.file_bytes;
            INGOT_TRY(m_store.m_index->add_usage(fix));
            m_store.apply(fix);
            return "corrected the usage counters by " + describe(fix);
          });
  }

  // --- files ---

  // The one full walk of blobs/ (restart and GC never need one).
  Result<void> scan_blob_files() {
    const auto blobs = m_store.dir() / "blobs";
    auto entries = list_dir(blobs);
    if (!entries) {
      return std::move(entries).error();
    }
    for (const auto& entry : *entries) {
      const auto name = entry.path().filename().string();
      std::error_code ec;
      const bool dir = entry.is_directory(ec);
      if (dir && is_shard_name(name)) {
        INGOT_TRY(scan_shard(entry.path(), name));
        continue;
      }
      ++m_report.files_checked;
      const auto what = dir ? std::string("stray directory") : std::string("stray file");
      found(FsckIssue::orphan_file, "blobs/" + name,
            dir ? "a directory that is not a shard (two hex digits)"
                : "a file outside the shard directories",
            [&] { return remove_path(entry.path(), what, "blobs/" + name); });
    }
    return {};
  }

  Result<void> scan_shard(const fs::path& dir, const std::string& shard) {
    auto entries = list_dir(dir);
    if (!entries) {
      return std::move(entries).error();
    }
    for (const auto& entry : *entries) {
      ++m_report.files_checked;
      INGOT_TRY(check_blob_file(entry, shard));
    }
    return {};
  }

  Result<void> check_blob_file(const fs::directory_entry& entry, const std::string& shard) {
    const auto name = entry.path().filename().string();
    const auto rel = "blobs/" + shard + "/" + name;
    std::optional<Hash> hash;
    if (auto parsed = parse_hash(name)) {
      hash = *parsed;
    }
    if (!hash || !name.starts_with(shard)) {
      found(FsckIssue::orphan_file, rel,
            hash ? "a blob file in the wrong shard (it belongs in blobs/" + name.substr(0, 2) + "/)"
                 : "not named by a SHA-256 (64 lowercase hex digits)",
            [&] { return remove_path(entry.path(), "stray file", rel); });
      return {};
    }
    // Under the digest's lock, which a commit holds from publishing the file to recording
    // it: a file without a record here is not one about to get one.
    std::lock_guard lock(m_store.stripe(*hash));
    auto blob = m_store.m_index->get_blob(*hash, WithData::no);
    if (!blob) {
      if (blob.error().code == Errc::corrupt) {
        return {}; // an unreadable record, reported above; its repair takes the file along
      }
      return std::move(blob).error();
    }
    std::string why;
    if (!blob->has_value()) {
      why = "no blob record names it";
    } else if ((*blob)->record.is_inline) {
      why = "its blob is stored inline in the index";
    } else {
      return {};
    }
    found(FsckIssue::orphan_file, rel, why,
          [&] { return remove_path(entry.path(), "orphan file", rel); });
    return {};
  }

  Result<void> scan_tmp() {
    const auto tmp = m_store.dir() / "tmp";
    auto entries = list_dir(tmp);
    if (!entries) {
      return std::move(entries).error();
    }
    for (const auto& entry : *entries) {
      ++m_report.files_checked;
      const auto name = entry.path().filename().string();
      if (BlobFiles::is_own_temp(name)) {
        continue; // a write in flight
      }
      found(FsckIssue::temp_file, "tmp/" + name, "no write in flight owns it",
            [&] { return remove_path(entry.path(), "leftover temp file", "tmp/" + name); });
    }
    return {};
  }

  // Store::open() empties tmp/ whatever the mode: the previous owner's writes are over.
  void report_removed_temps() {
    for (const auto& name : m_store.m_files.removed_temps()) {
      m_report.findings.push_back(FsckFinding{
          FsckIssue::temp_file, "tmp/" + name, "left over from a write that never finished", true,
          "removed leftover temp file tmp/" + name + " when the data dir was opened"});
    }
  }

  StoreImpl& m_store;
  Repair m_repair;
  FsckReport m_report;
  UsageDelta m_counted; // what the records in the snapshot add up to
  // Blobs found damaged, with what is wrong: entries naming them are dropped along with them.
  std::unordered_map<Hash, std::string> m_damaged;
};

Result<FsckReport> StoreImpl::fsck(Repair repair) {
  return FsckRun(*this, repair).run();
}

} // namespace ingot::cas
