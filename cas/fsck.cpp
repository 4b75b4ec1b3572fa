// Store::fsck: the index, blobs/ and tmp/ checked against each other and every blob against
// its checksum, with optional repair.
//
// Order matters: pin counts against the pin sets first, then every table of the index from one
// snapshot in k_index_tables order (pin counts before blob records, so that pinned bytes are
// recounted; blob records before entries, so that entries naming a damaged blob can be told
// apart), then the usage counters, then the files (fsck_files.cpp). Checks and repairs
// take the same per-digest and per-key locks as writes and removals, so fsck may run while
// the store is in use without removing what a writer is about to commit.
#include "cas/fsck_run.hpp"
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

UsageDelta removal_of(const BlobRecord& r) {
  UsageDelta d;
  d.blobs = -1;
  d.logical_bytes = -static_cast<std::int64_t>(r.size);
  d.stored_bytes = -static_cast<std::int64_t>(r.stored_size);
  return d;
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
    return "usage_mismatch";
  case FsckIssue::bad_record:
    return "bad_record";
  case FsckIssue::pin_count:
    return "pin_count";
  case FsckIssue::missing_pinned:
    return "missing_pinned";
  case FsckIssue::eviction_order:
    break;
  }
  return "eviction_order";
}

std::size_t FsckReport::unrepaired() const {
  return static_cast<std::size_t>(std::count_if(findings.begin(), findings.end(),
                                                [](const FsckFinding& f) { return !f.repaired; }));
}

std::string FsckRun::hex_of(std::string_view bytes) {
  return to_hex(as_bytes(bytes));
}

