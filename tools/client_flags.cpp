#include "tools/client_flags.hpp"

#include <CLI/CLI.hpp>

namespace ingot::tools {

void add_client_flags(CLI::App* cmd, ClientArgs& a) {
  cmd->add_option("--server", a.server,
                  "Server URL, http:// or https:// (default $INGOT_SERVER, else "
                  "http://127.0.0.1:8080); https checks the certificate against the system's "
                  "CAs or the file $SSL_CERT_FILE names");
  cmd->add_option("--token", a.token, "Bearer token (default $INGOT_TOKEN)");
  cmd->add_option("--token-file", a.token_file,
                  "File holding the token (default $INGOT_TOKEN_FILE)");
  cmd->add_option("-j,--jobs", a.jobs, "Requests in flight at once (default 8)")
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--timeout", a.timeout_s,
                  "Seconds a connection may make no progress before it is given up (default 60)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--attempts", a.attempts,
                  "Tries per request on connection errors and 5xx, with backoff (default 5)")
      ->check(CLI::Range(1u, 100u));
}

Result<std::unique_ptr<client::Client>> make_client(const ClientArgs& a) {
  client::ClientOptions defaults;
  defaults.parallelism = a.jobs;
  defaults.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000));
  defaults.max_attempts = a.attempts;
  auto options = client::resolve_options({a.server, a.token, a.token_file}, defaults);
  if (!options) {
    return std::move(options).error();
  }
  return client::Client::create(std::move(*options));
}

} // namespace ingot::tools
