// Blobs out: the answer of a GET or HEAD of a blob, an entry or a release file (a blob file by
// sendfile, the rest from memory or decoded in chunks).
#include "server/http_fields.hpp"
#include "server/response_head.hpp"
#include "server/session_impl.hpp"

#include <array>

#include <boost/asio/write.hpp>

namespace ingot::server {

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
  if (auto span = blob.reader->file_span(); span && length > 0 && !m_stream.tls()) {
    // A blob file: the kernel sends it (sendfile), it never passes through user memory.
    // Not over TLS, whose bytes are encrypted here: those go out in chunks, below.
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

} // namespace ingot::server
