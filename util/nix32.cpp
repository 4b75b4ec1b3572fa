#include "util/nix32.hpp"

#include <array>

namespace ingot {

namespace {

// Nix's libutil/hash.cc: the digits and letters without e, o, u and t (so that no word forms).
constexpr std::string_view k_alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

constexpr std::array<std::int8_t, 256> make_digit_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table) {
    v = -1;
  }
  for (std::size_t i = 0; i < k_alphabet.size(); ++i) {
    table[static_cast<unsigned char>(k_alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}

constexpr std::array<std::int8_t, 256> k_digit = make_digit_table();

} // namespace

std::string nix32_encode(ByteView bytes) {
  const std::size_t length = nix32_length(bytes.size());
  std::string out(length, '0');
  // Character k (from the left) holds the 5-bit group number length-1-k: the group starting at
  // bit 5n of the little-endian bytes, possibly straddling two bytes.
  for (std::size_t n = 0; n < length; ++n) {
    const std::size_t bit = n * 5;
    const std::size_t i = bit / 8;
    const unsigned j = bit % 8;
    unsigned v = static_cast<unsigned>(bytes[i]) >> j;
    if (i + 1 < bytes.size()) {
      v |= static_cast<unsigned>(bytes[i + 1]) << (8 - j);
    }
    out[length - 1 - n] = k_alphabet[v & 31];
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> nix32_decode(std::string_view text, std::size_t bytes) {
  if (text.size() != nix32_length(bytes)) {
    return std::nullopt;
  }
  std::vector<std::uint8_t> out(bytes, 0);
  for (std::size_t n = 0; n < text.size(); ++n) {
    const int digit = k_digit[static_cast<unsigned char>(text[text.size() - 1 - n])];
    if (digit < 0) {
      return std::nullopt;
    }
    const auto d = static_cast<unsigned>(digit);
    const std::size_t bit = n * 5;
    const std::size_t i = bit / 8; // < bytes, since 5 * (length - 1) < 8 * bytes
    const unsigned j = bit % 8;
    out[i] = static_cast<std::uint8_t>(out[i] | ((d << j) & 0xff));
    const unsigned carry = d >> (8 - j);
    if (i + 1 < bytes) {
      out[i + 1] = static_cast<std::uint8_t>(out[i + 1] | carry);
    } else if (carry != 0) {
      // Bits past the last byte: only zero is allowed, so each value has one spelling.
      return std::nullopt;
    }
  }
  return out;
}

} // namespace ingot
