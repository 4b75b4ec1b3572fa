#include "server/releases.hpp"

#include "sign/keys.hpp"
#include "sign/minisign.hpp"
#include "sign/release_files.hpp"
#include "sign/signify.hpp"
#include "util/file_io.hpp"

#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A release holds at most this many artifacts (its SHA256SUMS stays a readable file).
constexpr std::size_t k_max_artifacts = 10'000;

// Names in answers came from clients or older data; one that is not UTF-8 (which JSON text
// must be) is written with U+FFFD in its place rather than throwing out of the handler.
std::string text(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
std::string dump(const json& j) {
  return text(j) + "\n";
}

SimpleResponse json_response(const json& j, unsigned status = 200) {
  return {status, "application/json", dump(j)};
}

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "P", "P/V" or "P/V/NAME…" → its parts; the name may hold further '/'.
struct ReleasePath {
  std::string project;
  std::string version;
  std::string file;
};

ReleasePath split(std::string_view key) {
  ReleasePath out;
  const auto a = key.find('/');
  out.project = std::string(key.substr(0, a));
  if (a != std::string_view::npos) {
    const auto rest = key.substr(a + 1);
    const auto b = rest.find('/');
    out.version = std::string(rest.substr(0, b));
    if (b != std::string_view::npos) {
      out.file = std::string(rest.substr(b + 1));
    }
  }
  return out;
}

std::string record_name(const ReleasePath& p) {
  return "release/" + p.project + "/" + p.version;
}

std::string versions_name(const ReleasePath& p) {
  return "releases/" + p.project;
}

Result<json> read_record(cas::Store& store, const std::string& name) {
  auto text = store.get_record(name);
  if (!text) {
    return std::move(text).error();
  }
  if (!*text) {
    return make_error(Errc::not_found, "no such release");
  }
  json j = json::parse(**text, nullptr, false);
  if (j.is_discarded()) {
    return make_error(Errc::corrupt, "release record " + name + " is not JSON; run ingot fsck");
  }
  return j;
}

} // namespace

struct Releases::Impl {
  std::vector<sign::SecretKey> keys;
  fs::path audit_path;
  std::mutex mutex; // one publish or yank at a time: "exists?" and "write" must not interleave

