// Reads of stored values: GET and HEAD of blobs, entries and release files (a blob file by
// sendfile, the rest from memory or decoded in chunks), DELETE, and WebDAV's PROPFIND.
#include "server/http_fields.hpp"
#include "server/refs.hpp"
#include "server/response_head.hpp"
#include "server/session_impl.hpp"

#include <array>

#include <boost/asio/write.hpp>

namespace ingot::server {

namespace {

Lookup lookup_of(RouteKind kind) {
  return kind == RouteKind::ac ? Lookup::ac : kind == RouteKind::kv ? Lookup::kv : Lookup::cas;
}

} // namespace

void Session::handle_get() {
  const bool head = m_parser->get().method() == http::verb::head;
  switch (m_route->kind) {
  case RouteKind::healthz:
    return send_simple({200, "text/plain", "ok\n"});
  case RouteKind::metrics:
    return send_simple(
        {200, "text/plain; version=0.0.4", m_ctx.metrics.prometheus(snapshot(m_ctx.store))});
  case RouteKind::stats:
  case RouteKind::gc:
    return send_simple({200, "application/json", m_ctx.metrics.stats_json(snapshot(m_ctx.store))});
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
void Session::send_blob(BlobResponse blob, bool head) {
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

void Session::send_next_chunk() {
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

void Session::on_chunk_sent(beast::error_code ec, std::size_t) {
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

void Session::on_file_sent(const FileSent& sent) {
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
Result<cas::Hash> Session::release_file() {
  auto digest = m_ctx.releases->file_digest(m_ctx.store, *m_route);
  if (!digest) {
    return std::move(digest).error();
  }
  return digest->hash;
}

void Session::handle_delete() {
  m_phase = Phase::responding;
  off_io([this] { return delete_target(); },
         [this](SimpleResponse res) { send_simple(std::move(res)); });
}

SimpleResponse Session::delete_target() {
  Result<void> r;
  switch (m_route->kind) {
  case RouteKind::cas:
    r = m_ctx.store.remove(m_route->hash);
    break;
  case RouteKind::ac:
    r = m_ctx.store.ns_remove(cas::Namespace::ac, m_route->key);
    break;
  case RouteKind::refs:
    return delete_ref(m_ctx.store, *m_route);
  case RouteKind::kv:
    r = m_ctx.store.ns_remove(cas::Namespace::kv, m_route->key);
    break;
  default:
    // required_access() allows DELETE on no other route.
    return error_response(500, "no DELETE handler for " + std::string(to_string(m_route->kind)));
  }
  if (!r) {
    return error_response(status_of(r.error()), r.error().message);
  }
  return {200, "text/plain", ""};
}

// WebDAV clients probe with PROPFIND before writing: answer for the target itself (depth
// 0). Collections are implicit (keys imply them), so a collection name always exists.
void Session::handle_propfind() {
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

} // namespace ingot::server
