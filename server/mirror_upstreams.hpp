// The HTTP client the mirror reaches its upstreams with (--mirror NAME=URL): the shared HTTP
// transport (net/http_pool.hpp), one pool of keep-alive connections per upstream,
// TLS checked against the system's CAs. Redirects (301, 302, 303, 307, 308) are followed, up
// to k_max_redirects, to http(s) only and never from https to http; a host a redirect leads to
// gets a pool of its own (a few are kept).
#pragma once

#include "server/ops/mirror.hpp"
#include "server/server.hpp"

#include <chrono>
#include <memory>
#include <vector>

namespace ingot::server {

// GitHub release assets take one (to objects.githubusercontent.com), CDNs one or two: 5 is
// curl's and Go's 10 halved, and ends a loop quickly.
inline constexpr unsigned k_max_redirects = 5;

// The absolute URL a redirect from the absolute http(s) URL `from` to `location` (a Location
// field: absolute, //host/..., /path or a relative path, RFC 3986 section 5) leads to, dot
// segments and fragment removed. Errc::upstream when it is not http(s), goes from https to
// http, carries credentials or is malformed.
[[nodiscard]] Result<std::string> resolve_redirect(std::string_view from,
                                                   std::string_view location);

// Null when there is no mirror; Errc::invalid_argument naming a URL that is not http(s)://.
[[nodiscard]] Result<std::shared_ptr<Upstreams>>
make_upstreams(const std::vector<MirrorSpec>& mirrors, std::chrono::milliseconds timeout);

} // namespace ingot::server
