#include "server/upload.hpp"

namespace ingot::server {

namespace {

constexpr std::size_t k_decode_chunk = 256 * 1024;

Error undecodable(const Error& e) {
  return make_error(Errc::invalid_argument, "zstd body does not decode: " + e.message);
}

} // namespace

Result<std::unique_ptr<UploadSink>> UploadSink::open(cas::Store& store, const Route& route,
                                                     BodyEncoding encoding,
                                                     std::optional<std::uint64_t> content_length,
                                                     std::uint64_t max_size) {
  // The declared length is the blob's size only when the body is not encoded. One over the
  // limit is refused before a byte is read; so is 2^64-1, which would otherwise pass for
  // cas::k_size_unknown and let a body of any size through as matching it.
  const bool size_known = content_length && encoding == BodyEncoding::identity;
  if (size_known && (*content_length > max_size || *content_length == cas::k_size_unknown)) {
    return make_error(Errc::too_large, "body of " + std::to_string(*content_length) +
                                           " bytes is over the limit of " +
                                           std::to_string(max_size) + " bytes (--max-blob-size)");
  }
  std::optional<cas::Digest> expected;
  if (route.kind == RouteKind::cas || (route.kind == RouteKind::nix && route.hash_named)) {
    expected = cas::Digest{route.hash, size_known ? *content_length : cas::k_size_unknown};
  }
  auto writer = store.begin_write(expected);
  if (!writer) {
    return std::move(writer).error();
  }
  return std::unique_ptr<UploadSink>(new UploadSink(std::move(*writer), encoding, max_size));
}

UploadSink::UploadSink(std::unique_ptr<cas::BlobWriter> writer, BodyEncoding encoding,
                       std::uint64_t max_size)
    : m_writer(std::move(writer)), m_max_size(max_size) {
  if (encoding == BodyEncoding::zstd) {
    // A body is a zstd stream: every frame in it is decoded, one after the other.
    m_decoder = std::make_unique<cas::ZstdDecoder>(cas::Frames::many);
    m_decoded.resize(k_decode_chunk);
  }
}

// Every byte that reaches the writer counts against the limit: a chunked body declares no
// size, and a zstd body's decoded size is not its size on the wire (a few bytes can decode
// to gigabytes).
Result<void> UploadSink::store(ByteView decoded) {
  m_size += decoded.size();
  if (m_size > m_max_size) {
    return make_error(Errc::too_large, "body is over the limit of " + std::to_string(m_max_size) +
                                           " bytes (--max-blob-size)");
  }
  return m_writer->append(decoded);
}

Result<void> UploadSink::append(ByteView wire_bytes) {
  if (!m_decoder) {
    return store(wire_bytes);
  }
  // Each decode() consumes input or produces output or fails, so this loop ends.
  while (!wire_bytes.empty()) {
    auto n = m_decoder->decode(wire_bytes, m_decoded);
    if (!n) {
      return undecodable(n.error());
    }
    INGOT_TRY(store(ByteView(m_decoded.data(), *n)));
  }
  return {};
}

Result<void> UploadSink::finish() {
  if (!m_decoder) {
    return {};
  }
  ByteView none;
  for (;;) {
    auto n = m_decoder->decode(none, m_decoded);
    if (!n) {
      return undecodable(n.error());
    }
    if (*n == 0) {
      break;
    }
    INGOT_TRY(store(ByteView(m_decoded.data(), *n)));
  }
  // A body cut short (or empty) must never be stored as if it were the whole value.
  if (auto r = m_decoder->check_end(); !r) {
    return undecodable(r.error());
  }
  return {};
}

} // namespace ingot::server
