#include "util/utf8.hpp"

namespace ingot {

bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    // Lead byte: the sequence length, and the range of the second byte, which is where the
    // overlong, surrogate and too-large forms show (RFC 3629 section 4, the UTF8-2..4 rules).
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      n = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 3;
      lo = b == 0xe0 ? 0xa0 : 0x80;
      hi = b == 0xed ? 0x9f : 0xbf;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 4;
      lo = b == 0xf0 ? 0x90 : 0x80;
      hi = b == 0xf4 ? 0x8f : 0xbf;
    } else {
      return false;
    }
    if (text.size() - i < n) {
      return false;
    }
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < lo || second > hi) {
      return false;
    }
    for (std::size_t k = 2; k < n; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if (c < 0x80 || c > 0xbf) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

} // namespace ingot
