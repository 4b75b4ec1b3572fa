// Internal to server/: the targets below /nix/ and /v1/nix/, for the route table (route.cpp).
// Each parser takes the rest of the target after its row's prefix; Errc::not_found means
// "not this route", Errc::invalid_argument a malformed target (400).
#pragma once

#include "server/route.hpp"

#include <string_view>

namespace ingot::server {

// "<hash32>.narinfo"
[[nodiscard]] Result<Route> parse_nix_narinfo(std::string_view rest);
// "nar/<file>", "<hash32>.ls", "log/<drv>", "realisations/<id>.doi"
[[nodiscard]] Result<Route> parse_nix_file(std::string_view rest);
// "<hash32>", below /v1/nix/pins/
[[nodiscard]] Result<Route> parse_nix_pin(std::string_view rest);

} // namespace ingot::server
