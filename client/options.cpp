#include "client/options.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ingot::client {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// A token file holds the token, perhaps followed by a newline.
Result<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return make_error(Errc::not_found, "cannot read token file " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) {
    return make_error(Errc::invalid_argument, "token file " + path + " is empty");
  }
  if (token.find_first_of("\r\n") != std::string::npos) {
    return make_error(Errc::invalid_argument, "token file " + path + " holds more than one line");
  }
  return token;
}

} // namespace

Result<ClientOptions> resolve_options(const CredentialFlags& flags, ClientOptions defaults) {
  ClientOptions out = std::move(defaults);
  if (!flags.server.empty()) {
    out.server = flags.server;
  } else if (auto s = env("INGOT_SERVER"); !s.empty()) {
    out.server = s;
  }
  if (auto parsed = parse_server_url(out.server); !parsed) {
    return std::move(parsed).error();
  }
  if (!flags.token.empty()) {
    out.token = flags.token;
  } else if (!flags.token_file.empty()) {
    auto token = read_token_file(flags.token_file);
    if (!token) {
      return std::move(token).error();
    }
    out.token = std::move(*token);
  } else if (auto t = env("INGOT_TOKEN"); !t.empty()) {
    out.token = t;
  } else if (auto f = env("INGOT_TOKEN_FILE"); !f.empty()) {
    auto token = read_token_file(f);
    if (!token) {
      return std::move(token).error();
    }
    out.token = std::move(*token);
  }
  return out;
}

} // namespace ingot::client
