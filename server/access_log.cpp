#include "server/access_log.hpp"

#include "server/server.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

// Control characters in a client-supplied target must not forge log lines.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "%%%02X", static_cast<unsigned char>(c));
      out += esc;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

} // namespace

std::string format_access(const AccessRecord& r, LogFormat format) {
  if (format == LogFormat::json) {
    const nlohmann::json j{{"time", utc_now()},
                           {"peer", r.peer},
                           {"method", r.method},
                           {"target", printable(r.target)},
                           {"status", r.status},
                           {"bytes_in", r.bytes_in},
                           {"bytes_out", r.bytes_out},
                           {"duration_ms", r.seconds * 1000.0},
                           {"user", r.user}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3fms", r.seconds * 1000.0);
  return utc_now() + " " + std::string(r.peer) + " " + std::string(r.method) + " " +
         printable(r.target) + " " + std::to_string(r.status) +
         " in=" + std::to_string(r.bytes_in) + " out=" + std::to_string(r.bytes_out) + " " +
         duration + (r.user.empty() ? std::string(" -") : " " + printable(r.user)) + "\n";
}

void write_access(const AccessRecord& record, LogFormat format) {
  if (format == LogFormat::off) {
    return;
  }
  const std::string line = format_access(record, format);
  // One fwrite per line: stdio locks the stream, so lines from threads never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace ingot::server
