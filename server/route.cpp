#include "server/route.hpp"

#include "cas/store.hpp"
#include "server/auth.hpp"
#include "server/http_handlers.hpp"
#include "server/mirror_routes.hpp"
#include "server/nix_routes.hpp"
#include "server/ops/ops.hpp"
#include "util/percent.hpp"
#include "util/utf8.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace ingot::server {

namespace {

Error bad(std::string message) {
  return make_error(Errc::invalid_argument, std::move(message));
}

// RFC 3986 percent-decoding of a path.
Result<std::string> decode_path(std::string_view in) {
  auto out = percent_decode(in);
  if (!out) {
    return bad("malformed percent-escape in path");
  }
  return std::move(*out);
}

// kv keys are opaque, of any depth, but every segment must be a plain name: no empty, "."
// or ".." segments, no control characters, so that no client can name anything but a key.
Result<std::string> kv_key(std::string_view raw) {
  // WebDAV names collections with a trailing slash (RFC 4918 5.2): "a/b/" is the key "a/b".
  if (raw.size() > 1 && raw.back() == '/') {
    raw.remove_suffix(1);
  }
  auto key = decode_path(raw);
  if (!key) {
    return std::move(key).error();
  }
  return checked_key(std::move(*key));
}

Result<Route> with_hash(RouteKind kind, std::string_view hex, std::string_view what) {
  auto hash = cas::parse_hash(hex);
  if (!hash) {
    return bad(std::string(what) + ": " + hash.error().message);
  }
  Route r;
  r.kind = kind;
  r.hash = *hash;
  r.key = std::string(hex);
  return r;
}

Result<Route> not_this_route() {
  return make_error(Errc::not_found, "not this route");
}

// --- the rest of a target after each row's prefix ---------------------------------------------

Result<Route> parse_cas(std::string_view rest) {
  return with_hash(RouteKind::cas, rest, "/cas/ needs a SHA-256");
}

Result<Route> parse_ac(std::string_view rest) {
  return with_hash(RouteKind::ac, rest, "/ac/ needs a 64-hex key");
}

Result<Route> parse_kv(std::string_view rest) {
  auto key = kv_key(rest);
  if (!key) {
    return std::move(key).error();
  }
  Route r;
  r.kind = RouteKind::kv;
  r.key = std::move(*key);
  r.collection = rest.size() > 1 && rest.back() == '/';
  return r;
}

// "/v1/refs" and "/v1/refs/" list; "/v1/refs/NAME" names one.
Result<Route> parse_refs(std::string_view rest) {
  Route r;
  r.kind = RouteKind::refs;
  if (rest.empty() || rest == "/") {
    return r;
  }
  if (rest.front() != '/') {
    return not_this_route();
  }
  auto name = kv_key(rest.substr(1));
  if (!name) {
    return bad("ref name: " + name.error().message);
  }
  // Ref names travel in JSON answers (GET, PUT, listings), and JSON text is UTF-8.
  if (!is_utf8(*name)) {
    return bad("ref name is not UTF-8");
  }
  r.key = std::move(*name);
  return r;
}

} // namespace

Result<std::string> checked_key(std::string key) {
  if (key.empty()) {
    return bad("kv key is empty");
  }
  if (key.size() > cas::k_max_key_size) {
    return bad("kv key is longer than " + std::to_string(cas::k_max_key_size) + " bytes");
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = key.find('/', start);
    const std::string_view segment =
        std::string_view(key).substr(start, slash == std::string::npos ? slash : slash - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return bad("kv key has an empty, '.' or '..' segment");
    }
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
  for (const char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return bad("kv key contains a control character");
    }
  }
  return key;
}

Result<std::string> ref_name(std::string_view name) {
  auto checked = checked_key(std::string(name));
  if (!checked) {
    return bad("ref name: " + checked.error().message);
  }
  if (!is_utf8(*checked)) {
    return bad("ref name is not UTF-8");
  }
  return checked;
}

