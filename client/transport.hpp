// The seam between the Client and the wire is net::Transport (net/transport.hpp): one
// request out, one response back, one attempt per send; whether to try again is the Client's
// decision (Client::call). These are its names in the client's namespace.
#pragma once

#include "net/transport.hpp"

namespace ingot::client {

using net::BodySink;
using net::Fields;
using net::Method;
using net::Request;
using net::Response;
using net::Transport;

} // namespace ingot::client
