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

// How many frames a zstd input may hold. RFC 8878 section 3: a zstd stream is a sequence of
// frames (`cat a.zst b.zst` is valid, and skippable frames may stand anywhere), so a client's
// body may hold many; a blob stored by Ingot is always one frame.
enum class Frames { one, many };

// Decodes zstd pulled from a source in pieces. Every call either consumes input, produces
// output, or fails: no caller can spin on it.
class ZstdDecoder {
public:
  explicit ZstdDecoder(Frames frames = Frames::one);
  ~ZstdDecoder();
  ZstdDecoder(const ZstdDecoder&) = delete;
  ZstdDecoder& operator=(const ZstdDecoder&) = delete;

  // Decodes from `in` (advancing it past what was consumed) into `out`; returns bytes written.
  // 0 with input left never happens: bytes after the last frame of a Frames::one input, and
  // input the decoder can do nothing with, are errors (Errc::corrupt).
  [[nodiscard]] Result<std::size_t> decode(ByteView& in, MutableByteView out);
  // True once the whole frame has been decoded; a frame never produces bytes after that.
  // With Frames::many: true while the input seen so far ends exactly at the end of a frame.
  bool finished() const;
  // The input has ended: an error naming the problem unless it ended at a frame's end, with
  // at least one frame seen (a truncated or empty input). Call after decode() gave 0 for an
  // empty `in`, so that everything held back was flushed.
  [[nodiscard]] Result<void> check_end() const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace ingot::cas