namespace {

Result<std::string> release_key(std::string_view rest) {
  auto key = kv_key(rest);
  if (!key) {
    return bad("release path: " + key.error().message);
  }
  return key;
}

Result<Route> parse_release_yank(std::string_view rest) {
  constexpr std::string_view k_yank = ":yank";
  auto key = release_key(rest);
  if (!key) {
    return std::move(key).error();
  }
  if (!key->ends_with(k_yank)) {
    return not_this_route();
  }
  Route r;
  r.kind = RouteKind::release_yank;
  r.key = key->substr(0, key->size() - k_yank.size());
  return r;
}

Result<Route> parse_releases(std::string_view rest) {
  auto key = release_key(rest);
  if (!key) {
    return std::move(key).error();
  }
  Route r;
  r.kind = RouteKind::releases;
  r.key = std::move(*key);
  return r;
}

// "<64 hex>/<size in bytes>"
Result<Route> parse_tree(std::string_view rest) {
  const auto slash = rest.find('/');
  std::uint64_t size = 0;
  bool ok =
      slash != std::string_view::npos && slash + 1 < rest.size() && rest.size() - slash - 1 <= 19;
  for (std::size_t i = slash + 1; ok && i < rest.size(); ++i) {
    ok = rest[i] >= '0' && rest[i] <= '9';
    size = size * 10 + static_cast<std::uint64_t>(rest[i] - '0');
  }
  if (!ok) {
    return bad("/v1/trees/ needs a digest: /v1/trees/<64 hex>/<size in bytes>");
  }
  auto digest = cas::parse_digest(rest.substr(0, slash), size);
  if (!digest) {
    return bad("/v1/trees/: " + digest.error().message);
  }
  Route r;
  r.kind = RouteKind::trees;
  r.digest = *digest;
  return r;
}

// --- the table ----------------------------------------------------------------------------------

namespace h = http_handlers;
using enum BodyKind;

constexpr MethodRow k_blob_methods[] = {
    {"GET", Op::read_blob, none, h::read_blob},
    {"HEAD", Op::read_blob, none, h::read_blob},
    {"PUT", Op::write_blob, stream, h::finish_upload, h::open_upload},
    {"DELETE", Op::remove_blob, none, h::remove_blob},
};
// WebDAV clients probe with PROPFIND and create directories with MKCOL.
constexpr MethodRow k_kv_methods[] = {
    {"GET", Op::read_blob, none, h::read_blob},
    {"HEAD", Op::read_blob, none, h::read_blob},
    {"PUT", Op::write_blob, stream, h::finish_upload, h::open_upload},
    {"DELETE", Op::remove_blob, none, h::remove_blob},
    {"PROPFIND", Op::stat_blob, none, h::propfind},
    {"MKCOL", Op::write_blob, none, h::mkcol},
};
constexpr MethodRow k_find_missing_methods[] = {{"POST", Op::find_missing, json, h::find_missing}};
constexpr MethodRow k_batch_read_methods[] = {{"POST", Op::batch_read, json, h::batch_read}};
constexpr MethodRow k_batch_update_methods[] = {{"POST", Op::batch_update, json, h::batch_update}};
constexpr MethodRow k_stats_methods[] = {
    {"GET", Op::stats, none, h::stats},
    {"HEAD", Op::stats, none, h::stats},
};
constexpr MethodRow k_metrics_methods[] = {
    {"GET", Op::stats, none, h::metrics},
    {"HEAD", Op::stats, none, h::metrics},
};
// A liveness probe needs no token, whatever --anonymous says.
constexpr MethodRow k_healthz_methods[] = {
    {"GET", Op::healthz, none, h::healthz},
    {"HEAD", Op::healthz, none, h::healthz},
};
constexpr MethodRow k_gc_methods[] = {
    {"GET", Op::stats, none, h::gc_status},
    {"HEAD", Op::stats, none, h::gc_status},
    {"POST", Op::gc, json, h::gc},
};
constexpr MethodRow k_refs_methods[] = {
    {"GET", Op::read_ref, none, h::get_ref},
    {"HEAD", Op::read_ref, none, h::get_ref},
    {"PUT", Op::write_ref, json, h::put_ref},
    {"DELETE", Op::write_ref, none, h::delete_ref},
};
constexpr MethodRow k_trees_methods[] = {
    {"GET", Op::get_tree, none, h::get_tree},
    {"HEAD", Op::get_tree, none, h::get_tree},
};
constexpr MethodRow k_release_yank_methods[] = {{"POST", Op::yank_release, json, h::yank_release}};
// Publishing signs with the server's key: a scope of its own (ARCHITECTURE.md "Auth").
constexpr MethodRow k_releases_methods[] = {
    {"GET", Op::read_release, none, h::get_release},
    {"HEAD", Op::read_release, none, h::get_release},
    {"PUT", Op::publish_release, json, h::publish_release},
};
constexpr MethodRow k_keys_methods[] = {
    {"GET", Op::keys, none, h::keys},
    {"HEAD", Op::keys, none, h::keys},
};
constexpr MethodRow k_audit_methods[] = {
    {"GET", Op::audit, none, h::audit},
    {"HEAD", Op::audit, none, h::audit},
};

// A Nix binary cache (docs/nix-client-facts.md). nix reads nix-cache-info first, with
// no credentials, and PUTs it when the GET fails: it is always served, and a PUT is accepted
// and ignored. HEAD is mandatory on narinfos and nars (a 405 fails a push).
constexpr MethodRow k_nix_cache_info_methods[] = {
    {"GET", Op::nix_cache_info, none, h::nix_cache_info},
    {"HEAD", Op::nix_cache_info, none, h::nix_cache_info},
    {"PUT", Op::nix_cache_info, json, h::nix_cache_info},
};
constexpr MethodRow k_nix_narinfo_methods[] = {
    {"GET", Op::read_narinfo, none, h::get_narinfo},
    {"HEAD", Op::read_narinfo, none, h::get_narinfo},
    {"PUT", Op::write_narinfo, json, h::put_narinfo},
};
constexpr MethodRow k_nix_methods[] = {
    {"GET", Op::read_blob, none, h::read_blob},
    {"HEAD", Op::read_blob, none, h::read_blob},
    {"PUT", Op::write_blob, stream, h::finish_upload, h::open_upload},
};
constexpr MethodRow k_nix_pins_methods[] = {
    {"PUT", Op::nix_pin, none, h::nix_pin},
    {"DELETE", Op::nix_pin, none, h::nix_unpin},
};
constexpr MethodRow k_mirror_methods[] = {
    {"GET", Op::read_mirror, none, h::read_mirror},
    {"HEAD", Op::read_mirror, none, h::read_mirror},
};
constexpr MethodRow k_mirror_snapshot_methods[] = {
    {"POST", Op::mirror_snapshot, none, h::snapshot_mirror},
};
constexpr MethodRow k_mirror_override_methods[] = {
    {"PUT", Op::mirror_override, json, h::override_mirror},
    {"DELETE", Op::mirror_override, none, h::remove_mirror_override},
};
// Read like /v1/stats: with the default --anonymous read, anyone sees it.
constexpr MethodRow k_status_page_methods[] = {
    {"GET", Op::status_page, none, h::status_page},
    {"HEAD", Op::status_page, none, h::status_page},
};

constexpr RouteRow k_routes[] = {
    {RouteKind::cas, "cas", "/cas/{sha256}", {}, "/cas/", parse_cas, k_blob_methods},
    {RouteKind::ac, "ac", "/ac/{64hex}", {}, "/ac/", parse_ac, k_blob_methods},
    {RouteKind::kv, "kv", "/kv/{key…}", {}, "/kv/", parse_kv, k_kv_methods},
    {RouteKind::find_missing,
     "findMissing",
     "/v1/blobs:findMissing",
     "/v1/blobs:findMissing",
     {},
     nullptr,
     k_find_missing_methods},
    {RouteKind::batch_read,
     "batchRead",
     "/v1/blobs:batchRead",
     "/v1/blobs:batchRead",
     {},
     nullptr,
     k_batch_read_methods},
    {RouteKind::batch_update,
     "batchUpdate",
     "/v1/blobs:batchUpdate",
     "/v1/blobs:batchUpdate",
     {},
     nullptr,
     k_batch_update_methods},
    {RouteKind::stats, "stats", "/v1/stats", "/v1/stats", {}, nullptr, k_stats_methods},
    {RouteKind::metrics, "metrics", "/metrics", "/metrics", {}, nullptr, k_metrics_methods},
    {RouteKind::healthz, "healthz", "/healthz", "/healthz", {}, nullptr, k_healthz_methods},
    {RouteKind::gc, "gc", "/v1/gc", "/v1/gc", {}, nullptr, k_gc_methods},
    {RouteKind::refs, "refs", "/v1/refs[/{name…}]", {}, "/v1/refs", parse_refs, k_refs_methods},
    {RouteKind::trees,
     "trees",
     "/v1/trees/{sha256}/{size}",
     {},
     "/v1/trees/",
     parse_tree,
     k_trees_methods},
    {RouteKind::release_yank,
     "release yank",
     "/v1/releases/{project}/{version}:yank",
     {},
     "/v1/releases/",
     parse_release_yank,
     k_release_yank_methods},
    {RouteKind::releases,
     "releases",
     "/v1/releases/{project}[/{version}[/{file}]]",
     {},
     "/v1/releases/",
     parse_releases,
     k_releases_methods},
    {RouteKind::keys, "keys", "/v1/keys", "/v1/keys", {}, nullptr, k_keys_methods},
    {RouteKind::audit, "audit", "/v1/audit", "/v1/audit", {}, nullptr, k_audit_methods},
    {RouteKind::nix_cache_info,
     "nix-cache-info",
     "/nix/nix-cache-info",
     "/nix/nix-cache-info",
     {},
     nullptr,
     k_nix_cache_info_methods},
    {RouteKind::nix_narinfo,
     "narinfo",
     "/nix/{hash32}.narinfo",
     {},
     "/nix/",
     parse_nix_narinfo,
     k_nix_narinfo_methods},
    {RouteKind::nix,
     "nix",
     "/nix/{nar/…, hash32.ls, log/…, realisations/…}",
     {},
     "/nix/",
     parse_nix_file,
     k_nix_methods},
    {RouteKind::nix_pins,
     "nix pins",
     "/v1/nix/pins/{hash32}",
     {},
     "/v1/nix/pins/",
     parse_nix_pin,
     k_nix_pins_methods},
    {RouteKind::mirror,
     "mirror",
     "/mirror/{name}/{path…}",
     {},
     "/mirror/",
     parse_mirror,
     k_mirror_methods},
    {RouteKind::mirror_snapshot,
     "mirror snapshot",
     "/v1/mirror/{name}/snapshots/{snapshot}",
     {},
     "/v1/mirror/",
     parse_mirror_snapshot,
     k_mirror_snapshot_methods},
    {RouteKind::mirror_override,
     "mirror override",
     "/v1/mirror/{name}/overrides/{path…}",
     {},
     "/v1/mirror/",
     parse_mirror_override,
     k_mirror_override_methods},
    {RouteKind::status_page, "status page", "/", "/", {}, nullptr, k_status_page_methods},
};

constexpr bool rows_in_kind_order() {
  if (std::size(k_routes) != k_route_kinds) {
    return false;
  }
  for (std::size_t i = 0; i < std::size(k_routes); ++i) {
    if (static_cast<std::size_t>(k_routes[i].kind) != i) {
      return false;
    }
  }
  return true;
}
static_assert(rows_in_kind_order(), "one row per RouteKind, in the enum's order");

// RFC 9110 10.2.1: a 405's Allow lists the methods the target resource supports.
const std::string& allow_of(RouteKind kind) {
  static const auto k_allow = [] {
    std::array<std::string, k_route_kinds> allow;
    for (const auto& row : k_routes) {
      auto& a = allow[static_cast<std::size_t>(row.kind)];
      for (const auto& m : row.methods) {
        a += (a.empty() ? "" : ", ") + std::string(m.method);
      }
    }
    return allow;
  }();
  return k_allow[static_cast<std::size_t>(kind)];
}

} // namespace

