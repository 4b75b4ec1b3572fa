// Where a server is: scheme, host, port and base path, from the URL a user gives.
#pragma once

#include "util/result.hpp"

#include <string>
#include <string_view>

namespace ingot::net {

struct ServerAddress {
  std::string host;
  std::string port;
  // Path prefix the routes live under ("" or "/ingot"), for a server behind a proxy.
  std::string base;
  // https://: TLS, the server's certificate checked against the system's CAs (or the file
  // SSL_CERT_FILE names) and the host name.
  bool tls = false;
};

// Accepts "http://host[:port][/base]", "https://host[:port][/base]", "host:port" and
// "[v6addr]:port"; the port defaults to 80, or 443 for https.
[[nodiscard]] Result<ServerAddress> parse_server_url(std::string_view url);

} // namespace ingot::net
