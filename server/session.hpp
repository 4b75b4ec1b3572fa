// Internal to server/: one HTTP/1.1 connection.
#pragma once

#include "server/context.hpp"

#include <memory>

#include <boost/asio/ip/tcp.hpp>

namespace boost::asio::ssl {
class context;
}

namespace ingot::server {

// Serves requests on the socket until the client leaves, a timeout, or a drain; over TLS
// with `tls` (an HTTPS listener's context), else plain HTTP.
void start_session(boost::asio::ip::tcp::socket socket, ServerContext& context,
                   std::shared_ptr<boost::asio::ssl::context> tls);

} // namespace ingot::server
