// Parsing of the request header fields Ingot acts on: Range, Accept-Encoding, Expect.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ingot::server {

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

enum class RangeResult { none, ok, unsatisfiable };

// RFC 9110 14.1.2: a single "bytes=a-b", "bytes=a-" or "bytes=-n". Anything else (several
// ranges, other units, malformed) is ignored (RangeResult::none) and the whole blob is sent,
// as the RFC allows.
RangeResult parse_range(std::string_view header, std::uint64_t size, ByteRange& out);

// True when the Accept-Encoding header lists zstd with a non-zero q-value.
bool accepts_zstd(std::string_view accept_encoding);

// Case-insensitive token comparison for header values such as "100-continue" or "zstd".
bool iequals(std::string_view a, std::string_view b);

} // namespace ingot::server
