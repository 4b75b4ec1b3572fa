// Request targets to routes: the one place client-supplied paths are checked. Nothing here
// builds a filesystem path; keys are validated and handed to the store as opaque bytes.
#pragma once

#include "cas/digest.hpp"
#include "util/result.hpp"

#include <string>
#include <string_view>

namespace ingot::server {

enum class RouteKind {
  cas,
  ac,
  kv,
  find_missing,
  batch_read,
  batch_update,
  stats,
  metrics,
  healthz,
  gc,
  refs,
  trees,
  releases,     // /v1/releases/P[/V[/NAME…]]
  release_yank, // /v1/releases/P/V:yank
  keys,
  audit,
};

// How many kinds there are (for tables indexed by kind): the last one plus one.
inline constexpr std::size_t k_route_kinds = static_cast<std::size_t>(RouteKind::audit) + 1;

std::string_view to_string(RouteKind kind);

struct Route {
  RouteKind kind = RouteKind::healthz;
  cas::Hash hash{}; // cas and ac
  // ac: the 64-hex key; kv: the key below /kv/; refs: the name (or empty); releases: "P",
  // "P/V" or "P/V/NAME" (names checked by the release code, sign/release_files.hpp)
  std::string key;
  cas::Digest digest{}; // trees
  std::string query;    // after '?', undecoded
  // kv: the target ended in '/', the WebDAV spelling of a collection (RFC 4918 5.2).
  bool collection = false;
};

// What a method on a route needs: the token scopes (see auth.hpp; 0 for none), or, when the
// method is not allowed there, the Allow header to answer 405 with.
struct Access {
  bool allowed = true;
  unsigned scopes = 0;
  std::string_view allow;
};
Access required_access(RouteKind kind, std::string_view method);

// Longest accepted request target.
inline constexpr std::size_t k_max_target = 2048;

// Errc::invalid_argument (400) for malformed targets, Errc::not_found (404) for unknown
// routes; each error names what was wrong.
[[nodiscard]] Result<Route> parse_route(std::string_view target);

// The percent-decoded value of `name` in a query string: "" when it is absent, has no value
// or holds a malformed escape.
std::string query_param(std::string_view query, std::string_view name);

} // namespace ingot::server
