// Deterministic test data: the same size and seed give the same bytes on every run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ingot::test {

// Bytes that do not compress.
std::string random_bytes(std::size_t n, std::uint64_t seed);

// Log-like text that zstd shrinks several times over; other seeds give other text.
std::string compressible_text(std::size_t n, std::uint64_t seed = 0);

} // namespace ingot::test
