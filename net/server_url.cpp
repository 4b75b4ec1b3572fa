#include "net/server_url.hpp"

#include <string>

namespace ingot::net {

Result<ServerAddress> parse_server_url(std::string_view url) {
  const auto invalid = [&](const std::string& why) {
    return make_error(Errc::invalid_argument,
                      "server '" + std::string(url) + "': " + why +
                          " (expected http://HOST:PORT or https://HOST:PORT, as in "
                          "http://127.0.0.1:8080)");
  };
  std::string_view rest = url;
  ServerAddress out;
  if (rest.starts_with("https://")) {
    out.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return invalid("only http:// and https:// are supported");
  }
  const auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    out.base = std::string(rest.substr(slash));
    while (!out.base.empty() && out.base.back() == '/') {
      out.base.pop_back();
    }
    rest = rest.substr(0, slash);
  }
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return invalid("unclosed '['");
    }
    out.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      return invalid("junk after ']'");
    }
  } else {
    const auto colon = rest.find(':');
    out.host = std::string(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
  }
  if (out.host.empty()) {
    return invalid("no host");
  }
  out.port = out.tls ? "443" : "80";
  if (rest.starts_with(':')) {
    rest.remove_prefix(1);
    if (rest.empty() || rest.size() > 5 || rest.find_first_not_of("0123456789") != rest.npos ||
        std::stoul(std::string(rest)) == 0 || std::stoul(std::string(rest)) > 65535) {
      return invalid("port must be a number from 1 to 65535");
    }
    out.port = std::string(rest);
  }
  return out;
}

} // namespace ingot::net
