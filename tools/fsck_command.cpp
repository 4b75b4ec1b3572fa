// `ingot fsck`: checks a local data dir's index, blob files, tmp/ and checksums against each
// other and, with --repair, fixes what it finds. Every finding and every action is listed.
#include "cas/store.hpp"
#include "server/nix_cache.hpp"
#include "server/pin_fsck.hpp"
#include "tools/commands.hpp"
#include "tools/data_dir.hpp"
#include "util/size.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ingot::tools {

namespace {

constexpr const char* k_footer = R"(What it checks, in every table of the index:
  - every blob's stored bytes against their XXH3 checksum, and that its file exists
  - records that cannot be decoded (blob records, ac, kv and ref entries, pin counts, pin
    sets, last uses, the eviction order, back references)
  - ac, kv, ref and nix entries whose value blob is not stored or is damaged
  - Nix narinfos that do not parse, name another path, or whose nar is gone
  - pin counts against the pin sets (pinned refs, releases), and pinned blobs that are gone
  - for a damaged or missing blob that a release, a pinned ref or a pinned Nix path needs:
    which one needs it, and how to upload it again
  - that GC can evict every unpinned blob (its last use and place in the eviction order)
  - files under blobs/ that no blob record names, and leftover files in tmp/
  - every usage counter (blobs, bytes, entries, pinned blobs and bytes) against the records

Without --repair nothing is changed, except that opening a data dir always removes what
interrupted writes left in tmp/ (listed as repaired). With --repair, damaged blobs and
entries are dropped (clients upload them again), pin counts and the eviction order are
rebuilt, counters are corrected and stray files are removed; each action is listed. Pinned
data is never dropped: a damaged copy of a blob that a release, pinned ref or pinned Nix path
needs is removed but its pins stay, and the finding stays unrepaired (exit 4) with how to
restore it: upload the same file again (`ingot put`, or `curl -T FILE .../cas/HEX`), which is
accepted because its digest matches, and pinned again. The data dir must not be in use: stop
the server first.

Exit status: 0 consistent (or everything repaired), 4 problems remain, 1 error.)";

std::string label(cas::FsckIssue issue) {
  std::string out(to_string(issue));
  for (char& c : out) {
    c = c == '_' ? ' ' : c;
  }
  return out;
}

std::string count(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Unrepaired findings about pinned data that only an upload restores (explain_pinned).
std::size_t pinned_left(const cas::FsckReport& report) {
  return static_cast<std::size_t>(
      std::count_if(report.findings.begin(), report.findings.end(), [](const cas::FsckFinding& f) {
        return !f.repaired && !f.restore.empty() &&
               (f.issue == cas::FsckIssue::missing_pinned || !f.action.empty());
      }));
}

void print_text(const cas::FsckReport& report, const std::string& data, cas::Repair repair) {
  for (const auto& f : report.findings) {
    std::printf("%-16s %s: %s\n", label(f.issue).c_str(), f.subject.c_str(), f.detail.c_str());
    if (!f.action.empty()) {
      std::printf("  -> %s\n", f.action.c_str());
    }
    if (!f.restore.empty()) {
      std::printf("  to restore: %s\n", f.restore.c_str());
    }
  }
  std::string summary = "checked " + count(report.blobs_checked, "blob", "blobs") + " (" +
                        format_size(report.stored_bytes_checked) + " stored), " +
                        count(report.entries_checked, "entry", "entries") + ", " +
                        count(report.files_checked, "file", "files") + ": ";
  const std::size_t problems = report.findings.size();
  const std::size_t left = report.unrepaired();
  if (problems == 0) {
    summary += "no problems";
  } else if (left == 0) {
    summary += count(problems, "problem", "problems") + ", all repaired";
  } else if (repair == cas::Repair::no && left == pinned_left(report)) {
    // fsck --repair cannot bring these back: only an upload of the same bytes can.
    summary += count(problems, "problem", "problems") + ", " + std::to_string(left) +
               " left: pinned data that an upload of the same bytes restores (see `to "
               "restore` above)";
  } else if (repair == cas::Repair::no) {
    summary += count(problems, "problem", "problems") + ", " + std::to_string(left) +
               " left; `ingot fsck --data " + data + " --repair` drops damaged blobs and entries " +
               "and removes stray files";
  } else {
    summary += count(problems, "problem", "problems") + ", " + std::to_string(problems - left) +
               " repaired, " + std::to_string(left) +
               " not repaired (see above: what needs them, and how to restore them)";
  }
  std::printf("%s\n", summary.c_str());
}

void print_json(const cas::FsckReport& report, const std::string& data, cas::Repair repair) {
  auto findings = nlohmann::ordered_json::array();
  auto actions = nlohmann::ordered_json::array();
  for (const auto& f : report.findings) {
    findings.push_back({{"issue", std::string(to_string(f.issue))},
                        {"subject", f.subject},
                        {"detail", f.detail},
                        {"repaired", f.repaired},
                        {"action", f.action},
                        {"pinned_by", f.pinned_by},
                        {"restore", f.restore}});
    if (f.repaired) {
      actions.push_back(f.action);
    }
  }
  const std::size_t left = report.unrepaired();
  const nlohmann::ordered_json j{
      {"data", data},
      {"repair", repair == cas::Repair::yes},
      {"checked",
       {{"blobs", report.blobs_checked},
        {"stored_bytes", report.stored_bytes_checked},
        {"entries", report.entries_checked},
        {"files", report.files_checked}}},
      {"findings", findings},
      {"actions", actions},
      {"problems", report.findings.size()},
      {"repaired", report.findings.size() - left},
      {"unrepaired", left},
      {"clean", left == 0},
  };
  std::printf("%s\n",
              j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

int cmd_fsck(const std::string& data, cas::Repair repair, bool json) {
  cas::StoreOptions options;
  options.dir = data;
  // Takes the data dir's lock: refused, naming the holder, while a server runs on it.
  auto store = open_data_dir(options, stop_the_server_first("fsck"));
  if (!store) {
    return fail(store.error());
  }
  auto report = (*store)->fsck(repair);
  if (!report) {
    return fail(report.error());
  }
  if (auto nix = server::fsck_nix(**store, repair, *report); !nix) {
    return fail(nix.error());
  }
  if (auto pinned = server::explain_pinned(**store, repair, *report); !pinned) {
    return fail(pinned.error());
  }
  if (json) {
    print_json(*report, data, repair);
  } else {
    print_text(*report, data, repair);
  }
  return report->unrepaired() == 0 ? k_exit_ok : k_exit_corrupt;
}

} // namespace

void add_fsck_command(CLI::App& app, std::function<int()>& run) {
  // CLI11 options hold references to these.
  static std::string data = k_default_data_dir;
  static bool repair = false;
  static bool json = false;

  auto* fsck = app.add_subcommand(
      "fsck", "Check a local data dir: index, blob files and checksums against each other; "
              "--repair fixes what it finds (exit 4 when problems remain)");
  add_data_option(fsck, data, "Data directory");
  fsck->add_flag("--repair", repair,
                 "Drop corrupt or missing blobs, unreadable records and unpinned entries whose "
                 "value blob is gone; rebuild pin counts and the eviction order; correct the "
                 "counters; remove orphan files under blobs/ and leftovers in tmp/");
  fsck->add_flag("--json", json, "Print one JSON object instead of text");
  fsck->footer(k_footer);
  fsck->callback([&run] {
    run = [] {
      return cmd_fsck(data, repair ? cas::Repair::yes : cas::Repair::no, json);
    };
  });
}

} // namespace ingot::tools
