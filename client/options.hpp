// Where the client connects, with which credentials, and how hard it tries.
#pragma once

#include "net/server_url.hpp"
#include "util/result.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace ingot::client {

struct ClientOptions {
  std::string server = "http://127.0.0.1:8080";
  std::string token;
  // Requests in flight at once; also the number of pooled keep-alive connections.
  unsigned parallelism = 8;
  // Connecting, and each read or write on a connection, must progress within this.
  std::chrono::milliseconds timeout{60'000};
  // Tries per request, the first included. Only connection errors, timeouts and 5xx
  // other than 501 and 507 are tried again: a 4xx would only fail the same way.
  unsigned max_attempts = 5;
  // Backoff before try n is a random duration in [0, min(max_backoff, backoff * 2^(n-1))]
  // ("full jitter"), so clients that failed together do not come back together.
  std::chrono::milliseconds backoff{100};
  std::chrono::milliseconds max_backoff{5'000};
};

// What the user gave on the command line; empty means not given.
struct CredentialFlags {
  std::string server;
  std::string token;
  std::string token_file;
};

// Server: --server, else $INGOT_SERVER, else the default. Token: --token, else
// --token-file, else $INGOT_TOKEN, else $INGOT_TOKEN_FILE, else none (anonymous).
[[nodiscard]] Result<ClientOptions> resolve_options(const CredentialFlags& flags,
                                                    ClientOptions defaults = {});

// Where a server is (net/server_url.hpp), in the client's own terms.
using net::parse_server_url;
using net::ServerAddress;

} // namespace ingot::client
