// The HTTP transport: HTTP/1.1 to one server (an Ingot server for the client, an upstream for
// the server's mirror) over a pool of keep-alive connections.
#pragma once

#include "net/server_url.hpp"
#include "net/transport.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace ingot::net {

// Connects lazily, on the first send. A pooled connection the server closed while idle is
// replaced once, transparently: that is keeping the pool fresh, not a retry (nothing was
// answered, and the request never reached the server).
std::unique_ptr<Transport> make_http_transport(ServerAddress server, std::string token,
                                               std::chrono::milliseconds timeout);

} // namespace ingot::net
