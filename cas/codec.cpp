#include "cas/codec.hpp"

#include <zstd.h>

namespace ingot::cas {

namespace {

constexpr std::size_t k_out_chunk = 128 * 1024;

Error zstd_error(std::size_t code, const char* what) {
  return make_error(Errc::corrupt, std::string(what) + ": " + ZSTD_getErrorName(code));
}

} // namespace

bool worth_compressing(ByteView sample, std::size_t compressed_size) {
  return compressed_size + sample.size() / 8 <= sample.size();
}

std::size_t probe_compressed_size(ByteView sample) {
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx{ZSTD_createCCtx(),
                                                                         &ZSTD_freeCCtx};
  thread_local std::vector<std::uint8_t> scratch;
  scratch.resize(ZSTD_compressBound(sample.size()));
  const std::size_t n = ZSTD_compressCCtx(cctx.get(), scratch.data(), scratch.size(), sample.data(),
                                          sample.size(), 1);
  return ZSTD_isError(n) ? sample.size() : n;
}

Result<std::vector<std::uint8_t>> compress_once(ByteView data, int level) {
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx{ZSTD_createCCtx(),
                                                                         &ZSTD_freeCCtx};
  std::vector<std::uint8_t> out(ZSTD_compressBound(data.size()));
  const std::size_t n =
      ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) {
    return zstd_error(n, "zstd compression failed");
  }
  out.resize(n);
  return out;
}

struct ZstdEncoder::Impl {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<std::uint8_t> out = std::vector<std::uint8_t>(k_out_chunk);
  ~Impl() { ZSTD_freeCCtx(cctx); }
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Result<void> run(ByteView data, ZSTD_EndDirective mode, const Sink& sink) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    for (;;) {
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      const std::size_t left = ZSTD_compressStream2(cctx, &o, &in, mode);
      if (ZSTD_isError(left)) {
        return zstd_error(left, "zstd compression failed");
      }
      if (o.pos > 0) {
        INGOT_TRY(sink(ByteView(out.data(), o.pos)));
      }
      const bool input_done = in.pos == in.size;
      if (mode == ZSTD_e_continue ? input_done : left == 0) {
        return {};
      }
    }
  }
};

ZstdEncoder::ZstdEncoder(int level) : m_impl(std::make_unique<Impl>()) {
  ZSTD_CCtx_setParameter(m_impl->cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(m_impl->cctx, ZSTD_c_checksumFlag, 0); // XXH3 covers stored bytes
}
ZstdEncoder::~ZstdEncoder() = default;

Result<void> ZstdEncoder::write(ByteView data, const Sink& sink) {
  return m_impl->run(data, ZSTD_e_continue, sink);
}

Result<void> ZstdEncoder::finish(const Sink& sink) {
  return m_impl->run({}, ZSTD_e_end, sink);
}

struct ZstdDecoder::Impl {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  Frames frames = Frames::one;
  bool at_frame_end = false; // the input so far ends exactly where a frame ends
  bool any_frame = false;    // at least one frame was completed
  ~Impl() { ZSTD_freeDCtx(dctx); }
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

ZstdDecoder::ZstdDecoder(Frames frames) : m_impl(std::make_unique<Impl>()) {
  m_impl->frames = frames;
}
ZstdDecoder::~ZstdDecoder() = default;

bool ZstdDecoder::finished() const {
  return m_impl->at_frame_end;
}

Result<std::size_t> ZstdDecoder::decode(ByteView& in, MutableByteView out) {
  if (m_impl->at_frame_end && (m_impl->frames == Frames::one || in.empty())) {
    if (!in.empty()) {
      return make_error(Errc::corrupt,
                        std::to_string(in.size()) + " bytes follow the end of the zstd frame");
    }
    return std::size_t{0};
  }
  if (out.empty()) {
    return make_error(Errc::invalid_argument, "zstd decode called with no room for output");
  }
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  const std::size_t r = ZSTD_decompressStream(m_impl->dctx, &ob, &ib);
  if (ZSTD_isError(r)) {
    return zstd_error(r, "zstd data does not decode");
  }
  // r == 0: a frame has ended and all of it was flushed. A skippable frame (RFC 8878
  // section 3.1.2) also ends this way, with no output.
  m_impl->at_frame_end = r == 0;
  m_impl->any_frame = m_impl->any_frame || r == 0;
  if (ib.pos == 0 && ob.pos == 0 && !in.empty() && r != 0) {
    // zstd takes input whenever it has room to give output, so this cannot happen; if it
    // ever does, failing beats spinning on bytes a client controls.
    return make_error(Errc::corrupt, "zstd decoder made no progress");
  }
  in = in.subspan(ib.pos);
  return ob.pos;
}

Result<void> ZstdDecoder::check_end() const {
  if (!m_impl->any_frame) {
    return make_error(Errc::corrupt, "zstd data ends before its first frame does (empty or "
                                     "truncated)");
  }
  if (!m_impl->at_frame_end) {
    return make_error(Errc::corrupt, "zstd data ends inside a frame (truncated)");
  }
  return {};
}

} // namespace ingot::cas
