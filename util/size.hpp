// Human-readable byte sizes: "500MiB", "20GiB", "1TB", "4096".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingot {

// Accepts a decimal number (fractions allowed) followed by an optional unit: B, K/KB (1000),
// KiB (1024), and likewise M, G, T. Units are case-insensitive; spaces between are allowed.
std::optional<std::uint64_t> parse_size(std::string_view text);

// "14.2GiB", "512B": binary units, one decimal where it helps.
std::string format_size(std::uint64_t bytes);

} // namespace ingot
