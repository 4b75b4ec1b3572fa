// Lowercase hexadecimal encoding with strict decoding.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ingot {

std::string to_hex(std::span<const std::uint8_t> bytes);
// Appends the hex of `bytes` to `out` (no temporary string).
void append_hex(std::string& out, std::span<const std::uint8_t> bytes);

// Decodes lowercase hex only: uppercase, odd length or any other character is rejected, so
// that one byte string has exactly one accepted spelling.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);

} // namespace ingot
