// parse_narinfo over any text (what a client PUTs as <hash>.narinfo): it refuses with a line
// number or reads a Narinfo that render_narinfo writes back to a text that reads the same and
// writes back identically. nix32 on the same bytes: decode and encode are inverse.
#include "fuzz_support.hpp"
#include "sign/narinfo.hpp"
#include "util/nix32.hpp"

using namespace ingot;
using namespace ingot::sign;

namespace {

bool same(const Narinfo& a, const Narinfo& b) {
  return a.store_path == b.store_path && a.url == b.url && a.compression == b.compression &&
         a.file_hash == b.file_hash && a.file_size == b.file_size && a.nar_hash == b.nar_hash &&
         a.nar_size == b.nar_size && a.references == b.references && a.deriver == b.deriver &&
         a.system == b.system && a.sigs == b.sigs && a.ca == b.ca && a.other == b.other;
}

void check_nix32(std::string_view text) {
  for (const std::size_t bytes : {std::size_t{20}, std::size_t{32}, text.size() * 5 / 8}) {
    if (const auto decoded = nix32_decode(text, bytes)) {
      FUZZ_CHECK(decoded->size() == bytes);
      FUZZ_CHECK(nix32_encode(*decoded) == text);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_nix32(text);

  const auto parsed = parse_narinfo(text);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == Errc::invalid_argument);
    const std::string& message = parsed.error().message;
    FUZZ_CHECK(message.starts_with("line ") || message.starts_with("the narinfo has no "));
    FUZZ_CHECK(message.find('\n') == std::string::npos);
    return 0;
  }
  const Narinfo& info = *parsed;
  FUZZ_CHECK(info.nar_size > 0);
  FUZZ_CHECK(info.nar_hash.size() == 7 + nix32_length(32));
  FUZZ_CHECK(is_store_base_name(info.store_path.substr(store_dir(info.store_path).size() + 1)));

  const std::string rendered = render_narinfo(info, info.sigs);
  const auto reparsed = parse_narinfo(rendered);
  FUZZ_CHECK(reparsed);
  FUZZ_CHECK(same(info, *reparsed));
  FUZZ_CHECK(render_narinfo(*reparsed, reparsed->sigs) == rendered);
  FUZZ_CHECK(narinfo_fingerprint(*reparsed) == narinfo_fingerprint(info));
  return 0;
}
