// Nix's base-32 ("nix32"): the alphabet 0123456789abcdfghijklmnpqrsvwxyz (no e, o, u, t), read
// from the last 5-bit group of the little-endian bytes to the first. Store path hashes (20
// bytes, 32 characters) and the sha256 hashes of narinfos and nar file names (32 bytes, 52
// characters) are written in it.
#pragma once

#include "util/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ingot {

// ceil(8 * bytes / 5): 32 for 20 bytes, 52 for 32.
constexpr std::size_t nix32_length(std::size_t bytes) {
  return (bytes * 8 + 4) / 5;
}

std::string nix32_encode(ByteView bytes);
// `bytes` bytes from their nix32 text: nullopt when the length is not nix32_length(bytes), a
// character is outside the alphabet, or the bits past the last byte are not zero (so that
// every value has exactly one spelling).
std::optional<std::vector<std::uint8_t>> nix32_decode(std::string_view text, std::size_t bytes);

} // namespace ingot
