// Range and Accept-Encoding. Input: a flag byte, a blob size (one byte or eight), a Range
// header line, then an Accept-Encoding value.
#include "fuzz_support.hpp"
#include "server/http_fields.hpp"

#include <string>

using namespace ingot;
using namespace ingot::server;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const std::uint8_t flags = in.byte();
  const std::uint64_t blob_size = (flags & 1) != 0 ? in.u64() : in.byte();
  const std::string_view range = in.line();
  const std::string_view accept = in.rest();

  const ByteRange untouched{12345, 67890};
  ByteRange out = untouched;
  switch (parse_range(range, blob_size, out)) {
  case RangeResult::ok: {
    // Within the blob, never empty, and the canonical spelling names the same bytes.
    FUZZ_CHECK(out.length >= 1 && out.offset < blob_size);
    FUZZ_CHECK(out.length <= blob_size - out.offset);
    ByteRange again;
    const auto canonical =
        "bytes=" + std::to_string(out.offset) + "-" + std::to_string(out.offset + out.length - 1);
    FUZZ_CHECK(parse_range(canonical, blob_size, again) == RangeResult::ok);
    FUZZ_CHECK(again.offset == out.offset && again.length == out.length);
    break;
  }
  case RangeResult::unsatisfiable:
    FUZZ_CHECK(range.find("bytes=") != std::string_view::npos);
    break;
  case RangeResult::none:
    FUZZ_CHECK(out.offset == untouched.offset && out.length == untouched.length);
    break;
  }

  const bool zstd = accepts_zstd(accept);
  FUZZ_CHECK(!zstd || accept.size() >= 4);
  // The first zstd item decides: another coding after it changes nothing, q=0 before refuses.
  FUZZ_CHECK(accepts_zstd(std::string(accept) + ", gzip") == zstd);
  FUZZ_CHECK(!accepts_zstd("zstd;q=0, " + std::string(accept)));

  FUZZ_CHECK(iequals(accept, accept));
  std::string upper(accept);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  FUZZ_CHECK(iequals(accept, upper));
  return 0;
}