std::span<const RouteRow> route_table() {
  return k_routes;
}

const RouteRow& route_row(RouteKind kind) {
  return k_routes[static_cast<std::size_t>(kind)];
}

const MethodRow* find_method(RouteKind kind, std::string_view method) {
  for (const auto& m : route_row(kind).methods) {
    if (m.method == method) {
      return &m;
    }
  }
  return nullptr;
}

std::string_view to_string(RouteKind kind) {
  return static_cast<std::size_t>(kind) < k_route_kinds ? route_row(kind).name : "unknown";
}

Access required_access(RouteKind kind, std::string_view method) {
  if (const auto* m = find_method(kind, method)) {
    return {true, scope_of(m->op), {}};
  }
  return {false, 0, allow_of(kind)};
}

Result<Route> parse_route(std::string_view target) {
  if (target.size() > k_max_target) {
    return bad("request target is longer than " + std::to_string(k_max_target) + " bytes");
  }
  if (target.empty() || target.front() != '/') {
    return bad("request target must be an absolute path");
  }
  std::string_view query;
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  for (const auto& row : k_routes) {
    // Rows are tried for every request: nothing is built for a row that does not match.
    if (row.exact.empty() ? !target.starts_with(row.prefix) : target != row.exact) {
      continue;
    }
    Result<Route> route = Route{};
    if (row.exact.empty()) {
      route = row.parse(target.substr(row.prefix.size()));
      if (!route && route.error().code == Errc::not_found) {
        continue;
      }
    } else {
      route->kind = row.kind;
    }
    if (route) {
      route->query = std::string(query);
    }
    return route;
  }
  return make_error(Errc::not_found, "no such route: " + std::string(target));
}

std::string query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      if (eq == std::string_view::npos) {
        return {};
      }
      return percent_decode(pair.substr(eq + 1)).value_or(std::string());
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return {};
}

} // namespace ingot::server
