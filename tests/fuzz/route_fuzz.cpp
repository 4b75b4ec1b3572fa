// parse_route, required_access and query_param over any request target. A route that parses
// must name what the target named: its key, re-encoded, parses to the same route.
#include "fuzz_support.hpp"
#include "server/route.hpp"
#include "util/utf8.hpp"

#include <algorithm>
#include <array>

using namespace ingot;
using namespace ingot::server;

namespace {

// Percent-encodes all but unreserved characters and '/' (RFC 3986 2.3).
std::string encode(std::string_view key) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out += {'%', k_hex[u >> 4], k_hex[u & 15]};
    }
  }
  return out;
}

void check_same(const Route& a, std::string_view target) {
  if (target.size() > k_max_target) {
    return; // a key of bytes that all need escaping can be named only by a shorter spelling
  }
  auto b = parse_route(target);
  FUZZ_CHECK(b);
  FUZZ_CHECK(b->kind == a.kind);
  FUZZ_CHECK(b->key == a.key);
}

void check_key_segments(std::string_view key) {
  FUZZ_CHECK(!key.empty() && key.size() <= cas::k_max_key_size);
  for (const char c : key) {
    FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
  std::size_t start = 0;
  for (;;) {
    const auto slash = key.find('/', start);
    const auto segment = key.substr(start, slash == std::string_view::npos ? slash : slash - start);
    FUZZ_CHECK(!segment.empty() && segment != "." && segment != "..");
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  auto route = parse_route(target);
  if (!route) {
    FUZZ_CHECK(route.error().code == Errc::invalid_argument ||
               route.error().code == Errc::not_found);
    FUZZ_CHECK(!route.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(size <= k_max_target && target.front() == '/');
  const auto q = target.find('?');
  FUZZ_CHECK(route->query == (q == std::string_view::npos ? "" : target.substr(q + 1)));
  (void)query_param(route->query, "prefix");
  (void)query_param(route->query, "dry_run");

  switch (route->kind) {
  case RouteKind::cas:
  case RouteKind::ac: {
    const cas::Digest d{route->hash, 0};
    FUZZ_CHECK(d.hex() == route->key); // strict lowercase hex: one spelling per hash
    break;
  }
  case RouteKind::kv:
    check_key_segments(route->key);
    check_same(*route, "/kv/" + encode(route->key));
    break;
  case RouteKind::refs:
    if (!route->key.empty()) {
      check_key_segments(route->key);
      FUZZ_CHECK(is_utf8(route->key)); // it goes into JSON answers
      check_same(*route, "/v1/refs/" + encode(route->key));
    }
    break;
  case RouteKind::releases:
    check_key_segments(route->key);
    check_same(*route, "/v1/releases/" + encode(route->key));
    break;
  case RouteKind::release_yank:
    check_same(*route, "/v1/releases/" + encode(route->key) + ":yank");
    break;
  case RouteKind::trees: {
    auto again =
        parse_route("/v1/trees/" + route->digest.hex() + "/" + std::to_string(route->digest.size));
    FUZZ_CHECK(again && again->kind == RouteKind::trees && again->digest == route->digest);
    break;
  }
  case RouteKind::mirror: {
    // What the upstream is asked for hides no '/' or '\\' and has no "." segment; the key is
    // a plain key, and names the same file spelt plainly.
    check_key_segments(route->key);
    FUZZ_CHECK(!route->mirror.empty());
    for (const auto* hidden : {"%2f", "%2F", "%5c", "%5C"}) {
      FUZZ_CHECK(route->raw.find(hidden) == std::string::npos);
    }
    FUZZ_CHECK(route->raw != "." && !route->raw.starts_with("./") &&
               route->raw.find("/./") == std::string::npos && !route->raw.ends_with("/."));
    const auto view =
        route->snapshot.empty() ? route->mirror : route->mirror + "@" + route->snapshot;
    auto again = parse_route("/mirror/" + view + "/" + encode(route->key));
    FUZZ_CHECK(again && again->kind == RouteKind::mirror && again->key == route->key &&
               again->mirror == route->mirror && again->snapshot == route->snapshot);
    break;
  }
  case RouteKind::mirror_override:
    check_key_segments(route->key);
    FUZZ_CHECK(!route->mirror.empty());
    break;
  case RouteKind::mirror_snapshot:
    FUZZ_CHECK(!route->mirror.empty() && !route->snapshot.empty());
    FUZZ_CHECK(route->mirror.find('/') == std::string::npos &&
               route->snapshot.find('/') == std::string::npos);
    break;
  case RouteKind::nix_narinfo:
  case RouteKind::nix_pins:
    FUZZ_CHECK(route->hash32.size() == 32);
    break;
  case RouteKind::nix:
    // A name, or a directory and a name, none starting with '.': never a way out.
    FUZZ_CHECK(std::count(route->key.begin(), route->key.end(), '/') <= 1);
    FUZZ_CHECK(!route->key.empty() && route->key.front() != '.' &&
               route->key.find("/.") == std::string::npos && route->key.back() != '/');
    check_same(*route, "/nix/" + encode(route->key));
    break;
  case RouteKind::nix_cache_info:
  case RouteKind::find_missing:
  case RouteKind::batch_read:
  case RouteKind::batch_update:
  case RouteKind::stats:
  case RouteKind::metrics:
  case RouteKind::healthz:
  case RouteKind::gc:
  case RouteKind::keys:
  case RouteKind::audit:
  case RouteKind::status_page:
    FUZZ_CHECK(route->key.empty());
    break;
  }

  static constexpr std::array<std::string_view, 9> k_methods{
      "GET", "HEAD", "PUT", "POST", "DELETE", "PROPFIND", "MKCOL", "PATCH", "get"};
  for (const auto method : k_methods) {
    const Access access = required_access(route->kind, method);
    // A refusal says what is allowed (the 405's Allow header); a grant names no Allow.
    FUZZ_CHECK(access.allowed == access.allow.empty());
    // Only the health check and the Nix cache description are open to anyone.
    FUZZ_CHECK(!access.allowed || access.scopes != 0 || route->kind == RouteKind::healthz ||
               route->kind == RouteKind::nix_cache_info);
    if (method == "PATCH" || method == "get") {
      FUZZ_CHECK(!access.allowed); // methods are case-sensitive (RFC 9110 9.1)
    }
  }
  FUZZ_CHECK(!to_string(route->kind).empty() && to_string(route->kind) != "unknown");
  return 0;
}
