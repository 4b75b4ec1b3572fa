// zstd at rest: the compressibility probe, a streaming encoder and a streaming decoder.
#pragma once

#include "util/bytes.hpp"
#include "util/result.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ingot::cas {

// The probe compresses a sample once at the fast level; data whose sample does not shrink
// by at least 1/8 is stored raw, so incompressible uploads never pay for compression.
inline constexpr std::size_t k_probe_bytes = 64 * 1024;
bool worth_compressing(ByteView sample, std::size_t compressed_size);

// One-shot compression of a small buffer (an inline blob); the caller decides if it pays.
[[nodiscard]] Result<std::vector<std::uint8_t>> compress_once(ByteView data, int level);
[[nodiscard]] std::size_t probe_compressed_size(ByteView sample);

// Streams input into one zstd frame; output goes to the sink as it is produced.
class ZstdEncoder {
public:
  using Sink = std::function<Result<void>(ByteView)>;
  explicit ZstdEncoder(int level);
  ~ZstdEncoder();
  ZstdEncoder(const ZstdEncoder&) = delete;
  ZstdEncoder& operator=(const ZstdEncoder&) = delete;

  [[nodiscard]] Result<void> write(ByteView data, const Sink& sink);
  [[nodiscard]] Result<void> finish(const Sink& sink);

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// Decodes one zstd frame pulled from a source in pieces.
class ZstdDecoder {
public:
  ZstdDecoder();
  ~ZstdDecoder();
  ZstdDecoder(const ZstdDecoder&) = delete;
  ZstdDecoder& operator=(const ZstdDecoder&) = delete;

  // Decodes from `in` (advancing it past what was consumed) into `out`; returns bytes written.
  [[nodiscard]] Result<std::size_t> decode(ByteView& in, MutableByteView out);
  // True once the whole frame has been decoded; a frame never produces bytes after that.
  bool finished() const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace ingot::cas
