// The Client's names: refs, releases and the server's public keys (client.hpp).
#include "client/answers.hpp"
#include "client/client.hpp"
#include "util/percent.hpp"

#include <nlohmann/json.hpp>

namespace ingot::client {

namespace {

using nlohmann::json;

Result<RefInfo> ref_from(const json& j) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || !j.contains("digest") ||
      !j["digest"].is_string()) {
    return make_error(Errc::corrupt, "server sent a ref without name and digest");
  }
  auto digest = cas::parse_digest_text(j["digest"].get<std::string>());
  if (!digest) {
    return std::move(digest).error();
  }
  RefInfo ref;
  ref.name = j["name"].get<std::string>();
  ref.digest = *digest;
  ref.pinned = j.value("pinned", false);
  ref.updated_unix_ms = j.value("updated_unix_ms", std::int64_t{0});
  return ref;
}

} // namespace

Result<RefInfo> Client::get_ref(std::string_view name) {
  auto j =
      json_answer(call(Request{Method::get, "/v1/refs/" + percent_encode_path(name), {}, {}, {}}),
                  "ref '" + std::string(name) + "'");
  if (!j) {
    return std::move(j).error();
  }
  return ref_from(*j);
}

Result<RefInfo> Client::put_ref(std::string_view name, const cas::Digest& digest, Pinned pinned) {
  const json body{{"digest", digest.to_string()}, {"pinned", pinned == Pinned::yes}};
  auto j = json_answer(call(Request{Method::put,
                                    "/v1/refs/" + percent_encode_path(name),
                                    "application/json",
                                    body.dump(),
                                    {}}),
                       "setting ref '" + std::string(name) + "'");
  if (!j) {
    return std::move(j).error();
  }
  return ref_from(*j);
}

Result<void> Client::delete_ref(std::string_view name) {
  auto response = call(Request{Method::del, "/v1/refs/" + percent_encode_path(name), {}, {}, {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, "removing ref '" + std::string(name) + "'");
  }
  return {};
}

Result<RefListing> Client::list_refs(std::string_view prefix) {
  auto j = json_answer(
      call(Request{Method::get, "/v1/refs?prefix=" + percent_encode_path(prefix), {}, {}, {}}),
      "listing refs");
  if (!j) {
    return std::move(j).error();
  }
  RefListing out;
  out.truncated = j->value("truncated", false);
  if (!j->contains("refs") || !(*j)["refs"].is_array()) {
    return make_error(Errc::corrupt, "ref listing: the answer has no \"refs\" list");
  }
  for (const auto& item : (*j)["refs"]) {
    auto ref = ref_from(item);
    if (!ref) {
      return std::move(ref).error();
    }
    out.refs.push_back(std::move(*ref));
  }
  return out;
}

Result<std::string> Client::get_text(const std::string& target, const std::string& what) {
  auto response = call(Request{Method::get, target, {}, {}, {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, what);
  }
  return std::move(response->body);
}

namespace {

std::string release_path(std::string_view project, std::string_view version) {
  return "/v1/releases/" + percent_encode_path(project) + "/" + percent_encode_path(version);
}

std::string release_what(std::string_view project, std::string_view version) {
  return "release " + std::string(project) + " " + std::string(version);
}

} // namespace

Result<std::string> Client::publish_release(std::string_view project, std::string_view version,
                                            std::span<const ReleaseArtifact> artifacts) {
  json list = json::array();
  for (const auto& a : artifacts) {
    list.push_back({{"name", a.name}, {"digest", a.digest.to_string()}});
  }
  auto response = call(Request{Method::put,
                               release_path(project, version),
                               "application/json",
                               json{{"artifacts", std::move(list)}}.dump(),
                               {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, "publishing " + release_what(project, version));
  }
  return std::move(response->body);
}

Result<std::string> Client::get_release(std::string_view project, std::string_view version) {
  return get_text(release_path(project, version), release_what(project, version));
}

Result<std::string> Client::list_releases(std::string_view project) {
  return get_text("/v1/releases/" + percent_encode_path(project),
                  "releases of '" + std::string(project) + "'");
}

Result<std::string> Client::yank_release(std::string_view project, std::string_view version,
                                         std::string_view reason) {
  auto response = call(Request{Method::post,
                               release_path(project, version) + ":yank",
                               "application/json",
                               json{{"reason", reason}}.dump(),
                               {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, "yanking " + release_what(project, version));
  }
  return std::move(response->body);
}

Result<std::string> Client::release_file(std::string_view project, std::string_view version,
                                         std::string_view name) {
  return get_text(release_path(project, version) + "/" + percent_encode_path(name),
                  std::string(name) + " of " + release_what(project, version));
}

Result<std::string> Client::keys() {
  return get_text("/v1/keys", "signing keys");
}

Result<std::uint64_t> Client::pin_nix(std::string_view hash32) {
  auto j =
      json_answer(call(Request{Method::put, "/v1/nix/pins/" + std::string(hash32), {}, {}, {}}),
                  "pinning /nix/store/" + std::string(hash32) + "-…");
  if (!j) {
    return std::move(j).error();
  }
  if (!j->contains("pinned_blobs") || !(*j)["pinned_blobs"].is_number_unsigned()) {
    return make_error(Errc::corrupt, "nix pin: the answer has no \"pinned_blobs\" count");
  }
  return (*j)["pinned_blobs"].get<std::uint64_t>();
}

Result<void> Client::unpin_nix(std::string_view hash32) {
  auto response = call(Request{Method::del, "/v1/nix/pins/" + std::string(hash32), {}, {}, {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, "unpinning /nix/store/" + std::string(hash32) + "-…");
  }
  return {};
}

Result<MirrorSnapshotInfo> Client::snapshot_mirror(std::string_view name, std::string_view snapshot,
                                                   bool pin) {
  const std::string what = "snapshot " + std::string(snapshot) + " of mirror " + std::string(name);
  auto j = json_answer(call(Request{Method::post,
                                    "/v1/mirror/" + percent_encode_path(name) + "/snapshots/" +
                                        percent_encode_path(snapshot) + (pin ? "?pin=1" : ""),
                                    {},
                                    {},
                                    {}}),
                       what);
  if (!j) {
    return std::move(j).error();
  }
  const auto& root = (*j)["root"];
  auto digest = root.is_object() ? cas::parse_digest(root.value("hash", std::string()),
                                                     root.value("size", std::uint64_t{0}))
                                 : Result<cas::Digest>(make_error(Errc::corrupt, "no root"));
  if (!digest) {
    return make_error(Errc::corrupt, what + ": the answer has no root digest");
  }
  return MirrorSnapshotInfo{j->value("ref", std::string()), *digest,
                            j->value("files", std::uint64_t{0}),
                            j->value("skipped", std::uint64_t{0}), j->value("pinned", false)};
}

Result<void> Client::override_mirror(std::string_view name, std::string_view path,
                                     const std::optional<cas::Digest>& digest) {
  const std::string target =
      "/v1/mirror/" + percent_encode_path(name) + "/overrides/" + percent_encode_path(path);
  const std::string what = "override of " + std::string(path) + " on mirror " + std::string(name);
  auto response = digest ? call(Request{Method::put,
                                        target,
                                        "application/json",
                                        nlohmann::json{{"digest", digest->to_string()}}.dump(),
                                        {}})
                         : call(Request{Method::del, target, {}, {}, {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, what);
  }
  return {};
}

} // namespace ingot::client
