#include "util/size.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace ingot {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<double> unit_factor(std::string_view unit) {
  struct Unit {
    std::string_view name;
    double factor;
  };
  static constexpr std::array<Unit, 13> k_units{{
      {"", 1.0},
      {"b", 1.0},
      {"k", 1e3},
      {"kb", 1e3},
      {"kib", 1024.0},
      {"m", 1e6},
      {"mb", 1e6},
      {"mib", 1024.0 * 1024},
      {"g", 1e9},
      {"gb", 1e9},
      {"gib", 1024.0 * 1024 * 1024},
      {"tb", 1e12},
      {"tib", 1024.0 * 1024 * 1024 * 1024},
  }};
  const std::string u = lower(unit);
  for (const auto& entry : k_units) {
    if (entry.name == u) {
      return entry.factor;
    }
  }
  if (u == "t") {
    return 1e12;
  }
  return std::nullopt;
}

} // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  std::size_t n = 0;
  while (n < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[n])) != 0 || text[n] == '.')) {
    ++n;
  }
  if (n == 0) {
    return std::nullopt;
  }
  double number = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, number);
  if (ec != std::errc{} || ptr != text.data() + n) {
    return std::nullopt;
  }
  std::string_view unit = text.substr(n);
  while (!unit.empty() && unit.front() == ' ') {
    unit.remove_prefix(1);
  }
  const auto factor = unit_factor(unit);
  if (!factor) {
    return std::nullopt;
  }
  const double bytes = std::round(number * *factor);
  if (bytes < 0 || bytes >= 18446744073709551615.0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<const char*, 5> k_names{"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < k_names.size()) {
    value /= 1024.0;
    ++unit;
  }
  std::array<char, 32> buf{};
  if (unit == 0 || value >= 100.0 || value == std::floor(value)) {
    std::snprintf(buf.data(), buf.size(), "%.0f%s", value, k_names[unit]);
  } else {
    std::snprintf(buf.data(), buf.size(), "%.1f%s", value, k_names[unit]);
  }
  return buf.data();
}

} // namespace ingot
