// What a PUT body passes through on its way into the store, with no I/O of its own: zstd
// decoding when the client sent Content-Encoding: zstd, the --max-blob-size limit on the
// decoded bytes, and the blob writer (which checks the digest of a /cas/ upload).
#pragma once

#include "cas/codec.hpp"
#include "cas/store.hpp"
#include "server/route.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace ingot::server {

enum class BodyEncoding { identity, zstd };

class UploadSink {
public:
  // `content_length` is the size on the wire when the client declared one.
  [[nodiscard]] static Result<std::unique_ptr<UploadSink>>
  open(cas::Store& store, const Route& route, BodyEncoding encoding,
       std::optional<std::uint64_t> content_length, std::uint64_t max_size);

  // Errc::too_large past the limit, Errc::invalid_argument for a body that does not decode
  // or does not match the expected digest's size.
  [[nodiscard]] Result<void> append(ByteView wire_bytes);
  // The body has ended: flushes what the decoder still holds. Then take the writer to commit.
  [[nodiscard]] Result<void> finish();
  std::unique_ptr<cas::BlobWriter> take_writer() { return std::move(m_writer); }

private:
  UploadSink(std::unique_ptr<cas::BlobWriter> writer, BodyEncoding encoding,
             std::uint64_t max_size);
  [[nodiscard]] Result<void> store(ByteView decoded);

  std::unique_ptr<cas::BlobWriter> m_writer;
  std::unique_ptr<cas::ZstdDecoder> m_decoder;
  std::vector<std::uint8_t> m_decoded;
  std::uint64_t m_max_size;
  std::uint64_t m_size = 0;
};

} // namespace ingot::server
