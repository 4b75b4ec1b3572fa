#include "server/route.hpp"

#include "cas/store.hpp"
#include "server/auth.hpp"
#include "util/percent.hpp"
#include "util/utf8.hpp"

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
  if (key->empty()) {
    return bad("kv key is empty");
  }
  if (key->size() > cas::k_max_key_size) {
    return bad("kv key is longer than " + std::to_string(cas::k_max_key_size) + " bytes");
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = key->find('/', start);
    const std::string_view segment =
        std::string_view(*key).substr(start, slash == std::string::npos ? slash : slash - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return bad("kv key has an empty, '.' or '..' segment");
    }
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
  for (const char c : *key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return bad("kv key contains a control character");
    }
  }
  return key;
}

Route of_kind(RouteKind kind) {
  Route r;
  r.kind = kind;
  return r;
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

} // namespace

std::string_view to_string(RouteKind kind) {
  switch (kind) {
  case RouteKind::cas:
    return "cas";
  case RouteKind::ac:
    return "ac";
  case RouteKind::kv:
    return "kv";
  case RouteKind::find_missing:
    return "findMissing";
  case RouteKind::batch_read:
    return "batchRead";
  case RouteKind::batch_update:
    return "batchUpdate";
  case RouteKind::stats:
    return "stats";
  case RouteKind::metrics:
    return "metrics";
  case RouteKind::healthz:
    return "healthz";
  case RouteKind::gc:
    return "gc";
  case RouteKind::refs:
    return "refs";
  case RouteKind::trees:
    return "trees";
  case RouteKind::releases:
    return "releases";
  case RouteKind::release_yank:
    return "release yank";
  case RouteKind::keys:
    return "keys";
  case RouteKind::audit:
    return "audit";
  }
  return "unknown";
}

Access required_access(RouteKind kind, std::string_view m) {
  const bool read_method = m == "GET" || m == "HEAD";
  const auto refuse = [](std::string_view allow) {
    return Access{false, 0, allow};
  };
  switch (kind) {
  case RouteKind::cas:
  case RouteKind::ac:
    if (read_method) {
      return {true, k_scope_read, {}};
    }
    if (m == "PUT") {
      return {true, k_scope_write, {}};
    }
    if (m == "DELETE") {
      return {true, k_scope_admin, {}};
    }
    return refuse("GET, HEAD, PUT, DELETE");
  case RouteKind::kv:
    // WebDAV clients probe with PROPFIND and create directories with MKCOL.
    if (read_method || m == "PROPFIND") {
      return {true, k_scope_read, {}};
    }
    if (m == "PUT" || m == "MKCOL") {
      return {true, k_scope_write, {}};
    }
    if (m == "DELETE") {
      return {true, k_scope_admin, {}};
    }
    return refuse("GET, HEAD, PUT, DELETE, PROPFIND, MKCOL");
  case RouteKind::find_missing:
  case RouteKind::batch_read:
    return m == "POST" ? Access{true, k_scope_read, {}} : refuse("POST");
  case RouteKind::batch_update:
    return m == "POST" ? Access{true, k_scope_write, {}} : refuse("POST");
  case RouteKind::stats:
  case RouteKind::metrics:
    return read_method ? Access{true, k_scope_read, {}} : refuse("GET, HEAD");
  case RouteKind::healthz:
    return read_method ? Access{true, 0, {}} : refuse("GET, HEAD");
  case RouteKind::gc:
    if (read_method) {
      return {true, k_scope_read, {}};
    }
    return m == "POST" ? Access{true, k_scope_admin, {}} : refuse("GET, HEAD, POST");
  case RouteKind::refs:
    if (read_method) {
      return {true, k_scope_read, {}};
    }
    if (m == "PUT" || m == "DELETE") {
      return {true, k_scope_write, {}};
    }
    return refuse("GET, HEAD, PUT, DELETE");
  case RouteKind::trees:
  case RouteKind::keys:
    return read_method ? Access{true, k_scope_read, {}} : refuse("GET, HEAD");
  case RouteKind::releases:
    if (read_method) {
      return {true, k_scope_read, {}};
    }
    // Publishing signs with the server's key: a scope of its own (ARCHITECTURE.md "Auth").
    return m == "PUT" ? Access{true, k_scope_sign, {}} : refuse("GET, HEAD, PUT");
  case RouteKind::release_yank:
    return m == "POST" ? Access{true, k_scope_admin, {}} : refuse("POST");
  case RouteKind::audit:
    return read_method ? Access{true, k_scope_admin, {}} : refuse("GET, HEAD");
  }
  return refuse("");
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
  Result<Route> route = make_error(Errc::not_found, "no such route: " + std::string(target));
  if (target.starts_with("/cas/")) {
    route = with_hash(RouteKind::cas, target.substr(5), "/cas/ needs a SHA-256");
  } else if (target.starts_with("/ac/")) {
    route = with_hash(RouteKind::ac, target.substr(4), "/ac/ needs a 64-hex key");
  } else if (target.starts_with("/kv/")) {
    auto key = kv_key(target.substr(4));
    if (!key) {
      return std::move(key).error();
    }
    Route r;
    r.kind = RouteKind::kv;
    r.key = std::move(*key);
    r.collection = target.size() > 5 && target.back() == '/';
    route = std::move(r);
  } else if (target == "/v1/blobs:findMissing") {
    route = of_kind(RouteKind::find_missing);
  } else if (target == "/v1/blobs:batchRead") {
    route = of_kind(RouteKind::batch_read);
  } else if (target == "/v1/blobs:batchUpdate") {
    route = of_kind(RouteKind::batch_update);
  } else if (target == "/v1/stats") {
    route = of_kind(RouteKind::stats);
  } else if (target == "/metrics") {
    route = of_kind(RouteKind::metrics);
  } else if (target == "/healthz") {
    route = of_kind(RouteKind::healthz);
  } else if (target == "/v1/gc") {
    route = of_kind(RouteKind::gc);
  } else if (target == "/v1/refs" || target == "/v1/refs/") {
    route = of_kind(RouteKind::refs); // the listing
  } else if (target.starts_with("/v1/refs/")) {
    auto name = kv_key(target.substr(9));
    if (!name) {
      return bad("ref name: " + name.error().message);
    }
    // Ref names travel in JSON answers (GET, PUT, listings), and JSON text is UTF-8.
    if (!is_utf8(*name)) {
      return bad("ref name is not UTF-8");
    }
    Route r;
    r.kind = RouteKind::refs;
    r.key = std::move(*name);
    route = std::move(r);
  } else if (target == "/v1/keys") {
    route = of_kind(RouteKind::keys);
  } else if (target == "/v1/audit") {
    route = of_kind(RouteKind::audit);
  } else if (target.starts_with("/v1/releases/")) {
    auto key = kv_key(target.substr(13));
    if (!key) {
      return bad("release path: " + key.error().message);
    }
    Route r;
    r.kind = RouteKind::releases;
    r.key = std::move(*key);
    if (r.key.ends_with(":yank")) {
      r.kind = RouteKind::release_yank;
      r.key.resize(r.key.size() - 5);
    }
    route = std::move(r);
  } else if (target.starts_with("/v1/trees/")) {
    const auto rest = target.substr(10);
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
    route = std::move(r);
  }
  if (route) {
    route->query = std::string(query);
  }
  return route;
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
