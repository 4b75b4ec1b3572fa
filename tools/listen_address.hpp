// HOST:PORT flags of `ingot serve` (--listen, --http-listen).
#pragma once

#include "server/server.hpp"
#include "util/result.hpp"

#include <string>
#include <string_view>

namespace ingot::tools {

// "127.0.0.1:8080", "0.0.0.0:8443", "[::1]:8080"; port 0 picks a free one. Errc::invalid_argument
// naming `flag` and an example otherwise.
[[nodiscard]] Result<server::ListenAddress> parse_listen(std::string_view flag,
                                                         const std::string& value);

// Whether `host` (an IP address as --listen takes it) is a loopback address, which no other
// machine can reach: plain HTTP there exposes no token.
bool is_loopback(const std::string& host);

} // namespace ingot::tools
