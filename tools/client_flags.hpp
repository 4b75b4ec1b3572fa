// The options every command that talks to a server shares: where, as whom, how hard.
#pragma once

#include "client/client.hpp"
#include "util/result.hpp"

#include <memory>
#include <string>

namespace CLI {
class App;
}

namespace ingot::tools {

struct ClientArgs {
  std::string server;
  std::string token;
  std::string token_file;
  unsigned jobs = 8;
  double timeout_s = 60;
  unsigned attempts = 5;
  bool json = false;
  bool quiet = false;
};

// --server, --token, --token-file, -j/--jobs, --timeout, --attempts.
void add_client_flags(CLI::App* cmd, ClientArgs& args);
[[nodiscard]] Result<std::unique_ptr<client::Client>> make_client(const ClientArgs& args);

} // namespace ingot::tools
