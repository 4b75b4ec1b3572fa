#include "net/http_pool.hpp"

#include "net/conn_stream.hpp"

#include <array>
#include <atomic>
#include <limits>
#include <mutex>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

namespace ingot::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Bytes moved per read or write call: large enough to keep syscalls few on 16 MiB blobs,
// small enough that a pool of connections stays a few MiB.
constexpr std::size_t k_chunk = 256u * 1024;
// A response not given to a sink is read whole: error lines and JSON answers, of which
// batchRead's are the largest (the server caps those at 64 MiB).
constexpr std::uint64_t k_max_buffered_body = 96u << 20;

http::verb verb_of(Method m) {
  switch (m) {
  case Method::get:
    return http::verb::get;
  case Method::head:
    return http::verb::head;
  case Method::put:
    return http::verb::put;
  case Method::post:
    return http::verb::post;
  case Method::del:
    return http::verb::delete_;
  }
  return http::verb::get;
}

io::ConnStream make_stream(asio::io_context& ioc, std::shared_ptr<asio::ssl::context> tls) {
  if (tls) {
    return io::ConnStream(tcp::socket(ioc), std::move(tls));
  }
  return io::ConnStream(tcp::socket(ioc));
}

struct Connection {
  // `tls`: the context of an https:// server, else null.
  explicit Connection(std::shared_ptr<asio::ssl::context> tls) : stream(make_stream(ioc, tls)) {
    // Beast sizes each socket read by the buffer's free capacity (at least 512 bytes, at most
    // 64 KiB); left unreserved it stays tiny, and a 250 MB pull took 500k reads of 513 bytes.
    buffer.reserve(64 * 1024);
  }
  asio::io_context ioc{1};
  io::ConnStream stream;
  beast::flat_buffer buffer;
};

// Runs one asynchronous operation to completion on the connection's own io_context: the
// caller blocks, and still gets Beast's expiry on that operation.
template <class Start>
error_code run(Connection& c, Start&& start) {
  error_code result = asio::error::would_block;
  std::forward<Start>(start)([&result](error_code ec, auto&&...) { result = ec; });
  c.ioc.restart();
  c.ioc.run();
  return result;
}

