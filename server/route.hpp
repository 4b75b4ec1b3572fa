// Request targets to routes: the one place client-supplied paths are checked. Nothing here
// builds a filesystem path; keys are validated and handed to the store as opaque bytes.
#pragma once

#include "cas/digest.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <memory>
#include <span>
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
  release_yank, // /v1/releases/P/V:yank (before releases: the table tries rows in this order)
  releases,     // /v1/releases/P[/V[/NAME…]]
  keys,
  audit,
  nix_cache_info,  // /nix/nix-cache-info
  nix_narinfo,     // /nix/<hash32>.narinfo
  nix,             // /nix/nar/<file>, /nix/<hash32>.ls, /nix/log/<drv>, /nix/realisations/<id>.doi
  nix_pins,        // /v1/nix/pins/<hash32>
  mirror,          // /mirror/<name>[@<snapshot>]/<path> (server/ops/mirror.hpp)
  mirror_snapshot, // /v1/mirror/<name>/snapshots/<snapshot>
  mirror_override, // /v1/mirror/<name>/overrides/<path>
  status_page,     // exactly "/": the HTML page a browser gets (server/status_page.hpp)
};

// How many kinds there are (for tables indexed by kind): the last one plus one.
inline constexpr std::size_t k_route_kinds = static_cast<std::size_t>(RouteKind::status_page) + 1;

std::string_view to_string(RouteKind kind);

struct Route {
  RouteKind kind = RouteKind::healthz;
  cas::Hash hash{}; // cas and ac
  // ac: the 64-hex key; kv: the key below /kv/; refs: the name (or empty); releases: "P",
  // "P/V" or "P/V/NAME" (names checked by the release code, sign/release_files.hpp); nix
  // routes: the path below /nix/ ("<hash32>.narinfo", "nar/<file>", …), the key of its
  // entry; nix_narinfo and nix_pins: also the hash32 in `hash32`.
  std::string key;
  std::string hash32;
  cas::Digest digest{}; // trees
  std::string query;    // after '?', undecoded
  // mirror: the mirror's name; `key` is the path below it, decoded, and `raw` as it was sent
  // (what the upstream is asked for).
  std::string mirror;
  std::string raw;
  std::string snapshot; // mirror: after '@' (empty: the live mirror); mirror_snapshot: its name
  // kv: the target ended in '/', the WebDAV spelling of a collection (RFC 4918 5.2).
  bool collection = false;
  // nix: a nar whose file name carries the SHA-256 of its bytes (nix writes
  // nar/<nix32 sha256>.nar.xz): `hash` holds it and a PUT is verified against it.
  bool hash_named = false;
};

// What a method on a route needs: the token scopes (see auth.hpp; 0 for none), or, when the
// method is not allowed there, the Allow header to answer 405 with.
struct Access {
  bool allowed = true;
  unsigned scopes = 0;
  std::string_view allow;
};
Access required_access(RouteKind kind, std::string_view method);

// --- the route table (route.cpp): one row per route ------------------------------------------

enum class Op : std::uint8_t; // server/ops/ops.hpp
class Ops;
struct Caller;
struct HttpRequest; // server/http_handlers.hpp
struct HttpReply;
class UploadSink;

// How a method takes its request body.
enum class BodyKind {
  none,   // no body is read
  json,   // a small body, read whole (up to k_max_json_body) before the handler runs
  stream, // streamed into the sink `open` gives, then the handler runs
};

using Handler = HttpReply (*)(Ops& ops, const Caller& caller, HttpRequest& request);
using OpenSink = Result<std::unique_ptr<UploadSink>> (*)(Ops& ops, const Caller& caller,
                                                         const HttpRequest& request);

struct MethodRow {
  std::string_view method; // exact, case-sensitive (RFC 9110 9.1)
  Op op;                   // the operation, and so the scope it needs (ops.hpp)
  BodyKind body;
  // Runs on the blocking pool unless the operation never waits (waits_of(op)).
  Handler handler;
  OpenSink open = nullptr; // BodyKind::stream only
};

struct RouteRow {
  RouteKind kind;
  std::string_view name;    // for metrics, logs and 405 messages
  std::string_view pattern; // as documented (ARCHITECTURE.md "HTTP API")
  // The target matches when it equals `exact`, or starts with `prefix` and `parse` accepts
  // the rest (Errc::not_found from parse: not this route, try the next row).
  std::string_view exact;
  std::string_view prefix;
  Result<Route> (*parse)(std::string_view rest);
  std::span<const MethodRow> methods;
};

// The rows, in RouteKind order (which is also the order targets are tried in).
std::span<const RouteRow> route_table();
const RouteRow& route_row(RouteKind kind);
// nullptr when `method` is not allowed on the route.
const MethodRow* find_method(RouteKind kind, std::string_view method);

// A ref name given whole rather than in a path (gRPC): the rules of /v1/refs/{name} (no empty,
// "." or ".." segment, no control character, UTF-8, at most the longest key).
[[nodiscard]] Result<std::string> ref_name(std::string_view name);

// Longest accepted request target.
inline constexpr std::size_t k_max_target = 2048;

// Errc::invalid_argument (400) for malformed targets, Errc::not_found (404) for unknown
// routes; each error names what was wrong.
[[nodiscard]] Result<Route> parse_route(std::string_view target);

// `key` if every '/'-separated segment is a plain name (not empty, "." or ".."), it has no
// control character and it fits k_max_key_size: kv keys, ref names, mirror paths.
[[nodiscard]] Result<std::string> checked_key(std::string key);

// The percent-decoded value of `name` in a query string: "" when it is absent, has no value
// or holds a malformed escape.
std::string query_param(std::string_view query, std::string_view name);

} // namespace ingot::server
