// One line per request on stderr, as text or JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ingot::server {

enum class LogFormat;

struct AccessRecord {
  std::string_view peer;
  std::string_view method;
  std::string_view target;
  unsigned status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  double seconds = 0;
  std::string_view user; // token name; empty when anonymous
};

std::string format_access(const AccessRecord& record, LogFormat format);
void write_access(const AccessRecord& record, LogFormat format);

} // namespace ingot::server
