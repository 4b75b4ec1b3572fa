// Store::fsck, continued: blobs/ and tmp/ against the index.
#include "cas/fsck_run.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

namespace ingot::cas {

namespace fs = std::filesystem;

namespace {

bool is_shard_name(const std::string& name) {
  return name.size() == 2 && from_hex(name).has_value();
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

// The one full walk of blobs/ (restart and GC never need one).
Result<void> FsckRun::scan_blob_files() {
  const auto blobs = m_parts.store.dir() / "blobs";
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

Result<void> FsckRun::scan_shard(const fs::path& dir, const std::string& shard) {
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

Result<void> FsckRun::check_blob_file(const fs::directory_entry& entry, const std::string& shard) {
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
  std::lock_guard lock(m_parts.records.lock(*hash));
  auto blob = m_parts.index.get_blob(*hash, WithData::no);
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

Result<void> FsckRun::scan_tmp() {
  const auto tmp = m_parts.store.dir() / "tmp";
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
void FsckRun::report_removed_temps() {
  for (const auto& name : m_parts.records.files().removed_temps()) {
    FsckFinding finding;
    finding.issue = FsckIssue::temp_file;
    finding.subject = "tmp/" + name;
    finding.detail = "left over from a write that never finished";
    finding.repaired = true;
    finding.action = "removed leftover temp file tmp/" + name + " when the data dir was opened";
    m_report.findings.push_back(std::move(finding));
  }
}

} // namespace ingot::cas
