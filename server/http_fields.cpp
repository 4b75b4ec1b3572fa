#include "server/http_fields.hpp"

#include <cctype>
#include <charconv>

namespace ingot::server {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

} // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

RangeResult parse_range(std::string_view header, std::uint64_t size, ByteRange& out) {
  header = trim(header);
  if (!header.starts_with("bytes=")) {
    return RangeResult::none;
  }
  const std::string_view spec = trim(header.substr(6));
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find(',') != std::string_view::npos) {
    return RangeResult::none;
  }
  const std::string_view first = trim(spec.substr(0, dash));
  const std::string_view last = trim(spec.substr(dash + 1));
  if (first.empty()) { // suffix: the last n bytes
    const auto n = number(last);
    if (!n) {
      return RangeResult::none;
    }
    if (*n == 0 || size == 0) {
      return RangeResult::unsatisfiable;
    }
    out.length = std::min(*n, size);
    out.offset = size - out.length;
    return RangeResult::ok;
  }
  const auto a = number(first);
  if (!a) {
    return RangeResult::none;
  }
  std::optional<std::uint64_t> b;
  if (!last.empty()) {
    b = number(last);
    if (!b || *b < *a) {
      return RangeResult::none;
    }
  }
  if (*a >= size) {
    return RangeResult::unsatisfiable;
  }
  const std::uint64_t end = b ? std::min(*b, size - 1) : size - 1;
  out.offset = *a;
  out.length = end - *a + 1;
  return RangeResult::ok;
}

bool accepts_zstd(std::string_view accept_encoding) {
  std::size_t start = 0;
  while (start < accept_encoding.size()) {
    auto comma = accept_encoding.find(',', start);
    if (comma == std::string_view::npos) {
      comma = accept_encoding.size();
    }
    std::string_view item = trim(accept_encoding.substr(start, comma - start));
    start = comma + 1;
    std::string_view params;
    if (const auto semi = item.find(';'); semi != std::string_view::npos) {
      params = trim(item.substr(semi + 1));
      item = trim(item.substr(0, semi));
    }
    if (!iequals(item, "zstd")) {
      continue;
    }
    // "q=0", "q=0.0", "q=0.000" refuse the coding (RFC 9110 12.4.2).
    if (params.starts_with("q=") || params.starts_with("Q=")) {
      const std::string_view q = params.substr(2);
      return q.find_first_not_of("0.") != std::string_view::npos;
    }
    return true;
  }
  return false;
}

} // namespace ingot::server
