#include "server/mirror_routes.hpp"

#include "server/ops/mirror.hpp"
#include "util/percent.hpp"
#include "util/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace ingot::server {

namespace {

Error bad(std::string message) {
  return make_error(Errc::invalid_argument, std::move(message));
}

// A mirror or snapshot name: 1 to 64 letters, digits, '-', '_' or '.', not "." or "..".
bool plain_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

// A path below a mirror, as sent (raw, for the upstream) and decoded (the entry's key).
Result<std::pair<std::string, std::string>> mirror_path(std::string_view rest) {
  // "." segments are dropped: apt asks for /mirror/NAME/./Release with a flat repository.
  std::string raw;
  bool first = true;
  for (std::size_t at = 0; at <= rest.size();) {
    const auto end = std::min(rest.find('/', at), rest.size());
    const auto segment = rest.substr(at, end - at);
    if (segment != ".") {
      raw += (first ? "" : "/") + std::string(segment);
      first = false;
    }
    at = end + 1;
  }
  // Some servers take '\\' for '/': neither it nor an escaped '/' may hide a path.
  if (raw.find('\\') != std::string::npos) {
    return bad("mirror path has a '\\'");
  }
  for (std::size_t i = 0; i + 2 < raw.size(); ++i) {
    if (raw[i] == '%' && ((raw[i + 1] == '2' && (raw[i + 2] == 'f' || raw[i + 2] == 'F')) ||
                          (raw[i + 1] == '5' && (raw[i + 2] == 'c' || raw[i + 2] == 'C')))) {
      return bad("mirror path has an escaped '/' or '\\' (%2F, %5C)");
    }
  }
  auto key = percent_decode(raw);
  if (!key) {
    return bad("malformed percent-escape in path");
  }
  auto checked = checked_key(std::move(*key));
  if (!checked) {
    return bad("mirror path " + std::string(rest) +
               ": an empty or '..' segment, a control character, or over 1 KiB");
  }
  // The key goes into JSON records and the audit log, which are UTF-8; and a segment that
  // begins with ".." ("..;" is ".." to Tomcat and Jetty, hence to Artifactory and Nexus)
  // could climb out of the upstream's base path there.
  if (!is_utf8(*checked)) {
    return bad("mirror path is not UTF-8");
  }
  if (checked->starts_with("..") || checked->find("/..") != std::string::npos) {
    return bad("mirror path has a segment that begins with '..'");
  }
  // The upstream is asked for one canonical spelling of the key, never the client's own
  // ('+' against %2B, %2e against '.'): whatever is stored under a key is what that
  // spelling names upstream.
  return std::pair<std::string, std::string>(percent_encode_path(*checked), std::move(*checked));
}

} // namespace

// /v1/mirror/NAME/snapshots/SNAPSHOT
Result<Route> parse_mirror_snapshot(std::string_view rest) {
  const auto slash = rest.find('/');
  const auto name = rest.substr(0, slash);
  constexpr std::string_view k_middle = "/snapshots/";
  if (slash == std::string_view::npos || rest.substr(slash, k_middle.size()) != k_middle) {
    return make_error(Errc::not_found, "not a snapshot"); // the next row's, or none
  }
  const auto snapshot = rest.substr(slash + k_middle.size());
  if (!plain_name(name) || !plain_name(snapshot)) {
    return bad("mirror and snapshot names are 1 to 64 letters, digits, '-', '_' or '.'");
  }
  Route r;
  r.kind = RouteKind::mirror_snapshot;
  r.mirror = std::string(name);
  r.snapshot = std::string(snapshot);
  return r;
}

// /v1/mirror/NAME/overrides/PATH
Result<Route> parse_mirror_override(std::string_view rest) {
  const auto slash = rest.find('/');
  const auto name = rest.substr(0, slash);
  constexpr std::string_view k_middle = "/overrides/";
  if (slash == std::string_view::npos || rest.substr(slash, k_middle.size()) != k_middle) {
    return bad("expected /v1/mirror/NAME/snapshots/SNAPSHOT or /v1/mirror/NAME/overrides/PATH");
  }
  if (!plain_name(name)) {
    return bad("mirror name must be 1 to 64 letters, digits, '-', '_' or '.'");
  }
  auto path = mirror_path(rest.substr(slash + k_middle.size()));
  if (!path) {
    return std::move(path).error();
  }
  Route r;
  r.kind = RouteKind::mirror_override;
  r.mirror = std::string(name);
  r.key = std::move(path->second);
  r.raw = std::move(path->first);
  return r;
}

Result<Route> parse_mirror(std::string_view rest) {
  const auto slash = rest.find('/');
  auto name = rest.substr(0, slash);
  std::string_view snapshot;
  if (const auto at = name.find('@'); at != std::string_view::npos) {
    snapshot = name.substr(at + 1);
    name = name.substr(0, at);
    if (!plain_name(snapshot)) {
      return bad("snapshot name must be 1 to 64 letters, digits, '-', '_' or '.': "
                 "/mirror/NAME@SNAPSHOT/PATH");
    }
  }
  if (!plain_name(name)) {
    return bad("mirror name must be 1 to 64 letters, digits, '-', '_' or '.': /mirror/NAME/PATH");
  }
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return bad("no path after /mirror/" + std::string(rest.substr(0, slash)) + "/");
  }
  auto path = mirror_path(rest.substr(slash + 1));
  if (!path) {
    return std::move(path).error();
  }
  Route r;
  r.kind = RouteKind::mirror;
  r.mirror = std::string(name);
  r.snapshot = std::string(snapshot);
  r.key = std::move(path->second);
  r.raw = std::move(path->first);
  return r;
}

Result<std::optional<Route>> MirrorCache::route_for(std::string_view url) const {
  std::string_view best;
  std::size_t best_len = 0;
  for (const auto& name : m_options.names) {
    const auto prefix = m_options.upstreams->url(name, "");
    if (url.starts_with(prefix) && prefix.size() > best_len) {
      best = name;
      best_len = prefix.size();
    }
  }
  if (best.empty()) {
    return std::optional<Route>();
  }
  const auto path = url.substr(best_len);
  if (path.find_first_of("?#") != std::string_view::npos) {
    return make_error(Errc::invalid_argument,
                      "'" + std::string(url) +
                          "' has a query or a fragment: the mirror fetches plain paths only");
  }
  auto route = parse_mirror(std::string(best) + "/" + std::string(path));
  if (!route) {
    return make_error(Errc::invalid_argument,
                      "'" + std::string(url) + "': " + route.error().message);
  }
  return std::optional<Route>(std::move(*route));
}

} // namespace ingot::server
