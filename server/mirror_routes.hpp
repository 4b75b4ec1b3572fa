// Internal to server/: the targets below /mirror/ and /v1/mirror/ (server/ops/mirror.hpp), for
// the route table (route.cpp). Each parser takes the rest of the target after its row's
// prefix; Errc::not_found means "not this route", Errc::invalid_argument a malformed target.
#pragma once

#include "server/route.hpp"

#include <string_view>

namespace ingot::server {

// "NAME[@SNAPSHOT]/PATH" below /mirror/: PATH checked like a kv key, UTF-8, no '\\' nor
// escaped '/', '.' segments dropped; `raw` is its one canonical spelling for the upstream.
[[nodiscard]] Result<Route> parse_mirror(std::string_view rest);
// "NAME/snapshots/SNAPSHOT" below /v1/mirror/
[[nodiscard]] Result<Route> parse_mirror_snapshot(std::string_view rest);
// "NAME/overrides/PATH" below /v1/mirror/
[[nodiscard]] Result<Route> parse_mirror_override(std::string_view rest);

} // namespace ingot::server
