#include "server/refs.hpp"

#include "reapi.pb.h"

#include <deque>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

namespace reapi = build::bazel::remote::execution::v2;
using nlohmann::json;

// A listing answers at most this many refs; narrow the prefix for more.
constexpr std::size_t k_max_listed_refs = 1000;
// Directories of one tree, together, at most (they travel in one response).
constexpr std::uint64_t k_max_tree_bytes = 64u << 20;

std::optional<cas::Digest> digest_of(const reapi::Digest& d) {
  if (d.size_bytes() < 0) {
    return std::nullopt;
  }
  auto parsed = cas::parse_digest(d.hash(), static_cast<std::uint64_t>(d.size_bytes()));
  return parsed ? std::optional<cas::Digest>(*parsed) : std::nullopt;
}

// Names in answers came from clients or older data; one that is not UTF-8 (which JSON text
// must be) is written with U+FFFD in its place rather than throwing out of the handler.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

SimpleResponse json_response(const json& j, unsigned status = 200) {
  return {status, "application/json", dump(j)};
}

Result<json> ref_json(cas::Store& store, const std::string& name, const cas::Entry& entry) {
  auto pinned = store.is_pinned(ref_pin_name(name));
  if (!pinned) {
    return std::move(pinned).error();
  }
  return json{{"name", name},
              {"digest", entry.value.to_string()},
              {"pinned", *pinned},
              {"updated_unix_ms", entry.updated_unix_ms}};
}

} // namespace

std::string ref_pin_name(std::string_view ref) {
  return cas::ref_pin_name(ref); // fsck keeps the refs these pin sets belong to
}

Result<TreeClosure> tree_closure(cas::Store& store, const cas::Digest& root) {
  TreeClosure out;
  std::unordered_set<std::string> seen_dirs;
  std::unordered_set<std::string> seen_files;
  std::deque<cas::Digest> queue{root};
  seen_dirs.insert(root.hex());
  std::uint64_t total = 0;
  while (!queue.empty()) {
    const cas::Digest d = queue.front();
    queue.pop_front();
    total += d.size;
    if (total > k_max_tree_bytes) {
      return make_error(Errc::too_large, "tree " + root.to_string() + " has more than " +
                                             std::to_string(k_max_tree_bytes >> 20) +
                                             " MiB of directories");
    }
    auto bytes = store.get(d.hash);
    if (!bytes) {
      if (bytes.error().code == Errc::not_found) {
        return make_error(Errc::not_found, "tree " + root.to_string() +
                                               " is incomplete: directory " + d.to_string() +
                                               " is gone");
      }
      return std::move(bytes).error();
    }
    reapi::Directory dir;
    if (bytes->size() != d.size || !dir.ParseFromString(*bytes)) {
      return make_error(Errc::invalid_argument,
                        "blob " + d.to_string() + " is not a REAPI Directory message");
    }
    out.directories.push_back(d);
    out.directory_bytes.push_back(std::move(*bytes));
    for (const auto& f : dir.files()) {
      auto fd = digest_of(f.digest());
      if (!fd) {
        return make_error(Errc::invalid_argument, "directory " + d.to_string() + " has file '" +
                                                      f.name() + "' with a malformed digest");
      }
      if (!seen_files.insert(fd->hex()).second) {
        continue;
      }
      if (!store.contains(fd->hash)) {
        return make_error(Errc::not_found, "tree " + root.to_string() + " is incomplete: file '" +
                                               f.name() + "' (" + fd->to_string() + ") is gone");
      }
      out.files.push_back(*fd);
    }
    for (const auto& sub : dir.directories()) {
      auto sd = digest_of(sub.digest());
      if (!sd) {
        return make_error(Errc::invalid_argument, "directory " + d.to_string() +
                                                      " has subdirectory '" + sub.name() +
                                                      "' with a malformed digest");
      }
      if (seen_dirs.insert(sd->hex()).second) {
        queue.push_back(*sd);
      }
    }
  }
  return out;
}

