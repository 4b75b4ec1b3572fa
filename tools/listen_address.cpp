#include "tools/listen_address.hpp"

#include <charconv>

namespace ingot::tools {

Result<server::ListenAddress> parse_listen(std::string_view flag, const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error(Errc::invalid_argument, std::string(flag) + " needs HOST:PORT, e.g. " +
                                                  "127.0.0.1:8080 or 0.0.0.0:8080, not '" + value +
                                                  "'");
  }
  server::ListenAddress address;
  address.host = value.substr(0, colon);
  if (address.host.size() > 2 && address.host.front() == '[' && address.host.back() == ']') {
    address.host = address.host.substr(1, address.host.size() - 2); // [::1]:8080
  }
  const std::string_view port = std::string_view(value).substr(colon + 1);
  unsigned parsed = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), parsed);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || parsed > 65535) {
    return make_error(Errc::invalid_argument,
                      std::string(flag) + ": '" + std::string(port) + "' is not a port (0-65535)");
  }
  address.port = static_cast<std::uint16_t>(parsed);
  return address;
}

bool is_loopback(const std::string& host) {
  return host == "::1" || host == "localhost" || host.starts_with("127.");
}

} // namespace ingot::tools
