#include "server/nix_routes.hpp"

#include "server/nix_cache.hpp"
#include "sign/narinfo.hpp"
#include "util/nix32.hpp"
#include "util/percent.hpp"

#include <algorithm>

namespace ingot::server {

namespace {

// Longest file name below /nix/ accepted: nix's own names are under 120 bytes.
constexpr std::size_t k_max_nix_name = 255;

Error bad(std::string message) {
  return make_error(Errc::invalid_argument, std::move(message));
}

// A single path segment of the characters nix puts in the names it writes (store path names,
// nar extensions, realisation ids such as "sha256:<hash>!out"): no '/', no "..", no leading
// '.', nothing a client could use to name anything but a key.
bool is_plain_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_nix_name || name.front() == '.') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("+-._?=:!").find(c) != std::string_view::npos;
  });
}

Route nix_route(RouteKind kind, std::string key) {
  Route r;
  r.kind = kind;
  r.key = std::move(key);
  return r;
}

// nar/<nix32 sha256 of the file>.nar[.<ext>]: the name says what the bytes must hash to.
void name_hash(Route& route, std::string_view file) {
  constexpr std::size_t k_len = nix32_length(32);
  if (file.size() < k_len + 4 || file.substr(k_len, 4) != ".nar" ||
      (file.size() > k_len + 4 && file[k_len + 4] != '.')) {
    return;
  }
  if (auto bytes = nix32_decode(file.substr(0, k_len), 32)) {
    std::copy(bytes->begin(), bytes->end(), route.hash.begin());
    route.hash_named = true;
  }
}

Error no_such_path(std::string_view rest) {
  return make_error(Errc::not_found,
                    "no such path in a Nix binary cache: /nix/" + std::string(rest.substr(0, 80)) +
                        " (nix-cache-info, <hash32>.narinfo, nar/<file>, <hash32>.ls, "
                        "log/<drv>, realisations/<id>.doi)");
}

} // namespace

Result<Route> parse_nix_narinfo(std::string_view rest) {
  constexpr std::string_view k_suffix = ".narinfo";
  if (!rest.ends_with(k_suffix) || rest.find('/') != std::string_view::npos) {
    return make_error(Errc::not_found, "not this route");
  }
  const auto hash32 = rest.substr(0, rest.size() - k_suffix.size());
  if (!is_nix_hash32(hash32)) {
    return bad("a narinfo is named <hash32>.narinfo, the 32 nix32 characters of a store path's "
               "hash: got '" +
               std::string(rest.substr(0, 80)) + "'");
  }
  auto r = nix_route(RouteKind::nix_narinfo, std::string(rest));
  r.hash32 = std::string(hash32);
  return r;
}

Result<Route> parse_nix_file(std::string_view raw) {
  auto decoded = percent_decode(raw);
  if (!decoded) {
    return bad("malformed percent-escape in path");
  }
  const std::string_view rest = *decoded;
  if (rest.empty()) {
    return no_such_path(rest);
  }
  const auto slash = rest.find('/');
  const auto dir = slash == std::string_view::npos ? std::string_view{} : rest.substr(0, slash);
  const auto name = slash == std::string_view::npos ? rest : rest.substr(slash + 1);
  if (!is_plain_name(name)) {
    return bad("/nix/" + std::string(rest.substr(0, 80)) +
               ": not a name nix writes (letters, digits and +-._?=:! only)");
  }
  if (dir == "nar") {
    auto r = nix_route(RouteKind::nix, std::string(rest));
    name_hash(r, name);
    return r;
  }
  if (dir == "log" && sign::is_store_base_name(name)) {
    return nix_route(RouteKind::nix, std::string(rest));
  }
  if (dir == "realisations" && name.ends_with(".doi")) {
    return nix_route(RouteKind::nix, std::string(rest));
  }
  if (dir.empty() && name.ends_with(".ls") && is_nix_hash32(name.substr(0, name.size() - 3))) {
    return nix_route(RouteKind::nix, std::string(rest));
  }
  return no_such_path(rest);
}

Result<Route> parse_nix_pin(std::string_view rest) {
  if (!is_nix_hash32(rest)) {
    return bad("/v1/nix/pins/ takes a store path's hash part (32 nix32 characters), as in "
               "/nix/store/<hash32>-name");
  }
  auto r = nix_route(RouteKind::nix_pins, std::string(rest));
  r.hash32 = std::string(rest);
  return r;
}

} // namespace ingot::server
