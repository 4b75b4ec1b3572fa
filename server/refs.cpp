#include "server/refs.hpp"

#include "reapi.pb.h"
#include "server/ops/ops.hpp"

#include <deque>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

namespace reapi = build::bazel::remote::execution::v2;
using nlohmann::json;

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

json ref_json(const RefView& ref) {
  return json{{"name", ref.name},
              {"digest", ref.digest.to_string()},
              {"pinned", ref.pinned},
              {"updated_unix_ms", ref.updated_unix_ms}};
}

} // namespace

std::string ref_pin_name(std::string_view ref) {
  return cas::ref_pin_name(ref); // fsck keeps the refs these pin sets belong to
}

std::optional<std::string> ref_of_pin_set(std::string_view pin_set) {
  const std::string prefix = cas::ref_pin_name("");
  if (!pin_set.starts_with(prefix) || pin_set.size() == prefix.size()) {
    return std::nullopt;
  }
  return std::string(pin_set.substr(prefix.size()));
}

Result<TreeClosure> tree_closure(cas::Store& store, const cas::Digest& root, TreePart part) {
  TreeClosure out;
  std::unordered_set<std::string> seen_dirs;
  std::unordered_set<std::string> seen_files;
  std::deque<cas::Digest> queue{root};
  seen_dirs.insert(root.hex());
  std::uint64_t total = 0;
  while (!queue.empty()) {
    const cas::Digest d = queue.front();
    queue.pop_front();
    // Checked before reading, so that no claimed size makes a blob be read into memory whole;
    // counted once read, so that a missing directory's claimed size costs nothing.
    if (d.size > k_max_tree_bytes - total) {
      return make_error(Errc::too_large, "tree " + root.to_string() + " has more than " +
                                             std::to_string(k_max_tree_bytes >> 20) +
                                             " MiB of directories");
    }
    auto bytes = store.get(d.hash);
    if (!bytes) {
      if (bytes.error().code == Errc::not_found && part == TreePart::present && d != root) {
        continue; // what is below a missing directory is left out with it
      }
      if (bytes.error().code == Errc::not_found) {
        return make_error(Errc::not_found, "tree " + root.to_string() +
                                               " is incomplete: directory " + d.to_string() +
                                               " is gone");
      }
      return std::move(bytes).error();
    }
    reapi::Directory dir;
    if (bytes->size() != d.size || !dir.ParseFromString(*bytes)) {
      if (part == TreePart::present && d != root) {
        continue; // not the directory its parent names: left out, as a missing one
      }
      return make_error(Errc::invalid_argument,
                        "blob " + d.to_string() + " is not a REAPI Directory message");
    }
    total += d.size;
    out.directories.push_back(d);
    out.directory_bytes.push_back(std::move(*bytes));
    for (const auto& f : dir.files()) {
      if (part == TreePart::present) {
        break; // the directories alone are asked for
      }
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

// ARCHITECTURE.md: refs name trees and blobs. A blob that is not a Directory, or names what is
// not one, is not a broken tree but a file; a Directory whose blobs are gone is an incomplete
// tree.
Result<TreeClosure> ref_closure(cas::Store& store, const cas::Digest& digest) {
  auto info = store.stat(digest.hash);
  if (!info) {
    if (info.error().code == Errc::not_found) {
      return make_error(Errc::not_found, "blob " + digest.to_string() + " is not stored");
    }
    return std::move(info).error();
  }
  if (info->digest.size != digest.size) {
    return make_error(Errc::invalid_argument, "blob " + digest.hex() + " is " +
                                                  std::to_string(info->digest.size) +
                                                  " bytes, not " + std::to_string(digest.size));
  }
  // A blob larger than any tree's directories together is a file: it is not read at all.
  if (digest.size <= k_max_tree_bytes) {
    auto tree = tree_closure(store, digest);
    if (tree || tree.error().code != Errc::invalid_argument) {
      return tree;
    }
  }
  TreeClosure file;
  file.files.push_back(digest);
  return file;
}

SimpleResponse get_tree(Ops& ops, const Caller& caller, const Route& route) {
  auto tree = ops.get_tree(caller, route.digest);
  if (!tree) {
    return error_response(tree.error());
  }
  return {200, "application/x-protobuf", std::move(*tree)};
}

SimpleResponse get_ref(Ops& ops, const Caller& caller, const Route& route) {
  if (route.key.empty()) {
    auto list = ops.list_refs(caller, query_param(route.query, "prefix"));
    if (!list) {
      return error_response(list.error());
    }
    json refs = json::array();
    for (const auto& ref : list->refs) {
      refs.push_back(ref_json(ref));
    }
    return json_response({{"refs", std::move(refs)}, {"truncated", list->truncated}});
  }
  auto ref = ops.get_ref(caller, route.key);
  return ref ? json_response(ref_json(*ref)) : error_response(ref.error());
}

SimpleResponse put_ref(Ops& ops, const Caller& caller, const Route& route, std::string_view body) {
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
  auto ref =
      ops.put_ref(caller, route.key, *digest, j.value("pinned", false) ? PinRef::yes : PinRef::no);
  return ref ? json_response(ref_json(*ref)) : error_response(ref.error());
}

SimpleResponse delete_ref(Ops& ops, const Caller& caller, const Route& route) {
  if (auto r = ops.delete_ref(caller, route.key); !r) {
    return error_response(r.error());
  }
  return {200, "text/plain", ""};
}

} // namespace ingot::server
