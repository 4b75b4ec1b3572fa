// UploadSink, the path of every PUT body into the store, against a real store. Input: a byte
// choosing the piece size the body arrives in, a byte choosing the size limit and encoding,
// then the body. A zstd body is stored exactly when libzstd decodes it whole (every frame,
// skippable ones included, ending at a frame's end) within the limit, and then as exactly the
// bytes libzstd gives; an identity body to /cas/{sha256} is stored when its declared length is
// right.
#include "cas/digest.hpp"
#include "fuzz_support.hpp"
#include "server/upload.hpp"

#include <zstd.h>

using namespace ingot;
using namespace ingot::server;

namespace {

struct Reference {
  bool ok = false;
  bool over = false; // decodes to more than the limit
  std::string bytes;
};

// The sum of the content sizes every frame declares (skippable frames declare 0), or
// ZSTD_CONTENTSIZE_UNKNOWN when one does not.
unsigned long long declared_size(std::string_view wire) {
  unsigned long long total = 0;
  while (!wire.empty()) {
    const std::size_t frame = ZSTD_findFrameCompressedSize(wire.data(), wire.size());
    const unsigned long long content = ZSTD_getFrameContentSize(wire.data(), wire.size());
    if (ZSTD_isError(frame) || content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content == ZSTD_CONTENTSIZE_ERROR) {
      return ZSTD_CONTENTSIZE_UNKNOWN;
    }
    total += content;
    wire.remove_prefix(frame);
  }
  return total;
}

// libzstd's own streaming decoder over the whole body at once.
Reference reference_decode(std::string_view wire, std::uint64_t limit) {
  Reference out;
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  ZSTD_inBuffer in{wire.data(), wire.size(), 0};
  std::string buf(64 * 1024, '\0');
  std::size_t last = 1;
  bool any_frame = false;
  while (in.pos < in.size || last != 0) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    const std::size_t before = in.pos;
    last = ZSTD_decompressStream(dctx.get(), &ob, &in);
    if (ZSTD_isError(last)) {
      return out;
    }
    any_frame = any_frame || last == 0;
    out.bytes.append(buf.data(), ob.pos);
    if (out.bytes.size() > limit) {
      out.over = true;
      return out;
    }
    if (ob.pos == 0 && in.pos == before) {
      break; // input used up inside a frame: truncated
    }
  }
  out.ok = any_frame && last == 0;
  // Where the body declares every frame's size, the one-shot decoder agrees.
  const auto declared = declared_size(wire);
  if (out.ok && declared != ZSTD_CONTENTSIZE_UNKNOWN && declared <= limit) {
    std::string once(declared, '\0');
    const auto n = ZSTD_decompress(once.data(), once.size(), wire.data(), wire.size());
    FUZZ_CHECK(!ZSTD_isError(n) && n == declared && once == out.bytes);
  }
  return out;
}

Result<cas::Digest> upload(cas::Store& store, const Route& route, BodyEncoding encoding,
                           std::optional<std::uint64_t> length, std::uint64_t limit,
                           std::string_view wire, std::size_t piece) {
  auto sink = UploadSink::open(store, route, encoding, length, limit);
  if (!sink) {
    return std::move(sink).error();
  }
  for (std::size_t off = 0; off < wire.size(); off += piece) {
    INGOT_TRY((*sink)->append(as_bytes(wire.substr(off, piece))));
  }
  INGOT_TRY((*sink)->finish());
  return (*sink)->take_writer()->commit();
}

// Keeps the store small: removes what this input added, never what was there before.
void forget(cas::Store& store, const cas::Digest& d, bool was_stored) {
  if (!was_stored && d.size > 0) {
    FUZZ_CHECK(store.remove(d.hash));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& store = fuzz::store();
  fuzz::Input in(data, size);
  const std::size_t piece = 1 + (std::size_t{in.byte()} << (in.byte() % 8));
  const std::uint8_t mode = in.byte();
  const std::uint64_t limit = (mode & 0x80) != 0 ? (1u << 20) : (mode & 0x7f);
  const std::string_view wire = in.rest();

  if ((mode & 1) == 0) {
    static const Route kv = parse_route("/kv/fuzz/upload").value();
    const auto expected = reference_decode(wire, limit);
    const bool was_stored = expected.ok && store.contains(cas::digest_of(expected.bytes).hash);
    auto got = upload(store, kv, BodyEncoding::zstd, wire.size(), limit, wire, piece);
    if (!got) {
      // Refused: libzstd refuses it too, or it decodes past the limit; a body that decodes
      // cleanly past the limit is too large (413), not malformed. (Which of the two a body
      // both corrupt and too large gets depends on how its output is flushed.)
      FUZZ_CHECK(!expected.ok || expected.over);
      FUZZ_CHECK(got.error().code == Errc::too_large || got.error().code == Errc::invalid_argument);
      if (expected.over && expected.bytes.size() > limit && !wire.empty()) {
        const auto whole = reference_decode(wire, std::uint64_t{64} << 20); // bounded: bombs exist
        FUZZ_CHECK(!whole.ok || got.error().code == Errc::too_large);
      }
      return 0;
    }
    FUZZ_CHECK(expected.ok && !expected.over);
    FUZZ_CHECK(*got == cas::digest_of(expected.bytes));
    FUZZ_CHECK(store.get(got->hash).value() == expected.bytes);
    forget(store, *got, was_stored);
    return 0;
  }
  // identity to /cas/{sha256}: a declared length other than the body's is refused.
  const auto digest = cas::digest_of(wire);
  const auto route = parse_route("/cas/" + digest.hex()).value();
  const bool was_stored = store.contains(digest.hash);
  const std::uint64_t declared = wire.size() + ((mode >> 1) % 3) - 1; // size-1, size, size+1
  const bool length_right = declared == wire.size();
  auto got = upload(store, route, BodyEncoding::identity, declared, 1u << 20, wire, piece);
  FUZZ_CHECK(got.has_value() == length_right);
  if (got) {
    FUZZ_CHECK(*got == digest);
    forget(store, *got, was_stored);
  }
  return 0;
}
