// The I/O of one connection: read a request header, decide from it how to take the body
// (streamed into a blob writer, or a small JSON body), and stream the response out.
// Handlers that need no streaming live in api.cpp as plain functions.
#include "server/session.hpp"

#include "cas/read_tier.hpp"
#include "server/access_log.hpp"
#include "server/http_fields.hpp"
#include "server/response_head.hpp"
#include "server/session_impl.hpp"

#include <limits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace ingot::server {

namespace {

// Header fields (request line included) beyond this are refused with 431.
constexpr std::uint32_t k_header_limit = 16 * 1024;
// How long a rejected upload is drained before its connection closes.
constexpr std::chrono::seconds k_linger{2};

} // namespace

namespace {

io::ConnStream make_stream(tcp::socket socket, std::shared_ptr<net::ssl::context> tls) {
  if (tls) {
    return io::ConnStream(std::move(socket), std::move(tls));
  }
  return io::ConnStream(std::move(socket));
}

} // namespace

Session::Session(tcp::socket socket, ServerContext& ctx, std::shared_ptr<net::ssl::context> tls)
    : m_stream(make_stream(std::move(socket), std::move(tls))), m_ctx(ctx) {
  beast::error_code ec;
  const auto ep = m_stream.socket().remote_endpoint(ec);
  m_peer = ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
  m_ctx.metrics.connection_opened();
  // Beast sizes each socket read by the buffer's free capacity (at most 64 KiB); the parser
  // drains the buffer after every read, so without this it never grows past 512 bytes and
  // a body arrives 512 bytes per syscall.
  m_buffer.reserve(64 * 1024);
}

Session::~Session() {
  m_ctx.metrics.connection_closed();
  std::lock_guard lock(m_ctx.sessions_mutex);
  m_ctx.idle_closers.erase(this);
}