  Result<void> append_audit(const json& entry) {
    auto fd = open_file(audit_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (!fd) {
      return std::move(fd).error();
    }
    const auto line = dump(entry);
    INGOT_TRY(write_all(fd->get(), as_bytes(line), audit_path));
    return fsync_fd(fd->get(), audit_path);
  }

  Result<void> update_versions(cas::Store& store, const ReleasePath& p, const json& record) {
    auto versions = read_record(store, versions_name(p));
    json list = versions ? (*versions)["versions"] : json::array();
    if (!versions && versions.error().code != Errc::not_found) {
      return std::move(versions).error();
    }
    json item{{"version", p.version},
              {"created_unix", record["created_unix"]},
              {"yanked", !record["yanked"].is_null()}};
    bool replaced = false;
    for (auto& v : list) {
      if (v["version"] == p.version) {
        v = item;
        replaced = true;
      }
    }
    if (!replaced) {
      list.push_back(item);
    }
    return store.put_record(versions_name(p), text(json{{"versions", list}}));
  }
};

Releases::Releases(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Releases::~Releases() = default;

Result<std::unique_ptr<Releases>> Releases::open(const std::vector<fs::path>& key_files,
                                                 const fs::path& data_dir) {
  auto impl = std::make_unique<Impl>();
  std::unordered_set<std::string> ids;
  for (const auto& file : key_files) {
    auto key = sign::load_secret_key(file);
    if (!key) {
      return std::move(key).error();
    }
    if (!ids.insert(key->public_key().id_hex()).second) {
      return make_error(Errc::invalid_argument, "signing key " + file.string() + " (ID " +
                                                    key->public_key().id_hex() +
                                                    ") is given twice");
    }
    impl->keys.push_back(std::move(*key));
  }
  impl->audit_path = data_dir / "audit.log";
  return std::unique_ptr<Releases>(new Releases(std::move(impl)));
}

bool Releases::is_file(const Route& route) {
  return route.kind == RouteKind::releases && !split(route.key).file.empty();
}

SimpleResponse Releases::publish(cas::Store& store, const Route& route, std::string_view body,
                                 std::string_view who) {
  const auto p = split(route.key);
  if (p.version.empty() || !p.file.empty()) {
    return error_response(400, "publish with PUT /v1/releases/PROJECT/VERSION");
  }
  for (const auto& [name, what] : {std::pair{p.project, "project"}, {p.version, "version"}}) {
    if (auto ok = sign::check_release_name(name, what); !ok) {
      return error_response(ok.error());
    }
  }
  if (m_impl->keys.empty()) {
    return error_response(501, "this server has no signing key; start it with --signing-key "
                               "FILE (`ingot keygen` makes one)");
  }
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("artifacts") ||
      !j["artifacts"].is_array() || j["artifacts"].empty()) {
    return error_response(400, "body must be JSON {\"artifacts\": [{\"name\": \"app.tar\", "
                               "\"digest\": \"<64 hex>/<size>\"}, …]} with at least one");
  }
  if (j["artifacts"].size() > k_max_artifacts) {
    return error_response(413, "a release holds at most " + std::to_string(k_max_artifacts) +
                                   " artifacts");
  }
  std::vector<sign::Artifact> artifacts;
  std::unordered_set<std::string> names;
  for (const auto& a : j["artifacts"]) {
    if (!a.is_object() || !a.contains("name") || !a["name"].is_string() || !a.contains("digest") ||
        !a["digest"].is_string()) {
      return error_response(400, "each artifact must be {\"name\": …, \"digest\": …}");
    }
    const auto name = a["name"].get<std::string>();
    if (auto ok = sign::check_artifact_name(name); !ok) {
      return error_response(ok.error());
    }
    if (!names.insert(name).second) {
      return error_response(400, "artifact name '" + name + "' appears twice");
    }
    auto digest = cas::parse_digest_text(a["digest"].get<std::string>());
    if (!digest) {
      return error_response(400, "artifact '" + name + "': " + digest.error().message);
    }
    artifacts.push_back({name, *digest});
  }

  const std::lock_guard lock(m_impl->mutex);
  const auto name = record_name(p);
  if (auto existing = store.get_record(name); !existing) {
    return error_response(existing.error());
  } else if (*existing) {
    return error_response(409, "release " + p.project + " " + p.version +
                                   " exists and releases are immutable; publish a new version");
  }
  for (const auto& a : artifacts) {
    auto info = store.stat(a.digest.hash);
    if (!info || info->digest.size != a.digest.size) {
      return error_response(400, "artifact '" + a.name + "' (" + a.digest.to_string() +
                                     ") is not stored; upload it first");
    }
  }
  const auto& key = m_impl->keys.front();
  const auto created = now_unix();
  const auto sums = sign::sha256sums(artifacts);
  const auto comment =
      sign::release_trusted_comment(p.project, p.version, created, key.public_key());
  const std::pair<std::string_view, std::string> files[] = {
      {sign::k_sums_file, sums},
      {sign::k_minisig_file, sign::minisign_sign(key, as_bytes(sums), comment)},
      {sign::k_signify_file, sign::signify_sign_embedded(key, sign::bsd_checksums(artifacts))}};
  json file_digests = json::object();
  std::vector<cas::Hash> closure;
  for (const auto& [file, text] : files) {
    auto stored = store.put(as_bytes(text));
    if (!stored) {
      return error_response(stored.error());
    }
    file_digests[std::string(file)] = stored->to_string();
    closure.push_back(stored->hash);
  }
  json listed = json::array();
  for (const auto& a : artifacts) {
    listed.push_back({{"name", a.name}, {"digest", a.digest.to_string()}});
    closure.push_back(a.digest.hash);
  }
  if (auto pinned = store.pin(name, std::move(closure)); !pinned) {
    return error_response(pinned.error().code == Errc::not_found ? 503 : status_of(pinned.error()),
                          pinned.error().message);
  }
  const auto manifest = cas::digest_of(sums).hex();
  json record{{"project", p.project},
              {"version", p.version},
              {"created_unix", created},
              {"published_by", who.empty() ? "anonymous" : std::string(who)},
              {"key_id", key.public_key().id_hex()},
              {"key_name", key.public_key().name},
              {"manifest_sha256", manifest},
              {"trusted_comment", comment},
              {"artifacts", listed},
              {"files", file_digests},
              {"yanked", nullptr}};
  if (auto r = store.put_record(name, text(record)); !r) {
    return error_response(r.error());
  }
  if (auto r = m_impl->update_versions(store, p, record); !r) {
    return error_response(r.error());
  }
  if (auto r = m_impl->append_audit({{"time_unix", created},
                                     {"action", "publish"},
                                     {"token", record["published_by"]},
                                     {"project", p.project},
                                     {"version", p.version},
                                     {"manifest_sha256", manifest},
                                     {"key_id", record["key_id"]}});
      !r) {
    return error_response(r.error());
  }
  return json_response(record, 201);
}

SimpleResponse Releases::get(cas::Store& store, const Route& route) {
  const auto p = split(route.key);
  if (p.version.empty()) {
    auto versions = read_record(store, versions_name(p));
    if (!versions) {
      return error_response(versions.error().code == Errc::not_found ? 404 : 500,
                            versions.error().code == Errc::not_found
                                ? "no releases of project '" + p.project + "'"
                                : versions.error().message);
    }
    return json_response({{"project", p.project}, {"versions", (*versions)["versions"]}});
  }
  auto record = read_record(store, record_name(p));
  if (!record) {
    return error_response(record.error().code == Errc::not_found ? 404 : 500,
                          record.error().code == Errc::not_found
                              ? "no release " + p.project + " " + p.version
                              : record.error().message);
  }
  return json_response(*record);
}

Result<cas::Digest> Releases::file_digest(cas::Store& store, const Route& route) {
  const auto p = split(route.key);
  auto record = read_record(store, record_name(p));
  if (!record) {
    return record.error().code == Errc::not_found
               ? make_error(Errc::not_found, "no release " + p.project + " " + p.version)
               : std::move(record).error();
  }
  const auto& files = (*record)["files"];
  if (files.contains(p.file)) {
    return cas::parse_digest_text(files[p.file].get<std::string>());
  }
  for (const auto& a : (*record)["artifacts"]) {
    if (a["name"] == p.file) {
      return cas::parse_digest_text(a["digest"].get<std::string>());
    }
  }
  return make_error(Errc::not_found,
                    "release " + p.project + " " + p.version + " has no file '" + p.file + "'");
}

SimpleResponse Releases::yank(cas::Store& store, const Route& route, std::string_view body,
                              std::string_view who) {
  const auto p = split(route.key);
  if (p.version.empty() || !p.file.empty()) {
    return error_response(400, "yank with POST /v1/releases/PROJECT/VERSION:yank");
  }
  const json j = body.empty() ? json::object() : json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || (j.contains("reason") && !j["reason"].is_string())) {
    return error_response(400, "body must be empty or JSON {\"reason\": \"…\"}");
  }
  const std::lock_guard lock(m_impl->mutex);
  auto record = read_record(store, record_name(p));
  if (!record) {
    return error_response(record.error().code == Errc::not_found ? 404 : 500,
                          "no release " + p.project + " " + p.version);
  }
  if (!(*record)["yanked"].is_null()) {
    return json_response(*record); // already yanked: the first reason stands
  }
  const auto when = now_unix();
  const auto by = who.empty() ? std::string("anonymous") : std::string(who);
  (*record)["yanked"] = {{"time_unix", when}, {"by", by}, {"reason", j.value("reason", "")}};
  if (auto r = store.put_record(record_name(p), text(*record)); !r) {
    return error_response(r.error());
  }
  if (auto r = m_impl->update_versions(store, p, *record); !r) {
    return error_response(r.error());
  }
  if (auto r = m_impl->append_audit({{"time_unix", when},
                                     {"action", "yank"},
                                     {"token", by},
                                     {"project", p.project},
                                     {"version", p.version},
                                     {"manifest_sha256", (*record)["manifest_sha256"]},
                                     {"reason", j.value("reason", "")}});
      !r) {
    return error_response(r.error());
  }
  return json_response(*record);
}