SimpleResponse get_tree(cas::Store& store, const Route& route) {
  auto closure = tree_closure(store, route.digest);
  if (!closure) {
    return error_response(closure.error());
  }
  reapi::Tree tree;
  for (std::size_t i = 0; i < closure->directory_bytes.size(); ++i) {
    auto* dir = i == 0 ? tree.mutable_root() : tree.add_children();
    dir->ParseFromString(closure->directory_bytes[i]);
  }
  return {200, "application/x-protobuf", tree.SerializeAsString()};
}

SimpleResponse get_ref(cas::Store& store, const Route& route) {
  if (route.key.empty()) {
    auto entries = store.ns_list(cas::Namespace::ref, query_param(route.query, "prefix"),
                                 k_max_listed_refs + 1);
    if (!entries) {
      return error_response(entries.error());
    }
    // One more than is listed is asked for, to tell a full page from a cut one.
    const bool truncated = entries->size() > k_max_listed_refs;
    if (truncated) {
      entries->pop_back();
    }
    json refs = json::array();
    for (const auto& [name, entry] : *entries) {
      auto j = ref_json(store, name, entry);
      if (!j) {
        return error_response(j.error());
      }
      refs.push_back(std::move(*j));
    }
    return json_response({{"refs", std::move(refs)}, {"truncated", truncated}});
  }
  auto entry = store.ns_get(cas::Namespace::ref, route.key);
  if (!entry) {
    return error_response(entry.error());
  }
  // ARCHITECTURE.md "Completeness": a ref whose tree lost a blob is not a hit.
  if (auto closure = tree_closure(store, entry->value); !closure) {
    return error_response(closure.error().code == Errc::not_found ? 404
                                                                  : status_of(closure.error()),
                          "ref '" + route.key + "': " + closure.error().message);
  }
  auto j = ref_json(store, route.key, *entry);
  if (!j) {
    return error_response(j.error());
  }
  return json_response(*j);
}

SimpleResponse put_ref(cas::Store& store, const Route& route, std::string_view body) {
  if (route.key.empty()) {
    return error_response(400, "PUT needs a ref name: /v1/refs/{name}");
  }
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("digest") || !j["digest"].is_string() ||
      (j.contains("pinned") && !j["pinned"].is_boolean())) {
    return error_response(
        400, "body must be JSON {\"digest\": \"<64 hex>/<size>\", \"pinned\": true|false}");
  }
  auto digest = cas::parse_digest_text(j["digest"].get<std::string>());
  if (!digest) {
    return error_response(digest.error());
  }
  const bool pinned = j.value("pinned", false);
  auto closure = tree_closure(store, *digest);
  if (!closure) {
    return error_response(closure.error().code == Errc::not_found ? 400
                                                                  : status_of(closure.error()),
                          closure.error().message + "; upload it before naming it");
  }
  const auto pin_name = ref_pin_name(route.key);
  if (pinned) {
    std::vector<cas::Hash> blobs;
    for (const auto& d : closure->directories) {
      blobs.push_back(d.hash);
    }
    for (const auto& d : closure->files) {
      blobs.push_back(d.hash);
    }
    if (auto r = store.pin(pin_name, std::move(blobs)); !r) {
      return error_response(r.error());
    }
  }
  if (auto r = store.ns_put(cas::Namespace::ref, route.key, *digest); !r) {
    return error_response(r.error());
  }
  if (!pinned) {
    if (auto r = store.unpin(pin_name); !r) {
      return error_response(r.error());
    }
  }
  auto entry = store.ns_get(cas::Namespace::ref, route.key);
  if (!entry) {
    return error_response(entry.error());
  }
  auto out = ref_json(store, route.key, *entry);
  if (!out) {
    return error_response(out.error());
  }
  return json_response(*out);
}

SimpleResponse delete_ref(cas::Store& store, const Route& route) {
  if (route.key.empty()) {
    return error_response(400, "DELETE needs a ref name: /v1/refs/{name}");
  }
  if (auto r = store.ns_remove(cas::Namespace::ref, route.key); !r) {
    return error_response(r.error());
  }
  if (auto r = store.unpin(ref_pin_name(route.key)); !r) {
    return error_response(r.error());
  }
  return {200, "text/plain", ""};
}

} // namespace ingot::server