void Session::start() {
  {
    std::lock_guard lock(m_ctx.sessions_mutex);
    std::weak_ptr<Session> weak = shared_from_this();
    m_ctx.idle_closers.emplace(this, [weak] {
      if (auto self = weak.lock()) {
        net::post(self->m_stream.get_executor(), [self] { self->close_if_idle(); });
      }
    });
  }
  if (!m_stream.tls()) {
    return net::dispatch(m_stream.get_executor(),
                         beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }
  // The handshake has the header's deadline: a client that connects and says nothing holds
  // the connection no longer than one that sends half a header.
  m_stream.expires_after(m_ctx.options.read_timeout);
  net::dispatch(m_stream.get_executor(), [self = shared_from_this()] {
    self->m_stream.async_handshake(
        net::ssl::stream_base::server,
        beast::bind_front_handler(&Session::on_handshake, self->shared_from_this()));
  });
}

void Session::on_handshake(beast::error_code ec) {
  if (ec) {
    // Plain HTTP to an HTTPS port, an untrusted certificate, a scanner: nothing to answer in
    // a protocol the peer speaks. Counted, so that a misconfigured client shows in /metrics.
    m_ctx.metrics.tls_handshake_failed();
    return close();
  }
  read_header();
}

void Session::read_header() {
  if (m_ctx.draining) {
    return close();
  }
  m_phase = Phase::idle;
  m_parser.emplace();
  m_parser->header_limit(k_header_limit);
  m_parser->body_limit(std::numeric_limits<std::uint64_t>::max()); // enforced per route, below
  m_bytes_in = 0;
  m_bytes_out = 0;
  m_caller = {};
  m_route.reset();
  m_row = nullptr;
  m_encoding = BodyEncoding::identity;
  m_body_done = false;
  m_body_left.reset();
  m_keep_alive_override = true;
  m_stream.expires_after(m_ctx.options.read_timeout);
  http::async_read_header(m_stream, m_buffer, *m_parser,
                          beast::bind_front_handler(&Session::on_header, shared_from_this()));
}

void Session::close_if_idle() {
  if (m_phase == Phase::idle) {
    close();
  }
}

void Session::on_header(beast::error_code ec, std::size_t) {
  if (ec == http::error::header_limit) {
    return reject(431,
                  "request header is larger than " + std::to_string(k_header_limit) + " bytes");
  }
  if (ec && ec.category() == http::make_error_code(http::error::bad_method).category() &&
      ec != http::error::end_of_stream) {
    // Not HTTP/1.1 as we read it (both Content-Length and chunked, a bad request line...):
    // say so once, then close, since the rest of the stream cannot be trusted.
    m_started = Clock::now();
    m_method = "-";
    m_target = "-";
    return reject(400, "malformed request: " + ec.message());
  }
  if (ec) {
    return close(); // the client left or timed out
  }
  m_started = Clock::now();
  m_phase = Phase::body;
  auto& req = m_parser->get();
  const auto method = req.method_string();
  const auto target = req.target();
  m_method.assign(method.data(), method.size());
  m_target.assign(target.data(), target.size());
  m_body_done = m_parser->is_done();
  handle();
}

void Session::handle() {
  auto identity = m_ctx.auth.authenticate(field(http::field::authorization), m_last_auth);
  if (!identity) {
    return reject(401, identity.error().message);
  }
  m_caller = Caller{identity->scopes, identity->presented, identity->name};
  auto route = parse_route(m_target);
  if (!route) {
    return reject(status_of(route.error()), route.error().message);
  }
  m_route = std::move(*route);
  m_row = find_method(m_route->kind, m_method);
  if (m_row == nullptr) {
    const auto allow = required_access(m_route->kind, m_method).allow;
    return reject(405,
                  m_method + " is not allowed on " + std::string(to_string(m_route->kind)) +
                      " (allowed: " + std::string(allow) + ")",
                  allow);
  }
  // The operation checks the scope again; checking here first answers 401 or 403 before a
  // body is read that would be thrown away.
  if (auto allowed = m_ctx.ops.allow(m_caller, m_row->op); !allowed) {
    return reject(status_of(allowed.error()), allowed.error().message);
  }
  const auto length = m_parser->content_length();
  switch (m_row->body) {
  case BodyKind::none:
    return run_handler();
  case BodyKind::json:
    if (length && *length > k_max_json_body) {
      return reject(413, "JSON body is over " + std::to_string(k_max_json_body) + " bytes");
    }
    return read_json_body();
  case BodyKind::stream:
    if (length && *length > m_ctx.options.max_blob_size) {
      return reject(413, "body of " + std::to_string(*length) + " bytes is over the limit of " +
                             std::to_string(m_ctx.options.max_blob_size) + " (--max-blob-size)");
    }
    return read_stream_body();
  }
}

void Session::run_handler() {
  m_phase = Phase::responding;
  const auto waits = waits_of(m_row->op);
  if (waits == Waits::never) {
    return send_reply(call_handler());
  }
  if (waits == Waits::memory_first || waits == Waits::upstream) {
    // Most small reads are answered from memory: the trip to the blocking pool is only for
    // those that would wait for the disk.
    auto reply = [this] {
      const cas::MemoryOnlyReads memory_only;
      return call_handler();
    }();
    if (!reply.would_block) {
      return send_reply(std::move(reply));
    }
  }
  if (waits == Waits::upstream) {
    // Another server may take long: a pool of its own (server.cpp), so the store's is free.
    return off_io([this] { return call_handler(); },
                  [this](HttpReply reply) { send_reply(std::move(reply)); }, m_ctx.run_upstream);
  }
  off_io([this] { return call_handler(); },
         [this](HttpReply reply) { send_reply(std::move(reply)); });
}

HttpRequest Session::request() {
  const auto length = m_parser->content_length();
  return {*m_route,
          m_method,
          std::string_view(m_target).substr(0, m_target.find('?')),
          field(http::field::range),
          field(http::field::accept_encoding),
          m_encoding,
          length ? std::optional<std::uint64_t>(*length) : std::nullopt,
          m_json,
          std::move(m_upload),
          field(http::field::host),
          field("X-Checksum-Sha256"),
          m_stream.tls()};
}

HttpReply Session::call_handler() {
  auto request = this->request();
  auto reply = m_row->handler(m_ctx.ops, m_caller, request);
  m_json.clear();
  return reply;
}

void Session::send_reply(HttpReply reply) {
  if (!reply.blob) {
    return send_simple(std::move(reply.simple));
  }
  if (reply.blob->status == 416) {
    const auto size = std::to_string(reply.blob->digest.size);
    return send_simple(error_response(416, "range not satisfiable for " + size + " bytes"),
                       "bytes */" + size);
  }
  send_blob(std::move(*reply.blob), m_parser->get().method() == http::verb::head);
}

void Session::reject(unsigned status, const std::string& message, std::string_view allow) {
  m_keep_alive_override = m_body_done; // an unread body cannot be skipped reliably
  auto res = error_response(status, message);
  send_simple(std::move(res), {}, allow);
}

void Session::send_error(unsigned status, const std::string& message) {
  send_simple(error_response(status, message));
}

void Session::send_simple(SimpleResponse simple, std::string_view content_range,
                          std::string_view allow) {
  m_phase = Phase::responding;
  const bool header_done = m_parser && m_parser->is_header_done();
  const bool is_head = header_done && m_parser->get().method() == http::verb::head;
  ResponseHead response(m_out, header_done ? m_parser->get().version() : 11, simple.status);
  response.field("Content-Type", simple.content_type);
  if (simple.status == 401) {
    response.field("WWW-Authenticate", "Bearer realm=\"ingot\", Basic realm=\"ingot\"");
  }
  if (!content_range.empty()) {
    response.field("Content-Range", content_range);
  }
  if (!allow.empty()) {
    response.field("Allow", allow);
  }
  response.finish(simple.body.size(), header_done && keep_alive());
  m_bytes_out = is_head ? 0 : simple.body.size();
  if (!is_head) {
    // Small bodies join the header; a large one (a batch read, a listing) is sent from where
    // it is, so that the header buffer never grows to its size.
    if (simple.body.size() <= k_small_response) {
      m_out.append(simple.body);
    } else {
      m_body = std::move(simple.body);
    }
  }
  m_status = simple.status;
  write_response();
}

// Writes m_out (a header, and maybe the whole body) and m_body, then goes on to the next
// request.
void Session::write_response() {
  m_phase = Phase::responding;
  m_stream.expires_after(m_ctx.options.read_timeout);
  const std::array<net::const_buffer, 2> buffers{net::buffer(m_out), net::buffer(m_body)};
  net::async_write(m_stream, buffers,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     std::string().swap(self->m_body);
                     if (ec) {
                       return self->close();
                     }
                     self->finish_response(self->m_status);
                   });
}

