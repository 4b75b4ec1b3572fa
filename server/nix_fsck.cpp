// fsck's pass over the Nix cache: each narinfo must parse, name its own path and have its nar.
#include "server/nix_cache.hpp"
#include "sign/narinfo.hpp"

#include <limits>

namespace ingot::server {

namespace {

constexpr std::string_view k_narinfo_suffix = ".narinfo";

} // namespace

Result<void> fsck_nix(cas::Store& store, cas::Repair repair, cas::FsckReport& report) {
  auto entries = store.ns_list(cas::Namespace::nix, "", std::numeric_limits<std::size_t>::max());
  if (!entries) {
    return std::move(entries).error();
  }
  for (const auto& [key, entry] : *entries) {
    if (!key.ends_with(k_narinfo_suffix)) {
      continue;
    }
    const std::string hash32 = key.substr(0, key.size() - k_narinfo_suffix.size());
    cas::FsckFinding finding;
    finding.subject = "nix '" + key + "'";
    auto text = store.get(entry.value.hash);
    if (!text) {
      continue; // the store's own pass reports an entry whose value is gone or damaged
    }
    auto info = sign::parse_narinfo(*text);
    if (!info || sign::hash_part(info->store_path) != hash32) {
      finding.issue = cas::FsckIssue::bad_entry;
      finding.detail = info ? "its StorePath " + info->store_path + " is another path"
                            : "does not parse as a narinfo: " + info.error().message;
    } else {
      auto nar = store.ns_get(cas::Namespace::nix, info->url);
      if (nar && store.contains(nar->value.hash)) {
        continue;
      }
      finding.issue = cas::FsckIssue::dangling_entry;
      finding.detail = info->store_path + ": its nar " + info->url +
                       (nar ? " (blob " + nar->value.hex() + ")" : std::string()) +
                       " is not stored (served as a miss)";
      auto pinned = store.is_pinned(nix_pin_name(hash32));
      if (!pinned) {
        return std::move(pinned).error();
      }
      if (*pinned) {
        // A pinned path is someone's choice to keep: its narinfo stays, and a push restores it.
        finding.restore = "push the path again: `nix copy --to 'http://HOST:PORT/nix' " +
                          info->store_path + "` (it is pinned: `ingot nix pin` keeps it)";
        if (repair == cas::Repair::yes) {
          finding.action = "kept the narinfo of pinned path " + info->store_path;
        }
        report.findings.push_back(std::move(finding));
        continue;
      }
    }
    if (repair == cas::Repair::yes) {
      auto removed = store.ns_remove(cas::Namespace::nix, key);
      finding.repaired = removed.has_value();
      finding.action = removed ? "dropped the narinfo; the next `nix copy --to` pushes it again"
                               : "could not drop it: " + removed.error().message;
    }
    report.findings.push_back(std::move(finding));
  }
  return {};
}

} // namespace ingot::server
