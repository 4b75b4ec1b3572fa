// A response whose body is a span of an open file: the header is sent with send(2), flagged
// to leave with the body's first bytes, and the body with sendfile(2), so that it goes from
// the page cache to the socket without a pass through user memory (what nginx does with
// `sendfile on`). Internal to server/; only session.cpp includes it.
#pragma once

#include "cas/store.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace ingot::server {

struct FileSent {
  // What stopped the send early: the socket failed, or was not writable for the timeout
  // (boost::asio::error::timed_out). Empty when all was sent or the file was short.
  boost::system::error_code error;
  // The file is shorter than the span: found before anything was sent (head_sent is false,
  // so the caller can still answer 500), or midway, by sendfile reaching its end.
  bool short_file = false;
  bool head_sent = false;
  std::uint64_t body_bytes = 0; // of the span, sent
};

// Sends `head` and then `span` on `socket`, yielding to other connections between pieces,
// and calls `done` once: from within this call when the socket took everything at once (a
// small body usually), else later on the socket's executor. `head` and the span's file must
// stay valid until then. The socket is left in non-blocking mode.
void async_send_file(boost::asio::ip::tcp::socket& socket, std::string_view head,
                     cas::FileSpan span, std::chrono::steady_clock::duration timeout,
                     std::function<void(const FileSent&)> done);

} // namespace ingot::server