struct HttpPool {
  ServerAddress server;
  std::shared_ptr<asio::ssl::context> tls; // for an https:// server
  std::string authorization;
  std::chrono::milliseconds timeout;
  std::mutex mutex;
  std::vector<std::unique_ptr<Connection>> idle;
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};

  std::string where() const { return server.host + ":" + server.port; }

  Error transport_error(error_code ec, const char* doing) const {
    if (ec == beast::error::timeout) {
      return make_error(Errc::timeout, std::string(doing) + " " + where() + ": no progress in " +
                                           std::to_string(timeout.count()) + " ms");
    }
    return make_error(Errc::io, std::string(doing) + " " + where() + ": " + ec.message());
  }

  std::unique_ptr<Connection> take(bool& reused) {
    const std::lock_guard lock(mutex);
    reused = !idle.empty();
    if (!reused) {
      return std::make_unique<Connection>(tls);
    }
    auto c = std::move(idle.back());
    idle.pop_back();
    return c;
  }

  void give_back(std::unique_ptr<Connection> c) {
    const std::lock_guard lock(mutex);
    idle.push_back(std::move(c));
  }

  Result<void> connect(Connection& c) {
    tcp::resolver resolver(c.ioc);
    error_code ec;
    const auto endpoints = resolver.resolve(server.host, server.port, ec);
    if (ec) {
      return transport_error(ec, "cannot resolve");
    }
    c.stream.expires_after(timeout);
    ec = run(c, [&](auto handler) { c.stream.tcp().async_connect(endpoints, std::move(handler)); });
    if (ec) {
      return transport_error(ec, "cannot connect to");
    }
    c.stream.socket().set_option(tcp::no_delay(true), ec);
    if (!c.stream.tls()) {
      return {};
    }
    // The name the certificate must carry, sent as SNI too (not for an IP address, which
    // SNI does not carry; the certificate is then checked for that address).
    auto& tls_stream = c.stream.tls_stream();
    boost::system::error_code not_ip;
    asio::ip::make_address(server.host, not_ip);
    if (not_ip) {
      SSL_set_tlsext_host_name(tls_stream.native_handle(), server.host.c_str());
    }
    tls_stream.set_verify_callback(asio::ssl::host_name_verification(server.host));
    c.stream.expires_after(timeout);
    ec = run(c, [&](auto handler) {
      c.stream.async_handshake(asio::ssl::stream_base::client, std::move(handler));
    });
    if (ec) {
      // A certificate this client does not trust fails the same way every time: not retried
      // (Errc::unauthorized), unlike a handshake cut short (Errc::io).
      const std::string why = ec.message();
      const bool untrusted = why.find("certificate verify failed") != std::string::npos;
      return make_error(untrusted ? Errc::unauthorized : Errc::io,
                        "TLS handshake with " + where() + " failed: " + why +
                            (untrusted ? "; if the server's certificate comes from a private "
                                         "CA, point SSL_CERT_FILE at the CA's certificate (PEM)"
                                       : ""));
    }
    return {};
  }

  template <class Body>
  void prepare(http::request<Body>& r, const Request& request, const Fields* fields) const {
    r.method(verb_of(request.method));
    r.target(server.base + request.target);
    r.version(11);
    r.set(http::field::host, server.host + ":" + server.port);
    r.set(http::field::user_agent, "ingot-client");
    if (!authorization.empty()) {
      r.set(http::field::authorization, authorization);
    }
    if (!request.content_type.empty()) {
      r.set(http::field::content_type, request.content_type);
    }
    if (fields != nullptr) {
      for (const auto& [name, value] : *fields) {
        r.set(name, value);
      }
    }
    r.keep_alive(true);
    r.prepare_payload();
  }

  // Writes in steps so that the expiry bounds each step, not the whole (perhaps huge) body.
  template <class Body>
  Result<void> write(Connection& c, http::request<Body>& r) {
    http::request_serializer<Body> serializer(r);
    serializer.limit(k_chunk);
    while (!serializer.is_done()) {
      c.stream.expires_after(timeout);
      std::size_t written = 0;
      const auto ec = run(c, [&](auto handler) {
        http::async_write_some(
            c.stream, serializer,
            [&written, handler = std::move(handler)](error_code e, std::size_t n) mutable {
              written = n;
              handler(e);
            });
      });
      if (ec) {
        return transport_error(ec, "sending to");
      }
      sent += written;
    }
    return {};
  }

  Result<void> write_request(Connection& c, const Request& request, const Fields* fields) {
    if (request.body_file.empty()) {
      http::request<http::string_body> r;
      r.body() = request.body;
      prepare(r, request, fields);
      return write(c, r);
    }
    http::request<http::file_body> r;
    error_code ec;
    r.body().open(request.body_file.c_str(), beast::file_mode::scan, ec);
    if (ec) {
      return make_error(Errc::io,
                        "cannot read " + request.body_file.string() + ": " + ec.message());
    }
    prepare(r, request, fields);
    return write(c, r);
  }

  // `answered` turns true once the status line arrived: before that, a failure on a pooled
  // connection is the server having closed it while idle.
  Result<Response> exchange(Connection& c, const Request& request, const Fields* fields,
                            BodySink* sink, bool& answered, bool& keep_alive) {
    if (!c.stream.socket().is_open()) {
      if (auto r = connect(c); !r) {
        return std::move(r).error();
      }
    }
    // A server may answer before it has read the body (401, 413) and close: a failed write
    // still looks for that answer, which says more than "broken pipe".
    auto written = write_request(c, request, fields);
    if (!written && written.error().code != Errc::io) {
      return std::move(written).error();
    }
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (request.method == Method::head) {
      parser.skip(true);
    }
    c.stream.expires_after(timeout);
    auto ec = run(c, [&](auto handler) {
      http::async_read_header(c.stream, c.buffer, parser, std::move(handler));
    });
    if (ec) {
      if (!written) {
        return std::move(written).error();
      }
      return transport_error(ec, "no answer from");
    }
    answered = true;
    Response response;
    response.status = parser.get().result_int();
    response.content_type = std::string(parser.get()[http::field::content_type]);
    response.etag = std::string(parser.get()[http::field::etag]);
    response.last_modified = std::string(parser.get()[http::field::last_modified]);
    response.location = std::string(parser.get()[http::field::location]);
    const bool to_sink = sink != nullptr && response.status / 100 == 2;
    if (to_sink) {
      if (auto r = sink->restart(); !r) {
        return std::move(r).error();
      }
    }
    std::array<std::uint8_t, k_chunk> chunk{};
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      c.stream.expires_after(timeout);
      ec = run(c, [&](auto handler) {
        http::async_read_some(c.stream, c.buffer, parser, std::move(handler));
      });
      if (ec && ec != http::error::need_buffer) {
        return transport_error(ec, "reading the answer from");
      }
      const auto n = chunk.size() - parser.get().body().size;
      received += n;
      if (to_sink) {
        if (auto r = sink->write(ByteView(chunk.data(), n)); !r) {
          return std::move(r).error();
        }
      } else if (response.body.size() + n > k_max_buffered_body) {
        return make_error(Errc::too_large, "answer from " + where() + " is over " +
                                               std::to_string(k_max_buffered_body) + " bytes");
      } else {
        response.body.append(reinterpret_cast<const char*>(chunk.data()), n);
      }
    }
    keep_alive = written && parser.get().keep_alive();
    return response;
  }
};

