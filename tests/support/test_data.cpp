#include "support/test_data.hpp"

#include <random>

namespace ingot::test {

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<char>(rng() & 0xff);
  }
  return out;
}

std::string compressible_text(std::size_t n, std::uint64_t seed) {
  std::string out;
  out.reserve(n + 100);
  for (std::uint64_t line = seed; out.size() < n; ++line) {
    out += "GET /cas/" + std::to_string(line * 7919 % 1000) + " 200 " + std::to_string(seed) + "\n";
  }
  out.resize(n);
  return out;
}

} // namespace ingot::test
