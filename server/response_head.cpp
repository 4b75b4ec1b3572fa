#include "server/response_head.hpp"

#include "util/hex.hpp"

#include <charconv>

namespace ingot::server {

namespace {

struct Reason {
  unsigned status;
  std::string_view text;
};

constexpr Reason k_reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {507, "Insufficient Storage"},
};

void append_number(std::string& out, std::uint64_t n) {
  char digits[20];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

} // namespace

std::string_view reason_phrase(unsigned status) {
  for (const auto& r : k_reasons) {
    if (r.status == status) {
      return r.text;
    }
  }
  return "Unknown";
}

ResponseHead::ResponseHead(std::string& out, unsigned version, unsigned status)
    : m_out(out), m_version(version) {
  m_out.clear();
  m_out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(m_out, status);
  m_out.push_back(' ');
  m_out.append(reason_phrase(status));
  m_out.append("\r\n");
}

ResponseHead& ResponseHead::field(std::string_view name, std::string_view value) {
  m_out.append(name);
  m_out.append(": ");
  m_out.append(value);
  m_out.append("\r\n");
  return *this;
}

ResponseHead& ResponseHead::quoted_hex_field(std::string_view name,
                                             std::span<const std::uint8_t> bytes) {
  m_out.append(name);
  m_out.append(": \"");
  append_hex(m_out, bytes);
  m_out.append("\"\r\n");
  return *this;
}

void ResponseHead::finish(std::uint64_t content_length, bool keep_alive) {
  m_out.append("Content-Length: ");
  append_number(m_out, content_length);
  m_out.append("\r\n");
  if (m_version == 10 && keep_alive) {
    m_out.append("Connection: keep-alive\r\n");
  } else if (m_version != 10 && !keep_alive) {
    m_out.append("Connection: close\r\n");
  }
  m_out.append("\r\n");
}

} // namespace ingot::server