void Session::finish_response(unsigned status) {
  log_request(status);
  if (!(m_parser && m_parser->is_header_done() && keep_alive())) {
    return m_body_done ? close() : linger_close();
  }
  read_header();
}

// After answering a request whose body was never read: stop sending, then read and drop
// what the client still sends for a short while before closing. Closing at once would
// reset the connection and could destroy our answer before the client reads it.
void Session::linger_close() {
  abort_body();
  beast::error_code ec;
  m_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  m_stream.expires_after(k_linger); // one deadline for the whole drain
  m_chunk.resize(k_chunk);
  drain();
}

void Session::drain() {
  m_stream.async_read_some(net::buffer(m_chunk),
                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec) {
                               return self->close();
                             }
                             self->drain();
                           });
}

void Session::log_request(unsigned status) {
  const double seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
  const RouteKind* route = m_route ? &m_route->kind : nullptr;
  m_ctx.metrics.record_request(route, m_method, status, m_bytes_in, m_bytes_out, seconds);
  write_access(
      {m_peer, m_method, m_target, status, m_bytes_in, m_bytes_out, seconds, m_caller.name},
      m_ctx.options.log_format);
}

void Session::close() {
  abort_body();
  beast::error_code ec;
  m_stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  m_stream.socket().close(ec);
}

void start_session(tcp::socket socket, ServerContext& context,
                   std::shared_ptr<net::ssl::context> tls) {
  std::make_shared<Session>(std::move(socket), context, std::move(tls))->start();
}

} // namespace ingot::server
