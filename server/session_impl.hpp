// Internal to server/: the Session class, one HTTP/1.1 connection, whose methods are defined
// in three files: session.cpp (the request header, the route table lookup and responses),
// session_body.cpp (request bodies: streamed into a sink or read whole) and session_send.cpp
// (blobs streamed out). What a request does is the route table's business (route.cpp), not
// the session's. Only those three include this header: it pulls in Beast.
#pragma once

#include "net/conn_stream.hpp"
#include "server/api.hpp"
#include "server/blob_read.hpp"
#include "server/context.hpp"
#include "server/file_send.hpp"
#include "server/http_handlers.hpp"
#include "server/route.hpp"
#include "server/upload.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ingot::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Bodies move through a buffer of this size in both directions.
inline constexpr std::size_t k_chunk = 256 * 1024;
// Responses up to this size are read whole and sent in one write.
inline constexpr std::uint64_t k_small_response = 64 * 1024;

enum class Phase { idle, body, responding };

class Session : public std::enable_shared_from_this<Session> {
public:
  // `tls`: the TLS context of an HTTPS listener, or null for plain HTTP.
  Session(tcp::socket socket, ServerContext& ctx, std::shared_ptr<net::ssl::context> tls);
  ~Session();

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();

private:
  // --- request header -------------------------------------------------------------------

  std::string_view field(http::field name) const {
    const auto value = m_parser->get()[name];
    return {value.data(), value.size()};
  }
  std::string_view field(std::string_view name) const {
    const auto value = m_parser->get()[beast::string_view(name.data(), name.size())];
    return {value.data(), value.size()};
  }

  void on_handshake(beast::error_code ec);
  void read_header();
  void close_if_idle();
  void on_header(beast::error_code ec, std::size_t);
  void handle();

  // --- bodies in ------------------------------------------------------------------------

  // A consumer of body bytes calls `done` when it has taken them, at once or later (from
  // the blocking pool, by way of off_io); the next piece is read only then.
  using Done = std::function<void(Result<void>)>;
  using Consume = std::function<void(ByteView, Done)>;
  using Finish = std::function<void()>;

  // Runs `work` on the blocking pool, then `then(its result)` back on this connection's I/O
  // thread. Every call into the store that may wait for the disk goes through here: the
  // store's expect_may_block() stops a build with assertions that tries otherwise. Both
  // callables are copied into a std::function, so they capture nothing move-only.
  template <class Work, class Then>
  void off_io(Work work, Then then) {
    off_io(std::move(work), std::move(then), m_ctx.run_blocking);
  }
  // The same, on `pool` (ServerContext::run_upstream for Waits::upstream).
  template <class Work, class Then>
  void off_io(Work work, Then then, const std::function<void(std::function<void()>)>& pool) {
    if (!pool) {
      return then(work());
    }
    pool([self = shared_from_this(), work = std::move(work), then = std::move(then)]() mutable {
      auto result = work();
      net::post(self->m_stream.get_executor(),
                [self, then = std::move(then), result = std::move(result)]() mutable {
                  then(std::move(result));
                });
    });
  }

  // Streams the request body through `consume` and then calls `finish`; answers
  // Expect: 100-continue first.
  void read_body(Consume consume, Finish finish);
  void read_body_chunk();
  void on_body_chunk(beast::error_code ec, std::size_t);
  void on_direct_body(beast::error_code ec, std::size_t got);

  // The first `got` bytes of m_chunk are the next piece of the body.
  void on_body_bytes(std::size_t got);
  void after_consume(Result<void> taken);
  void abort_body();

  // An error found while the body was still arriving: the rest of it is never read, so the
  // connection cannot carry another request.
  void reject_after_body(unsigned status, const std::string& message);

  void read_json_body();
  // A PUT body: streamed into the sink the row's `open` gives, then the row's handler.
  void read_stream_body();

  // The row's handler, on the blocking pool unless the row says it never waits; then the
  // reply goes out.
  void run_handler();
  HttpReply call_handler();
  // What the handler sees of this request; takes m_upload (the sink a streamed body went into).
  HttpRequest request();
  void send_reply(HttpReply reply);

  // --- responses out --------------------------------------------------------------------

  // A blob file's bytes go out by sendfile after the header. Otherwise (inline blobs, zstd
  // decoded) the header and a body of up to k_small_response bytes go out in one write; a
  // larger body follows in chunks of k_chunk, the first one with the header.
  void send_blob(BlobResponse blob, bool head);
  void send_next_chunk();
  void on_chunk_sent(beast::error_code ec, std::size_t);
  void on_file_sent(const FileSent& sent);

  // --- responses ------------------------------------------------------------------------

  bool keep_alive() const {
    return m_keep_alive_override && m_parser->get().keep_alive() && m_body_done && !m_ctx.draining;
  }

  void reject(unsigned status, const std::string& message, std::string_view allow = {});
  void send_error(unsigned status, const std::string& message);
  void send_simple(SimpleResponse simple, std::string_view content_range = {},
                   std::string_view allow = {});

  // Writes m_out (a header, and maybe the whole body) and m_body, then goes on to the next
  // request.
  void write_response();
  void finish_response(unsigned status);

  // After answering a request whose body was never read: stop sending, then read and drop
  // what the client still sends for a short while before closing. Closing at once would
  // reset the connection and could destroy our answer before the client reads it.
  void linger_close();
  void drain();
  void log_request(unsigned status);
  void close();

  // --- state --------------------------------------------------------------------------

  io::ConnStream m_stream;
  ServerContext& m_ctx;
  beast::flat_buffer m_buffer;
  std::string m_peer;
  Phase m_phase = Phase::idle;

  std::optional<http::request_parser<http::buffer_body>> m_parser;
  std::optional<Route> m_route;
  const MethodRow* m_row = nullptr; // the route table's row for this method on m_route
  Caller m_caller;
  BodyEncoding m_encoding = BodyEncoding::identity;
  std::string m_method;
  std::string m_target;
  Authenticator::Remembered m_last_auth;
  Clock::time_point m_started;
  Clock::time_point m_body_started;
  bool m_body_done = false;
  std::optional<std::uint64_t> m_body_left; // a Content-Length body read past the parser
  bool m_keep_alive_override = true;
  unsigned m_status = 0;
  std::uint64_t m_bytes_in = 0;
  std::uint64_t m_bytes_out = 0;
  std::vector<std::uint8_t> m_chunk;

  Consume m_consume;
  Finish m_finish;
  std::string m_json;
  std::string m_small_body; // a PUT body of up to k_chunk bytes, gathered before it is stored
  std::unique_ptr<UploadSink> m_upload;

  // The response being sent: its header, and the body when it is small (kept across
  // requests, so its capacity is reused); a large in-memory body; the reader of a blob
  // streamed in chunks, or of the blob file being sent by sendfile.
  std::string m_out;
  std::string m_body;
  std::unique_ptr<cas::BlobReader> m_reader;
  std::uint64_t m_response_length = 0;
};

} // namespace ingot::server
