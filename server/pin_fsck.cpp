#include "server/pin_fsck.hpp"

#include "server/nix_cache.hpp"
#include "server/refs.hpp"
#include "server/releases.hpp"
#include "sign/narinfo.hpp"
#include "util/hex.hpp"

namespace ingot::server {

namespace {

// fsck runs with the server stopped and does not know its address: the reader fills it in.
constexpr std::string_view k_server = "http://HOST:PORT";

// Who needs the blob, in words ("release demo 1.0 needs it as app.tar"), and how to upload it
// again so that its digest matches and its pins hold it once more.
struct Need {
  std::string who;
  std::string restore;
};

std::string upload_hint(const cas::Store& store, std::string_view file, const std::string& hex) {
  const std::string f(file);
  return "`ingot put --data " + store.dir().string() + " " + f + "` (server stopped) or `curl -T " +
         f + " -H 'Authorization: Bearer TOKEN' " + std::string(k_server) + "/cas/" + hex +
         "` (a token with the write scope); the digest matches, so the blob is taken back and "
         "pinned again";
}

// The store path of a pinned Nix path, from its narinfo when that is still readable.
std::string nix_store_path(cas::Store& store, const std::string& hash32) {
  auto entry = store.ns_get(cas::Namespace::nix, hash32 + ".narinfo");
  if (entry) {
    if (auto text = store.get(entry->value.hash)) {
      if (auto info = sign::parse_narinfo(*text)) {
        return info->store_path;
      }
    }
  }
  return "/nix/store/" + hash32 + "-…";
}

Result<Need> need_of(cas::Store& store, const std::string& pin_set, const cas::Hash& blob) {
  const std::string hex = to_hex(blob);
  auto release = release_need(store, pin_set, blob);
  if (!release) {
    return std::move(release).error();
  }
  if (*release) {
    const auto& r = **release;
    return Need{"release " + r.project + " " + r.version + " needs it as " + r.file,
                "upload " + r.file +
                    " (the file as released) again: " + upload_hint(store, r.file, hex) +
                    "; release " + r.project + " " + r.version + " is then whole again"};
  }
  if (auto ref = ref_of_pin_set(pin_set)) {
    return Need{"pinned ref '" + *ref + "' needs it",
                "upload the file again: " + upload_hint(store, "FILE", hex) +
                    "; or push the tree again (`ingot push-tree DIR --ref " + *ref + " --pin`)"};
  }
  const std::string nix_prefix = nix_pin_name("");
  if (pin_set.starts_with(nix_prefix)) {
    const auto path = nix_store_path(store, pin_set.substr(nix_prefix.size()));
    return Need{"pinned Nix path " + path + " needs it", "push the path again: `nix copy --to '" +
                                                             std::string(k_server) + "/nix' " +
                                                             path + "`"};
  }
  return Need{"pin set '" + pin_set + "' needs it",
              "upload the blob again: " + upload_hint(store, "FILE", hex)};
}

} // namespace

Result<void> explain_pinned(cas::Store& store, cas::Repair repair, cas::FsckReport& report) {
  for (auto& finding : report.findings) {
    if (!finding.blob || finding.pinned_by.empty()) {
      continue;
    }
    std::string restore;
    for (const auto& pin_set : finding.pinned_by) {
      auto need = need_of(store, pin_set, *finding.blob);
      if (!need) {
        return std::move(need).error();
      }
      finding.detail += "; " + need->who;
      if (restore.empty()) {
        restore = std::move(need->restore);
      }
    }
    // Without --repair the damaged copy is still indexed, and an upload of the same bytes
    // would be taken for it: the repair drops it first.
    if (repair == cas::Repair::no && store.contains(*finding.blob)) {
      restore = "`ingot fsck --data " + store.dir().string() +
                " --repair` drops the damaged copy (keeping its pins); then " + restore;
    }
    finding.restore = std::move(restore);
  }
  return {};
}

} // namespace ingot::server