// Namespace keys are opaque bytes: shown quoted, with anything unprintable escaped, so that a
// report line stays one line of plain text.
std::string FsckRun::quoted(std::string_view key) {
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

Result<FsckReport> FsckRun::run() {
  report_removed_temps();
  // Pin counts first, from the pin sets, read live under the pin lock: the walk's snapshot then
  // has the repaired counts, and a blob the sets pin is never put in the eviction order.
  INGOT_TRY(check_pins());
  Result<void> failure;
  auto recorded = m_parts.index.for_each_raw(
      [&](IndexTable table, std::string_view key, std::string_view value) {
        auto r = check_record(table, key, value);
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
  INGOT_TRY(name_pin_sets());
  return std::move(m_report);
}

// No default: a table added to INGOT_INDEX_TABLES without a check here does not compile.
Result<void> FsckRun::check_record(IndexTable table, std::string_view key, std::string_view value) {
  switch (table) {
  case IndexTable::meta:
    return check_meta(key, value);
  case IndexTable::pins:
    return check_pin_record(key, value);
  case IndexTable::blobs:
    return check_blob(key, value);
#define INGOT_FSCK_NAMESPACE_CASE(name) case IndexTable::name:
    INGOT_NAMESPACES(INGOT_FSCK_NAMESPACE_CASE)
#undef INGOT_FSCK_NAMESPACE_CASE
    return check_entry(*namespace_of(table), key, value);
  case IndexTable::atime:
    return check_last_use(key, value);
  case IndexTable::lru:
    return check_lru(key);
  case IndexTable::backrefs:
    return check_back_reference(key);
  }
  return {};
}

void FsckRun::found(FsckIssue issue, std::string subject, std::string detail, const Fix& fix) {
  FsckFinding finding;
  finding.issue = issue;
  finding.subject = std::move(subject);
  finding.detail = std::move(detail);
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

std::string FsckRun::shown(const Hash& hash) const {
  return m_parts.records.files().path_of(hash).lexically_relative(m_parts.store.dir()).string();
}

// --- blob records ---

Result<void> FsckRun::check_blob(std::string_view key, std::string_view value) {
  if (key.size() != sizeof(Hash)) {
    found(FsckIssue::bad_blob_record, "key " + hex_of(key),
          "a blob record whose key is " + std::to_string(key.size()) + " bytes, not a SHA-256",
          [&]() -> Result<std::string> {
            INGOT_TRY(m_parts.index.delete_raw(IndexTable::blobs, key, {}));
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
  if (const auto pins = m_pins.find(hash); pins != m_pins.end() && pins->second > 0) {
    m_counted.pinned_blobs += 1;
    m_counted.pinned_bytes += static_cast<std::int64_t>(record->stored_size);
  }

  auto check = m_parts.records.check(hash, *record);
  if (!check) {
    return std::move(check).error();
  }
  if (*check == BlobCheck::gone) {
    return {}; // removed since the snapshot was taken
  }
  ++m_report.blobs_checked;
  m_report.stored_bytes_checked += record->stored_size;
  if (*check == BlobCheck::corrupt) {
    m_damaged.emplace(hash, "is corrupt");
    const auto where = record->is_inline ? std::string("inline") : shown(hash);
    const auto detail =
        "stored bytes (" + where + ") fail their XXH3 checksum: bit rot or tampering";
    if (is_pinned(hash)) {
      found_pinned(FsckIssue::corrupt_blob, hash, *record, detail);
    } else {
      found(FsckIssue::corrupt_blob, hex, detail, [&] {
        return drop_blob(hash, *record, "dropped corrupt blob " + hex + " (checksum mismatch)");
      });
    }
  } else if (*check == BlobCheck::missing) {
    m_damaged.emplace(hash, "has lost its file");
    const auto detail = "indexed, but its file " + shown(hash) + " is gone";
    if (is_pinned(hash)) {
      found_pinned(FsckIssue::missing_file, hash, *record, detail);
    } else {
      found(FsckIssue::missing_file, hex, detail, [&] {
        return drop_blob(hash, *record, "dropped blob " + hex + " (its file is gone)");
      });
    }
  } else {
    return check_recency(hash, *record);
  }
  return {};
}

bool FsckRun::is_pinned(const Hash& hash) const {
  const auto pins = m_pins.find(hash);
  // The empty blob is rewritten rather than dropped (drop_blob), which repairs it whole.
  return pins != m_pins.end() && pins->second > 0 && hash != empty_digest().hash;
}

// Pinned data is not fsck's to drop: a release, a pinned ref or a Nix path needs these bytes.
// The damaged copy goes (nothing serves it any more, and an upload of the same bytes is then
// stored instead of being taken for a copy already there), but the pins stay, so the upload is
// pinned again; until then the finding stays unrepaired and fsck exits non-zero.
void FsckRun::found_pinned(FsckIssue issue, const Hash& hash, const BlobRecord& record,
                           std::string detail) {
  FsckFinding finding;
  finding.issue = issue;
  finding.subject = to_hex(hash);
  finding.detail = std::move(detail);
  finding.blob = hash;
  if (m_repair == Repair::yes) {
    auto dropped = drop_blob(hash, record,
                             "dropped the damaged copy of pinned blob " + to_hex(hash) +
                                 " and kept its pins: not repaired until it is uploaded again");
    finding.action = dropped ? std::move(*dropped) : "not repaired: " + dropped.error().message;
  }
  m_report.findings.push_back(std::move(finding));
}

// Through remove(), so that usage and whatever else a removal maintains stay exact.
Result<std::string> FsckRun::drop_blob(const Hash& hash, const BlobRecord& record,
                                       std::string action) {
  if (hash == empty_digest().hash) {
    INGOT_TRY(rewrite_empty_blob(&record));
    return action + ", and stored it again";
  }
  auto removed = m_parts.store.remove(hash);
  if (!removed && removed.error().code == Errc::not_found) {
    return "blob " + to_hex(hash) + " was removed meanwhile";
  }
  INGOT_TRY(std::move(removed));
  return action;
}

// remove() cannot read such a record, nor can a writer replace it (both look it up first),
// so it is deleted as it is. What it added to the usage counters is unknown: check_usage()
// corrects them from the recount.
Result<std::string> FsckRun::drop_unreadable_blob(const Hash& hash) {
  if (hash == empty_digest().hash) {
    INGOT_TRY(rewrite_empty_blob(nullptr));
    return std::string("dropped the unreadable record of the empty blob, and stored it again");
  }
  std::lock_guard lock(m_parts.records.lock(hash));
  // With its last use and place in the eviction order, when those can be read.
  if (auto deleted = m_parts.index.delete_blob(hash, {}); !deleted) {
    if (deleted.error().code != Errc::corrupt) {
      return std::move(deleted).error();
    }
    INGOT_TRY(m_parts.index.delete_raw(IndexTable::blobs, as_chars(hash), {}));
  }
  std::error_code ec;
  const bool had_file = fs::exists(m_parts.records.files().path_of(hash), ec);
  INGOT_TRY(m_parts.records.files().remove(hash));
  return "dropped unreadable blob record " + to_hex(hash) +
         (had_file ? " and its file " + shown(hash) : std::string());
}

// REAPI: the empty blob is always present, so remove() refuses it; a damaged record of it
// is replaced instead. `record` is null when the old record could not be decoded.
Result<void> FsckRun::rewrite_empty_blob(const BlobRecord* record) {
  const Hash& hash = empty_digest().hash;
  {
    std::lock_guard lock(m_parts.records.lock(hash));
    const UsageDelta delta = record != nullptr ? removal_of(*record) : UsageDelta{};
    INGOT_TRY(m_parts.index.delete_raw(IndexTable::blobs, as_chars(hash), delta));
    m_parts.usage.apply(delta);
  }
  auto again = m_parts.store.put({}, empty_digest());
  if (!again) {
    return std::move(again).error();
  }
  return {};
}

// --- namespace entries ---

Result<void> FsckRun::check_entry(Namespace ns, std::string_view key, std::string_view value) {
  ++m_report.entries_checked;
  entries_field(m_counted, ns) += 1;
  const auto subject = std::string(to_string(ns)) + " " + quoted(key);
  const auto entry = decode_entry(value);
  if (!entry) {
    found(FsckIssue::bad_entry, subject,
          "value cannot be decoded (" + std::to_string(value.size()) + " bytes)",
          [&]() -> Result<std::string> {
            INGOT_TRY(keep_if_pinned(ns, key));
            return drop_entry(ns, key, std::nullopt, "(its value cannot be decoded)");
          });
    return {};
  }
  const Digest& v = entry->value;
  FsckIssue issue = FsckIssue::dangling_entry;
  std::string problem;
  if (const auto damaged = m_damaged.find(v.hash); damaged != m_damaged.end()) {
    problem = "value blob " + v.hex() + " " + damaged->second;
  } else if (auto info = m_parts.store.stat(v.hash); !info) {
    if (info.error().code == Errc::corrupt) {
      problem = "value blob " + v.hex() + " has an unreadable record";
    } else if (info.error().code == Errc::not_found) {
      problem = "value blob " + v.hex() + " is gone";
    } else {
      return std::move(info).error();
    }
  } else if (info->digest.size != v.size) {
    issue = FsckIssue::bad_entry;
    problem = "names " + v.to_string() + ", but that blob is " + std::to_string(info->digest.size) +
              " bytes";
  }
  if (problem.empty()) {
    return {};
  }
  found(issue, subject, problem, [&]() -> Result<std::string> {
    INGOT_TRY(keep_if_pinned(ns, key));
    const bool gone = !m_parts.store.contains(v.hash);
    return drop_entry(ns, key, v,
                      gone ? "(value blob " + v.hex() + " is gone)" : "(" + problem + ")");
  });
  return {};
}

// A pinned ref keeps a tree someone chose to keep (a release candidate, say): fsck does not
// drop it, whatever is wrong with it, but says what would mend it.
Result<void> FsckRun::keep_if_pinned(Namespace ns, std::string_view key) {
  if (ns != Namespace::ref) {
    return {};
  }
  auto set = m_parts.index.get_pin_set(ref_pin_name(key));
  if (!set) {
    return std::move(set).error();
  }
  if (set->empty()) {
    return {};
  }
  return make_error(Errc::invalid_argument,
                    "kept pinned ref " + quoted(key) +
                        ": fsck does not drop pinned data; upload its tree again, or delete the "
                        "ref (DELETE /v1/refs/" +
                        std::string(key) + ")");
}

// Under the key's lock, and only if the entry still holds what was checked: a writer may
// have replaced it since the snapshot. `value` is nullopt for an unreadable entry.
Result<std::string> FsckRun::drop_entry(Namespace ns, std::string_view key,
                                        const std::optional<Digest>& value,
                                        const std::string& why) {
  std::lock_guard lock(m_parts.entries.lock(key));
  auto now = m_parts.index.get_entry(ns, key);
  UsageDelta delta;
  entries_field(delta, ns) = -1;
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
    INGOT_TRY(m_parts.index.delete_entry(ns, key, value->hash, delta));
  } else {
    if (now) {
      return "kept " + name + ": it was rewritten or removed meanwhile";
    }
    if (now.error().code != Errc::corrupt) {
      return std::move(now).error();
    }
    INGOT_TRY(m_parts.index.delete_raw(table_of(ns), key, delta));
  }
  m_parts.usage.apply(delta);
  return "dropped " + name + " " + why;
}

} // namespace ingot::cas
