// The I/O of one connection: read a request header, decide from it how to take the body
// (streamed into a blob writer, or a small JSON body), and stream the response out.
// Handlers that need no streaming live in api.cpp as plain functions.
#include "server/session.hpp"

#include "server/access_log.hpp"
#include "server/api.hpp"
#include "server/blob_read.hpp"
#include "server/file_send.hpp"
#include "server/http_fields.hpp"
#include "server/refs.hpp"
#include "server/response_head.hpp"
#include "server/route.hpp"
#include "server/upload.hpp"
#include "util/size.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <limits>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Header fields (request line included) beyond this are refused with 431.
constexpr std::uint32_t k_header_limit = 16 * 1024;
// Bodies move through a buffer of this size in both directions.
constexpr std::size_t k_chunk = 256 * 1024;
// How long a rejected upload is drained before its connection closes.
constexpr std::chrono::seconds k_linger{2};
// Responses up to this size are read whole and sent in one write.
constexpr std::uint64_t k_small_response = 64 * 1024;

enum class Phase { idle, body, responding };

Lookup lookup_of(RouteKind kind) {
  return kind == RouteKind::ac ? Lookup::ac : kind == RouteKind::kv ? Lookup::kv : Lookup::cas;
}

class Session : public std::enable_shared_from_this<Session> {
public:
  Session(tcp::socket socket, ServerContext& ctx) : m_stream(std::move(socket)), m_ctx(ctx) {
    beast::error_code ec;
    const auto ep = m_stream.socket().remote_endpoint(ec);
    m_peer = ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
    m_ctx.metrics.connection_opened();
    // Beast sizes each socket read by the buffer's free capacity (at most 64 KiB); the parser
    // drains the buffer after every read, so without this it never grows past 512 bytes and
    // a body arrives 512 bytes per syscall.
    m_buffer.reserve(64 * 1024);
  }

