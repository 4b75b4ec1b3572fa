// Request bodies, as the route table's row says: streamed into the sink its `open` gives (PUT
// of a blob or an entry) or gathered whole as a small JSON body, read past Beast's parser
// when their length is known.
#include "server/http_fields.hpp"
#include "server/session_impl.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace ingot::server {

// Streams the request body through `consume` and then calls `finish`; answers
// Expect: 100-continue first.
void Session::read_body(Consume consume, Finish finish) {
  m_consume = std::move(consume);
  m_finish = std::move(finish);
  m_body_started = Clock::now();
  if (m_body_done) {
    return m_finish();
  }
  // A body of known length is read straight into m_chunk, past the parser, which would
  // first read it into m_buffer and then copy it: for large uploads that copy was a tenth
  // of the CPU. Chunked bodies still need the parser to take the framing off.
  if (const auto length = m_parser->content_length()) {
    m_body_left = *length;
  }
  if (iequals(field(http::field::expect), "100-continue")) {
    static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
    m_stream.expires_after(m_ctx.options.read_timeout);
    return net::async_write(m_stream, net::buffer(k_continue),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                return self->close();
                              }
                              self->read_body_chunk();
                            });
  }
  read_body_chunk();
}

void Session::read_body_chunk() {
  m_chunk.resize(k_chunk);
  if (m_body_left) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(k_chunk, *m_body_left));
    if (m_buffer.size() > 0) {
      // Bytes that arrived with the header come first.
      const std::size_t n = net::buffer_copy(net::buffer(m_chunk.data(), want), m_buffer.data());
      m_buffer.consume(n);
      return on_body_bytes(n);
    }
    m_stream.expires_after(m_ctx.options.read_timeout);
    return m_stream.async_read_some(
        net::buffer(m_chunk.data(), want),
        beast::bind_front_handler(&Session::on_direct_body, shared_from_this()));
  }
  auto& body = m_parser->get().body();
  body.data = m_chunk.data();
  body.size = m_chunk.size();
  m_stream.expires_after(m_ctx.options.read_timeout);
  http::async_read(m_stream, m_buffer, *m_parser,
                   beast::bind_front_handler(&Session::on_body_chunk, shared_from_this()));
}

void Session::on_body_chunk(beast::error_code ec, std::size_t) {
  if (ec == http::error::need_buffer) {
    ec = {};
  }
  if (ec == beast::error::timeout) {
    return reject_after_body(408, "request body stalled for longer than the read timeout");
  }
  if (ec) {
    abort_body();
    return close(); // the client went away mid-body: nothing of it is kept
  }
  on_body_bytes(m_chunk.size() - m_parser->get().body().size);
}

void Session::on_direct_body(beast::error_code ec, std::size_t got) {
  if (ec == beast::error::timeout) {
    return reject_after_body(408, "request body stalled for longer than the read timeout");
  }
  if (ec) {
    abort_body();
    return close(); // the client went away mid-body (or closed early): nothing is kept
  }
  on_body_bytes(got);
}

// The first `got` bytes of m_chunk are the next piece of the body.
void Session::on_body_bytes(std::size_t got) {
  m_bytes_in += got;
  if (m_body_left) {
    *m_body_left -= got;
  }
  m_consume(ByteView(m_chunk.data(), got),
            [this](Result<void> taken) { after_consume(std::move(taken)); });
}

// The consumer has taken the last piece: m_chunk may be filled again.
void Session::after_consume(Result<void> taken) {
  if (!taken) {
    return reject_after_body(status_of(taken.error()), taken.error().message);
  }
  if (m_body_left ? *m_body_left == 0 : m_parser->is_done()) {
    m_body_done = true;
    return m_finish();
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - m_body_started).count();
  const double grace = std::chrono::duration<double>(m_ctx.options.read_timeout).count();
  if (elapsed > grace && static_cast<double>(m_bytes_in) / elapsed <
                             static_cast<double>(m_ctx.options.min_body_rate)) {
    return reject_after_body(408, "request body arrives slower than " +
                                      std::to_string(m_ctx.options.min_body_rate) + " bytes/s");
  }
  read_body_chunk();
}

void Session::abort_body() {
  m_upload.reset(); // an uncommitted writer leaves nothing behind
  m_consume = nullptr;
  m_finish = nullptr;
}

// An error found while the body was still arriving: the rest of it is never read, so the
// connection cannot carry another request.
void Session::reject_after_body(unsigned status, const std::string& message) {
  abort_body();
  reject(status, message);
}

void Session::read_json_body() {
  m_json.clear();
  read_body(
      [this](ByteView chunk, const Done& done) {
        if (m_json.size() + chunk.size() > k_max_json_body) {
          return done(make_error(Errc::invalid_argument, "JSON body is over the limit"));
        }
        m_json.append(as_chars(chunk));
        done({});
      },
      [this] { run_handler(); });
}

void Session::read_stream_body() {
  const auto encoding = field(http::field::content_encoding);
  const bool zstd = iequals(encoding, "zstd");
  if (!encoding.empty() && !zstd && !iequals(encoding, "identity")) {
    return reject(415, "Content-Encoding '" + std::string(encoding) +
                           "' is not supported; send zstd or identity");
  }
  m_encoding = zstd ? BodyEncoding::zstd : BodyEncoding::identity;
  const auto length = m_parser->content_length();
  const auto open = [this] {
    return m_row->open(m_ctx.ops, m_caller, request());
  };
  if (length && *length <= k_chunk) {
    // A small body is gathered here first and then stored in one trip to the blocking pool:
    // three trips (open, write, commit) cost a small PUT a third of its throughput.
    m_small_body.clear();
    return read_body(
        [this](ByteView chunk, const Done& done) {
          m_small_body.append(as_chars(chunk));
          done({});
        },
        [this, open] {
          m_phase = Phase::responding;
          off_io(
              [this, open]() -> HttpReply {
                auto upload = open();
                if (!upload) {
                  return error_response(upload.error());
                }
                if (auto r = (*upload)->append(as_bytes(m_small_body)); !r) {
                  return error_response(r.error());
                }
                m_upload = std::move(*upload);
                return call_handler();
              },
              [this](HttpReply reply) { send_reply(std::move(reply)); });
        });
  }
  // Opening reserves the space, which may evict: on the blocking pool, before the body (and
  // before 100 Continue), so that a write with no room gets its 507 without sending it.
  off_io(open, [this](Result<std::unique_ptr<UploadSink>> upload) {
    if (!upload) {
      return reject(status_of(upload.error()), upload.error().message);
    }
    m_upload = std::move(*upload);
    read_body(
        [this](ByteView chunk, const Done& done) {
          // Writing may reserve more room (a body of undeclared size) and so evict.
          off_io([this, chunk] { return m_upload->append(chunk); }, done);
        },
        [this] { run_handler(); });
  });
}

} // namespace ingot::server
