// Internal to server/: one HTTP/1.1 connection.
#pragma once

#include "server/context.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace ingot::server {

// Serves requests on the socket until the client leaves, a timeout, or a drain.
void start_session(boost::asio::ip::tcp::socket socket, ServerContext& context);

} // namespace ingot::server