Result<std::optional<ReleaseNeed>> release_need(cas::Store& store, std::string_view pin_set,
                                                const cas::Hash& blob) {
  constexpr std::string_view k_prefix = "release/";
  if (!pin_set.starts_with(k_prefix)) {
    return std::optional<ReleaseNeed>();
  }
  // The pin set is named as the record is (record_name), so its name is the record's.
  const auto p = split(pin_set.substr(k_prefix.size()));
  auto record = read_record(store, record_name(p));
  if (!record) {
    if (record.error().code == Errc::not_found) {
      return std::optional<ReleaseNeed>();
    }
    return std::move(record).error();
  }
  const auto names = [&](const json& digest) {
    if (!digest.is_string()) {
      return false;
    }
    auto d = cas::parse_digest_text(digest.get<std::string>());
    return d && d->hash == blob;
  };
  for (const auto& a : (*record)["artifacts"]) {
    if (a.is_object() && names(a["digest"]) && a["name"].is_string()) {
      return std::optional<ReleaseNeed>(
          ReleaseNeed{p.project, p.version, a["name"].get<std::string>()});
    }
  }
  for (const auto& [file, digest] : (*record)["files"].items()) {
    if (names(digest)) {
      return std::optional<ReleaseNeed>(ReleaseNeed{p.project, p.version, file});
    }
  }
  return std::optional<ReleaseNeed>();
}

std::span<const sign::SecretKey> Releases::signing_keys() const {
  return m_impl->keys;
}

SimpleResponse Releases::keys() const {
  json list = json::array();
  for (std::size_t i = 0; i < m_impl->keys.size(); ++i) {
    const auto& k = m_impl->keys[i].public_key();
    list.push_back({{"id", k.id_hex()},
                    {"name", k.name},
                    {"status", i == 0 ? "active" : "retired"},
                    {"minisign", k.to_minisign()},
                    {"nix", k.to_nix()}});
  }
  return json_response({{"keys", list}});
}

Result<void>
Releases::append_audit(std::string_view action,
                       const std::vector<std::pair<std::string, std::string>>& fields) {
  json entry{{"time_unix", static_cast<std::int64_t>(std::time(nullptr))},
             {"action", std::string(action)}};
  for (const auto& [name, value] : fields) {
    entry[name] = value;
  }
  return m_impl->append_audit(entry);
}

SimpleResponse Releases::audit() const {
  std::ifstream in(m_impl->audit_path);
  std::ostringstream text;
  if (in) {
    text << in.rdbuf();
  }
  return {200, "application/x-ndjson", text.str()};
}

} // namespace ingot::server
