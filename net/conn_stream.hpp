// One connection's byte stream, plain TCP or TLS over it: the server's sessions (--tls-cert)
// and the client's connections (https://) use it alike. Beast's and Asio's algorithms take it
// as they take a beast::tcp_stream. Only .cpp files include it: it pulls in Beast and
// OpenSSL.
#pragma once

#include <chrono>
#include <memory>
#include <utility>
#include <variant>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace ingot::io {

class ConnStream {
public:
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit ConnStream(boost::asio::ip::tcp::socket socket)
      : m_stream(std::in_place_type<boost::beast::tcp_stream>, std::move(socket)) {}
  // TLS with `context`, which the stream keeps alive: a reload (SIGHUP) gives new
  // connections a new context while this one goes on with the one it started with.
  ConnStream(boost::asio::ip::tcp::socket socket,
             std::shared_ptr<boost::asio::ssl::context> context)
      : m_context(std::move(context)),
        m_stream(std::in_place_type<Tls>, boost::beast::tcp_stream(std::move(socket)), *m_context) {
  }

  bool tls() const { return std::holds_alternative<Tls>(m_stream); }

  boost::beast::tcp_stream& tcp() {
    return std::visit(
        [](auto& s) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(s); },
        m_stream);
  }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }
  executor_type get_executor() { return tcp().get_executor(); }
  void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { s.async_read_some(buffers, std::forward<Handler>(handler)); },
               m_stream);
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (auto* tcp = std::get_if<boost::beast::tcp_stream>(&m_stream)) {
      return tcp->async_write_some(buffers, std::forward<Handler>(handler));
    }
    // TLS gets the first non-empty buffer alone. Beast 1.74's ssl_stream writes only the
    // first buffer of a long sequence, even an empty one, and asio::async_write takes a write
    // of 0 bytes for the end: a response's header with the rest of a chunk (a header already
    // sent, so empty) ended there, the chunk never sent (tls.sh, "blobs in and out").
    boost::asio::const_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      first = *it;
      if (first.size() > 0) {
        break;
      }
    }
    std::get<Tls>(m_stream).async_write_some(first, std::forward<Handler>(handler));
  }

  // The TLS handshake, as `side`; only for a TLS stream.
  template <class Handler>
  void async_handshake(boost::asio::ssl::stream_base::handshake_type side, Handler&& handler) {
    std::get<Tls>(m_stream).async_handshake(side, std::forward<Handler>(handler));
  }
  // The TLS stream, to set what a client checks (the server's name); only for a TLS stream.
  Tls& tls_stream() { return std::get<Tls>(m_stream); }

private:
  std::shared_ptr<boost::asio::ssl::context> m_context; // before the stream that uses it
  std::variant<boost::beast::tcp_stream, Tls> m_stream;
};

} // namespace ingot::io
