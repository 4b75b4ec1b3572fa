// The header of an HTTP/1.x response, written into a string the caller owns. A session keeps
// one such buffer for its whole life and sends header and (small) body from it in one write:
// no per-response allocation, no serializer. Only Ingot's own values go into fields, never
// request bytes, so nothing here needs escaping.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ingot::server {

// RFC 9110 15: the reason phrase of the status codes Ingot sends ("Unknown" otherwise; clients
// must ignore it anyway).
std::string_view reason_phrase(unsigned status);

class ResponseHead {
public:
  // Clears `out` and writes the status line: "HTTP/1.1 200 OK". `version` is the request's,
  // 10 or 11, which the response answers in.
  ResponseHead(std::string& out, unsigned version, unsigned status);

  ResponseHead& field(std::string_view name, std::string_view value);
  // A field whose value is the hex of `bytes` in double quotes: an ETag.
  ResponseHead& quoted_hex_field(std::string_view name, std::span<const std::uint8_t> bytes);

  // Content-Length, then Connection when keep-alive differs from the version's default
  // (HTTP/1.1 keeps connections open unless told "close"; 1.0 closes unless "keep-alive"),
  // then the blank line. The body, if any, is appended to `out` after this.
  void finish(std::uint64_t content_length, bool keep_alive);

private:
  std::string& m_out;
  unsigned m_version;
};

} // namespace ingot::server
