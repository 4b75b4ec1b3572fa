// The HTTP client the mirror reaches its upstreams with (--mirror NAME=URL): the `ingot`
// client's transport (client/http_pool.hpp), one pool of keep-alive connections per upstream,
// TLS checked against the system's CAs.
#pragma once

#include "server/ops/mirror.hpp"
#include "server/server.hpp"

#include <chrono>
#include <memory>
#include <vector>

namespace ingot::server {

// Null when there is no mirror; Errc::invalid_argument naming a URL that is not http(s)://.
[[nodiscard]] Result<std::shared_ptr<Upstreams>>
make_upstreams(const std::vector<MirrorSpec>& mirrors, std::chrono::milliseconds timeout);

} // namespace ingot::server
