// Mirror snapshots (ARCHITECTURE.md "Mirror"): every file a mirror has fetched, frozen as
// REAPI Directory messages under the ref mirror/NAME/SNAPSHOT, and served from that tree by
// /mirror/NAME@SNAPSHOT/PATH without the upstream.
#include "reapi.pb.h"
#include "server/ops/mirror.hpp"
#include "server/ops/ops.hpp"
#include "server/route.hpp"

#include <map>

namespace ingot::server {

namespace {

namespace reapi = build::bazel::remote::execution::v2;

// Most files one snapshot takes; a mirror of more is refused rather than cut short.
constexpr std::size_t k_max_snapshot_files = 1'000'000;

std::vector<std::string_view> segments_of(std::string_view path) {
  std::vector<std::string_view> out;
  for (std::size_t at = 0; at <= path.size();) {
    const auto end = std::min(path.find('/', at), path.size());
    out.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// A directory of a snapshot being built: names in byte order, as REAPI wants them.
struct SnapshotDir {
  std::map<std::string, SnapshotDir, std::less<>> dirs;
  std::map<std::string, cas::Digest, std::less<>> files;
};

// The digest of the node called `name` among `nodes` (FileNode or DirectoryNode).
template <class Nodes>
std::optional<cas::Digest> named(const Nodes& nodes, std::string_view name) {
  for (const auto& node : nodes) {
    if (node.name() == name) {
      auto digest = cas::parse_digest(node.digest().hash(),
                                      static_cast<std::uint64_t>(node.digest().size_bytes()));
      return digest ? std::optional<cas::Digest>(*digest) : std::nullopt;
    }
  }
  return std::nullopt;
}

// Stores `dir` and what is below it as REAPI Directory messages; the digest of its own.
Result<cas::Digest> store_dir(cas::Store& store, const SnapshotDir& dir) {
  reapi::Directory message;
  for (const auto& [name, digest] : dir.files) {
    auto* file = message.add_files();
    file->set_name(name);
    file->mutable_digest()->set_hash(digest.hex());
    file->mutable_digest()->set_size_bytes(static_cast<std::int64_t>(digest.size));
  }
  for (const auto& [name, child] : dir.dirs) {
    auto digest = store_dir(store, child);
    if (!digest) {
      return digest;
    }
    auto* node = message.add_directories();
    node->set_name(name);
    node->mutable_digest()->set_hash(digest->hex());
    node->mutable_digest()->set_size_bytes(static_cast<std::int64_t>(digest->size));
  }
  std::string bytes;
  message.SerializeToString(&bytes);
  return store.put(as_bytes(bytes));
}

} // namespace

Result<BlobResponse> MirrorCache::read_snapshot(std::string_view name, std::string_view snapshot,
                                                std::string_view key, const ReadRequest& request) {
  INGOT_TRY(check_known(name));
  const auto ref = mirror_snapshot_ref(name, snapshot);
  auto entry = m_store.ns_get(cas::Namespace::ref, ref);
  if (!entry) {
    if (entry.error().code == Errc::not_found) {
      return make_error(Errc::not_found, "mirror " + std::string(name) + " has no snapshot '" +
                                             std::string(snapshot) + "' (ingot mirror snapshot " +
                                             std::string(name) + " " + std::string(snapshot) +
                                             " makes one)");
    }
    return std::move(entry).error();
  }
  const auto missing = [&] {
    return make_error(Errc::not_found, "snapshot " + std::string(snapshot) + " of mirror " +
                                           std::string(name) + " has no " + std::string(key));
  };
  cas::Digest at = entry->value;
  const auto parts = segments_of(key);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto bytes = m_store.get(at.hash);
    if (!bytes) {
      if (bytes.error().code == Errc::not_found) {
        return make_error(Errc::not_found, "part of snapshot " + std::string(snapshot) +
                                               " was evicted (ingot mirror snapshot --pin "
                                               "keeps one whole)");
      }
      return std::move(bytes).error();
    }
    reapi::Directory dir;
    if (!dir.ParseFromString(*bytes)) {
      return make_error(Errc::corrupt, "snapshot " + std::string(snapshot) + ": " + at.to_string() +
                                           " is not a Directory");
    }
    // The last part names a file, the others directories.
    const auto next =
        i + 1 == parts.size() ? named(dir.files(), parts[i]) : named(dir.directories(), parts[i]);
    if (!next) {
      return missing();
    }
    at = *next;
  }
  auto blob = open_blob(m_store, at.hash, request);
  if (blob) {
    blob->mirror = "snapshot";
  } else if (blob.error().code == Errc::not_found) {
    return make_error(Errc::not_found, std::string(key) + " of snapshot " + std::string(snapshot) +
                                           " was evicted (ingot mirror snapshot --pin keeps "
                                           "one whole)");
  }
  return blob;
}

Result<MirrorSnapshot> MirrorCache::build_snapshot(std::string_view name) {
  INGOT_TRY(check_known(name));
  const std::string prefix = "mirror/" + std::string(name) + "/";
  auto entries = m_store.ns_list(cas::Namespace::kv, prefix, k_max_snapshot_files + 1);
  if (!entries) {
    return std::move(entries).error();
  }
  if (entries->size() > k_max_snapshot_files) {
    return make_error(Errc::too_large, "mirror " + std::string(name) + " has over " +
                                           std::to_string(k_max_snapshot_files) +
                                           " files: too many for one snapshot");
  }
  MirrorSnapshot out;
  SnapshotDir root;
  for (const auto& [entry, value] : *entries) {
    auto record = load(entry);
    if (!record) {
      return std::move(record).error();
    }
    if (!*record || (*record)->gone || !m_store.contains((*record)->digest.hash)) {
      continue; // a remembered 404, or bytes evicted since
    }
    const auto parts = segments_of(std::string_view(entry).substr(prefix.size()));
    SnapshotDir* dir = &root;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      // A name both a file and a directory (a/b and a/b/c were both fetched): the
      // directory stays, the file is left out.
      if (dir->files.erase(std::string(parts[i])) != 0) {
        ++out.skipped;
        --out.files;
      }
      dir = &dir->dirs[std::string(parts[i])];
    }
    if (dir->dirs.contains(parts.back())) {
      ++out.skipped;
      continue;
    }
    dir->files[std::string(parts.back())] = (*record)->digest;
    ++out.files;
  }
  auto digest = store_dir(m_store, root);
  if (!digest) {
    return std::move(digest).error();
  }
  out.root = *digest;
  return out;
}

Result<MirrorSnapshot> Ops::snapshot_mirror(const Caller& caller, std::string_view name,
                                            std::string_view snapshot, PinRef pin) {
  INGOT_TRY(enter(caller, Op::mirror_snapshot));
  if (!m_mirror) {
    return make_error(Errc::not_found,
                      "no mirror is configured: ingot serve --mirror NAME=URL serves one");
  }
  const auto ref = mirror_snapshot_ref(name, snapshot);
  // A snapshot is what CI pins and trusts: made once, never replaced under its name.
  if (auto existing = m_store.ns_get(cas::Namespace::ref, ref); existing) {
    return make_error(Errc::conflict, "snapshot " + std::string(snapshot) + " of mirror " +
                                          std::string(name) +
                                          " exists; snapshots are never replaced: choose a new "
                                          "name");
  } else if (existing.error().code != Errc::not_found) {
    return std::move(existing).error();
  }
  auto made = m_mirror->build_snapshot(name);
  if (!made) {
    return made;
  }
  made->ref = ref;
  INGOT_TRY(write_ref(made->ref, made->root, pin));
  made->pinned = pin == PinRef::yes;
  return made;
}

} // namespace ingot::server