class HttpTransport final : public Transport {
public:
  HttpTransport(ServerAddress server, std::string token, std::chrono::milliseconds timeout) {
    if (server.tls) {
      // The system's CAs, or the file SSL_CERT_FILE names (OpenSSL's own variable);
      // TLS 1.2 at least, as the server.
      m_pool.tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
      m_pool.tls->set_options(asio::ssl::context::default_workarounds |
                              asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                              asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
      m_pool.tls->set_default_verify_paths();
      m_pool.tls->set_verify_mode(asio::ssl::verify_peer);
    }
    m_pool.server = std::move(server);
    if (!token.empty()) {
      m_pool.authorization = "Bearer " + token;
    }
    m_pool.timeout = timeout;
  }

  Result<Response> send(const Request& request, BodySink* sink) override {
    return send_with(request, sink, nullptr);
  }
  Result<Response> send(const Request& request, BodySink* sink, const Fields& fields) override {
    return send_with(request, sink, &fields);
  }

  std::uint64_t bytes_sent() const override { return m_pool.sent.load(); }
  std::uint64_t bytes_received() const override { return m_pool.received.load(); }

private:
  Result<Response> send_with(const Request& request, BodySink* sink, const Fields* fields) {
    bool reused = false;
    auto connection = m_pool.take(reused);
    bool answered = false;
    bool keep_alive = false;
    auto response = m_pool.exchange(*connection, request, fields, sink, answered, keep_alive);
    if (!response && reused && !answered && response.error().code == Errc::io) {
      connection = std::make_unique<Connection>(m_pool.tls);
      response = m_pool.exchange(*connection, request, fields, sink, answered, keep_alive);
    }
    if (response && keep_alive) {
      m_pool.give_back(std::move(connection));
    }
    return response;
  }

  HttpPool m_pool;
};

} // namespace

std::unique_ptr<Transport> make_http_transport(ServerAddress server, std::string token,
                                               std::chrono::milliseconds timeout) {
  return std::make_unique<HttpTransport>(std::move(server), std::move(token), timeout);
}

} // namespace ingot::net