  ~Session() {
    m_ctx.metrics.connection_closed();
    std::lock_guard lock(m_ctx.sessions_mutex);
    m_ctx.idle_closers.erase(this);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    {
      std::lock_guard lock(m_ctx.sessions_mutex);
      std::weak_ptr<Session> weak = shared_from_this();
      m_ctx.idle_closers.emplace(this, [weak] {
        if (auto self = weak.lock()) {
          net::post(self->m_stream.get_executor(), [self] { self->close_if_idle(); });
        }
      });
    }
    net::dispatch(m_stream.get_executor(),
                  beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }

private:
  // --- request header -------------------------------------------------------------------

  std::string_view field(http::field name) const {
    const auto value = m_parser->get()[name];
    return {value.data(), value.size()};
  }

  void read_header() {
    if (m_ctx.draining) {
      return close();
    }
    m_phase = Phase::idle;
    m_parser.emplace();
    m_parser->header_limit(k_header_limit);
    m_parser->body_limit(std::numeric_limits<std::uint64_t>::max()); // enforced per route, below
    m_bytes_in = 0;
    m_bytes_out = 0;
    m_user.clear();
    m_route.reset();
    m_body_done = false;
    m_body_left.reset();
    m_keep_alive_override = true;
    m_stream.expires_after(m_ctx.options.read_timeout);
    http::async_read_header(m_stream, m_buffer, *m_parser,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void close_if_idle() {
    if (m_phase == Phase::idle) {
      close();
    }
  }

  void on_header(beast::error_code ec, std::size_t) {
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

  void handle() {
    auto& req = m_parser->get();
    auto identity = m_ctx.auth.authenticate(field(http::field::authorization), m_last_auth);
    if (!identity) {
      return reject(401, identity.error().message);
    }
    m_user = identity->name;
    auto route = parse_route(m_target);
    if (!route) {
      return reject(status_of(route.error()), route.error().message);
    }
    m_route = std::move(*route);
    const auto needs = required_access(m_route->kind, m_method);
    if (!needs.allowed) {
      return reject(405,
                    m_method + " is not allowed on " + std::string(to_string(m_route->kind)) +
                        " (allowed: " + std::string(needs.allow) + ")",
                    needs.allow);
    }
    if (!grants(identity->scopes, needs.scopes)) {
      return identity->presented
                 ? reject(403, "token lacks the '" + scopes_to_string(needs.scopes) +
                                   "' scope for " + m_method + " " +
                                   std::string(to_string(m_route->kind)))
                 : reject(401, "this request needs a token with the '" +
                                   scopes_to_string(needs.scopes) + "' scope");
    }
    const auto length = m_parser->content_length();
    switch (req.method()) {
    case http::verb::get:
    case http::verb::head:
      return handle_get();
    case http::verb::put:
      if (m_route->kind == RouteKind::refs || m_route->kind == RouteKind::releases) {
        if (length && *length > k_max_json_body) {
          return reject(413, "JSON body is over " + std::to_string(k_max_json_body) + " bytes");
        }
        return read_json_body();
      }
      if (length && *length > m_ctx.options.max_blob_size) {
        return reject(413, "body of " + std::to_string(*length) + " bytes is over the limit of " +
                               std::to_string(m_ctx.options.max_blob_size) + " (--max-blob-size)");
      }
      return handle_put();
    case http::verb::post:
      if (length && *length > k_max_json_body) {
        return reject(413, "JSON body is over " + std::to_string(k_max_json_body) + " bytes");
      }
      return read_json_body();
    case http::verb::delete_:
      return handle_delete();
    case http::verb::propfind:
      return handle_propfind();
    case http::verb::mkcol:
      // Keys imply their directories: there is nothing to create.
      return send_simple({201, "text/plain", ""});
    default:
      return reject(405, m_method + " is not supported");
    }
  }

  // --- bodies in ------------------------------------------------------------------------

  using Consume = std::function<Result<void>(ByteView)>;
  using Finish = std::function<void()>;

  // Streams the request body through `consume` and then calls `finish`; answers
  // Expect: 100-continue first.
  void read_body(Consume consume, Finish finish) {
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

  void read_body_chunk() {
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

  void on_body_chunk(beast::error_code ec, std::size_t) {
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

  void on_direct_body(beast::error_code ec, std::size_t got) {
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
  void on_body_bytes(std::size_t got) {
    m_bytes_in += got;
    if (m_body_left) {
      *m_body_left -= got;
    }
    if (auto r = m_consume(ByteView(m_chunk.data(), got)); !r) {
      return reject_after_body(status_of(r.error()), r.error().message);
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

  void abort_body() {
    m_upload.reset(); // an uncommitted writer leaves nothing behind
    m_consume = nullptr;
    m_finish = nullptr;
  }

  // An error found while the body was still arriving: the rest of it is never read, so the
  // connection cannot carry another request.
  void reject_after_body(unsigned status, const std::string& message) {
    abort_body();
    reject(status, message);
  }

  void read_json_body() {
    m_json.clear();
    read_body(
        [this](ByteView chunk) -> Result<void> {
          if (m_json.size() + chunk.size() > k_max_json_body) {
            return make_error(Errc::invalid_argument, "JSON body is over the limit");
          }
          m_json.append(as_chars(chunk));
          return {};
        },
        [this] {
          SimpleResponse res;
          switch (m_route->kind) {
          case RouteKind::gc:
            return run_gc();
          case RouteKind::refs:
            res = put_ref(m_ctx.store, *m_route, m_json);
            break;
          case RouteKind::releases:
            res = m_ctx.releases->publish(m_ctx.store, *m_route, m_json, m_user);
            break;
          case RouteKind::release_yank:
            res = m_ctx.releases->yank(m_ctx.store, *m_route, m_json, m_user);
            break;
          case RouteKind::find_missing:
            res = find_missing(m_ctx.store, m_json, m_ctx.metrics);
            break;
          case RouteKind::batch_read:
            res = batch_read(m_ctx.store, m_json, m_ctx.metrics);
            break;
          default:
            res = batch_update(m_ctx.store, m_json);
            break;
          }
          m_json.clear();
          send_simple(std::move(res));
        });
  }

  // POST /v1/gc: evicts (or with ?dry_run=1 only reports) down to the low watermark, or to
  // ?target=SIZE. It waits on the disk, so it runs on the blocking pool.
  void run_gc() {
    cas::GcOptions options;
    const auto& q = m_route->query;
    if (const auto dry = query_param(q, "dry_run"); dry == "1" || dry == "true") {
      options.dry_run = cas::DryRun::yes;
    }
    if (const auto value = query_param(q, "target"); !value.empty()) {
      auto size = parse_size(value);
      if (!size) {
        return send_error(400, "target '" + value + "' is not a size like 10GiB");
      }
      options.target = *size;
    }
    auto work = [self = shared_from_this(), options] {
      auto report = self->m_ctx.store.gc(options);
      net::post(self->m_stream.get_executor(), [self, report = std::move(report)]() mutable {
        if (!report) {
          return self->send_error(status_of(report.error()), report.error().message);
        }
        self->send_simple({200, "application/json", gc_report_json(*report).dump(2) + "\n"});
      });
    };
    m_phase = Phase::responding;
    if (m_ctx.run_blocking) {
      return m_ctx.run_blocking(std::move(work));
    }
    work();
  }

  void handle_put() {
    const auto encoding = field(http::field::content_encoding);
    const bool zstd = iequals(encoding, "zstd");
    if (!encoding.empty() && !zstd && !iequals(encoding, "identity")) {
      return reject(415, "Content-Encoding '" + std::string(encoding) +
                             "' is not supported; send zstd or identity");
    }
    const auto length = m_parser->content_length();
    auto upload = UploadSink::open(
        m_ctx.store, *m_route, zstd ? BodyEncoding::zstd : BodyEncoding::identity,
        length ? std::optional<std::uint64_t>(*length) : std::nullopt, m_ctx.options.max_blob_size);
    if (!upload) {
      return reject(status_of(upload.error()), upload.error().message);
    }
    m_upload = std::move(*upload);
    read_body([this](ByteView chunk) { return m_upload->append(chunk); }, [this] { finish_put(); });
  }

  void finish_put() {
    if (auto r = m_upload->finish(); !r) {
      return reject_after_body(status_of(r.error()), r.error().message);
    }
    std::shared_ptr<cas::BlobWriter> writer = m_upload->take_writer();
    m_upload.reset();
    if (writer->commit_blocks() && m_ctx.run_blocking) {
      // The fsync must not hold up this I/O thread's other connections: commit elsewhere,
      // then answer back on this connection's own I/O thread.
      m_phase = Phase::responding;
      return m_ctx.run_blocking([self = shared_from_this(), writer] {
        auto digest = writer->commit();
        // The writer (and its lease on a blob uploaded again) lives until the entry is written.
        net::post(self->m_stream.get_executor(),
                  [self, writer, digest = std::move(digest)]() mutable {
                    self->after_commit(std::move(digest));
                  });
      });
    }
    after_commit(writer->commit());
  }

  void after_commit(Result<cas::Digest> digest) {
    if (!digest) {
      return send_error(status_of(digest.error()), digest.error().message);
    }
    if (m_route->kind != RouteKind::cas) {
      const auto ns = m_route->kind == RouteKind::ac ? cas::Namespace::ac : cas::Namespace::kv;
      if (auto r = m_ctx.store.ns_put(ns, m_route->key, *digest); !r) {
        if (r.error().code == Errc::not_found) {
          // Stored a moment ago and evicted before the entry could name it: a full cache.
          return send_error(503, "the value " + digest->to_string() +
                                     " was evicted before the entry was written; retry");
        }
        return send_error(status_of(r.error()), r.error().message);
      }
    }
    send_simple({200, "text/plain", ""});
  }

  // --- reads ----------------------------------------------------------------------------

  void handle_get() {
    const bool head = m_parser->get().method() == http::verb::head;
    switch (m_route->kind) {
    case RouteKind::healthz:
      return send_simple({200, "text/plain", "ok\n"});
    case RouteKind::metrics:
      return send_simple(
          {200, "text/plain; version=0.0.4", m_ctx.metrics.prometheus(snapshot(m_ctx.store))});
    case RouteKind::stats:
    case RouteKind::gc:
      return send_simple(
          {200, "application/json", m_ctx.metrics.stats_json(snapshot(m_ctx.store))});
    case RouteKind::refs:
      return send_simple(get_ref(m_ctx.store, *m_route));
    case RouteKind::trees:
      return send_simple(get_tree(m_ctx.store, *m_route));
    case RouteKind::keys:
      return send_simple(m_ctx.releases->keys());
    case RouteKind::audit:
      return send_simple(m_ctx.releases->audit());
    case RouteKind::releases:
      if (!Releases::is_file(*m_route)) {
        return send_simple(m_ctx.releases->get(m_ctx.store, *m_route));
      }
      break;
    default:
      break;
    }
    auto hash = Releases::is_file(*m_route) ? release_file() : resolve_blob(m_ctx.store, *m_route);
    Result<BlobResponse> blob =
        hash ? open_blob(m_ctx.store, *hash,
                         {field(http::field::range), field(http::field::accept_encoding)})
             : Result<BlobResponse>(std::move(hash).error());
    m_ctx.metrics.record_lookup(lookup_of(m_route->kind), blob.has_value());
    m_ctx.store.count_lookup(blob.has_value());
    if (!blob) {
      return send_error(status_of(blob.error()), blob.error().message);
    }
    if (blob->status == 416) {
      const auto size = std::to_string(blob->digest.size);
      return send_simple(error_response(416, "range not satisfiable for " + size + " bytes"),
                         "bytes */" + size);
    }
    send_blob(std::move(*blob), head);
  }

  // A blob file's bytes go out by sendfile after the header. Otherwise (inline blobs, zstd
  // decoded) the header and a body of up to k_small_response bytes go out in one write; a
  // larger body follows in chunks of k_chunk, the first one with the header.
  void send_blob(BlobResponse blob, bool head) {
    m_status = blob.status;
    const std::uint64_t length = blob.reader->length();
    ResponseHead response(m_out, m_parser->get().version(), blob.status);
    add_blob_fields(response, blob);
    response.finish(length, keep_alive());
    if (head) {
      return write_response();
    }
    if (auto span = blob.reader->file_span(); span && length > 0) {
      // A blob file: the kernel sends it (sendfile), it never passes through user memory.
      m_reader = std::move(blob.reader); // keeps the file open
      m_phase = Phase::responding;
      return async_send_file(
          m_stream.socket(), m_out, *span, m_ctx.options.read_timeout,
          [self = shared_from_this()](const FileSent& sent) { self->on_file_sent(sent); });
    }
    if (length <= k_small_response) {
      const std::size_t start = m_out.size();
      m_out.resize(start + length);
      std::size_t done = 0;
      while (done < length) {
        auto n = blob.reader->read(
            {reinterpret_cast<std::uint8_t*>(m_out.data()) + start + done, length - done});
        if (!n || *n == 0) {
          return send_error(500,
                            n ? "blob " + blob.digest.hex() + " ended early" : n.error().message);
        }
        done += *n;
      }
      m_bytes_out = length;
      return write_response();
    }
    m_reader = std::move(blob.reader);
    m_response_length = length;
    m_phase = Phase::responding;
    send_next_chunk();
  }

  void send_next_chunk() {
    m_chunk.resize(k_chunk);
    auto n = m_reader->read(m_chunk);
    if (!n || (*n == 0 && m_bytes_out < m_response_length)) {
      const std::string why = n ? "blob ended early" : n.error().message;
      m_reader.reset();
      if (m_bytes_out == 0) {
        return send_error(500, why); // nothing sent yet: an honest answer is still possible
      }
      // The header is out, so the only signal left is to cut the connection short of its
      // Content-Length.
      m_keep_alive_override = false;
      log_request(500);
      return close();
    }
    m_bytes_out += *n;
    const std::array<net::const_buffer, 2> buffers{net::buffer(m_out),
                                                   net::buffer(m_chunk.data(), *n)};
    m_stream.expires_after(m_ctx.options.read_timeout);
    net::async_write(m_stream, buffers,
                     beast::bind_front_handler(&Session::on_chunk_sent, shared_from_this()));
  }

  void on_chunk_sent(beast::error_code ec, std::size_t) {
    if (ec) {
      return close();
    }
    m_out.clear(); // the header went out with the first chunk
    if (m_bytes_out >= m_response_length) {
      m_reader.reset();
      return finish_response(m_status);
    }
    send_next_chunk();
  }

  void on_file_sent(const FileSent& sent) {
    const std::string hex = m_reader->info().digest.hex();
    m_reader.reset();
    m_bytes_out = sent.body_bytes;
    if (sent.short_file) {
      const std::string why = "blob " + hex + " is shorter than recorded; run `ingot fsck`";
      if (!sent.head_sent) {
        return send_error(500, why); // nothing sent yet: an honest answer is still possible
      }
      m_keep_alive_override = false; // the header is out: only a cut connection says it
      log_request(500);
      return close();
    }
    if (sent.error) {
      return close();
    }
    finish_response(m_status);
  }

  // A file of a release is served as the CAS blob its record names (Range and zstd apply).
  Result<cas::Hash> release_file() {
    auto digest = m_ctx.releases->file_digest(m_ctx.store, *m_route);
    if (!digest) {
      return std::move(digest).error();
    }
    return digest->hash;
  }

  void handle_delete() {
    Result<void> r;
    switch (m_route->kind) {
    case RouteKind::cas:
      r = m_ctx.store.remove(m_route->hash);
      break;
    case RouteKind::ac:
      r = m_ctx.store.ns_remove(cas::Namespace::ac, m_route->key);
      break;
    case RouteKind::refs:
      return send_simple(delete_ref(m_ctx.store, *m_route));
    default:
      r = m_ctx.store.ns_remove(cas::Namespace::kv, m_route->key);
      break;
    }
    if (!r) {
      return send_error(status_of(r.error()), r.error().message);
    }
    send_simple({200, "text/plain", ""});
  }

  // WebDAV clients probe with PROPFIND before writing: answer for the key itself (depth 0).
  // WebDAV clients probe with PROPFIND before writing: answer for the target itself (depth
  // 0). Collections are implicit (keys imply them), so a collection name always exists.
  void handle_propfind() {
    const std::string href = m_target.substr(0, m_target.find('?'));
    if (m_route->collection) {
      return send_simple(propfind_response(href, std::nullopt));
    }
    auto hash = resolve_blob(m_ctx.store, *m_route);
    auto info = hash ? m_ctx.store.stat(*hash) : Result<cas::BlobInfo>(std::move(hash).error());
    if (!info) {
      return send_error(status_of(info.error()), info.error().message);
    }
    send_simple(propfind_response(href, info->digest.size));
  }

  // --- responses ------------------------------------------------------------------------

  bool keep_alive() const {
    return m_keep_alive_override && m_parser->get().keep_alive() && m_body_done && !m_ctx.draining;
  }

  void reject(unsigned status, const std::string& message, std::string_view allow = {}) {
    m_keep_alive_override = m_body_done; // an unread body cannot be skipped reliably
    auto res = error_response(status, message);
    send_simple(std::move(res), {}, allow);
  }

  void send_error(unsigned status, const std::string& message) {
    send_simple(error_response(status, message));
  }

  void send_simple(SimpleResponse simple, std::string_view content_range = {},
                   std::string_view allow = {}) {
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
  void write_response() {
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

  void finish_response(unsigned status) {
    log_request(status);
    if (!(m_parser && m_parser->is_header_done() && keep_alive())) {
      return m_body_done ? close() : linger_close();
    }
    read_header();
  }

  // After answering a request whose body was never read: stop sending, then read and drop
  // what the client still sends for a short while before closing. Closing at once would
  // reset the connection and could destroy our answer before the client reads it.
  void linger_close() {
    abort_body();
    beast::error_code ec;
    m_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    m_stream.expires_after(k_linger); // one deadline for the whole drain
    m_chunk.resize(k_chunk);
    drain();
  }

  void drain() {
    m_stream.async_read_some(net::buffer(m_chunk),
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec) {
                                 return self->close();
                               }
                               self->drain();
                             });
  }

  void log_request(unsigned status) {
    const double seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
    const RouteKind* route = m_route ? &m_route->kind : nullptr;
    m_ctx.metrics.record_request(route, m_method, status, m_bytes_in, m_bytes_out, seconds);
    write_access({m_peer, m_method, m_target, status, m_bytes_in, m_bytes_out, seconds, m_user},
                 m_ctx.options.log_format);
  }

  void close() {
    abort_body();
    beast::error_code ec;
    m_stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    m_stream.socket().close(ec);
  }

  beast::tcp_stream m_stream;
  ServerContext& m_ctx;
  beast::flat_buffer m_buffer;
  std::string m_peer;
  Phase m_phase = Phase::idle;

  std::optional<http::request_parser<http::buffer_body>> m_parser;
  std::optional<Route> m_route;
  std::string m_method;
  std::string m_target;
  std::string m_user;
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
  std::unique_ptr<UploadSink> m_upload;

  // The response being sent: its header, and the body when it is small (kept across
  // requests, so its capacity is reused); a large in-memory body; a streamed blob.
  std::string m_out;
  std::string m_body;
  std::unique_ptr<cas::BlobReader> m_reader;
  std::uint64_t m_response_length = 0;
};

} // namespace

void start_session(tcp::socket socket, ServerContext& context) {
  std::make_shared<Session>(std::move(socket), context)->start();
}

} // namespace ingot::server
