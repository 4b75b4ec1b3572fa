// Subcommands of the `ingot` CLI: each registers its options and returns the exit code.
#pragma once

#include "util/result.hpp"

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ingot::tools {

// Exit codes shared by every subcommand, so scripts can tell a miss from a failure.
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_error = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_not_found = 3;
inline constexpr int k_exit_corrupt = 4;

// Prints "ingot: <message>" on stderr and returns the exit code for the error's kind.
inline int fail(const Error& e) {
  std::fprintf(stderr, "ingot: %s\n", e.message.c_str());
  switch (e.code) {
  case Errc::not_found:
    return k_exit_not_found;
  case Errc::corrupt:
    return k_exit_corrupt;
  case Errc::invalid_argument:
    return k_exit_usage;
  default:
    return k_exit_error;
  }
}

// Registers the client's commands: put, get, push-tree and pull-tree. `run` is set to the
// chosen subcommand's action.
void add_client_commands(CLI::App& app, std::function<int()>& run);
// Registers ref get, set, list and rm.
void add_ref_commands(CLI::App& app, std::function<int()>& run);
// Registers keygen and release (publish, fetch, verify, list, yank).
void add_release_commands(CLI::App& app, std::function<int()>& run);
// put and get on a local data dir (the server stopped), for `--data DIR`.
int put_local(const std::string& data, const std::vector<std::string>& files);
int get_local(const std::string& data, const std::string& hex, const std::string& output);
// Registers gc and stats.
void add_gc_commands(CLI::App& app, std::function<int()>& run);
// Registers nix pin and unpin.
void add_nix_commands(CLI::App& app, std::function<int()>& run);
// `ingot mirror snapshot` (tools/mirror_commands.cpp).
void add_mirror_commands(CLI::App& app, std::function<int()>& run);
// Registers fsck.
void add_fsck_command(CLI::App& app, std::function<int()>& run);
// Registers serve, init and token.
void add_serve_commands(CLI::App& app, std::function<int()>& run);
// Registers token create, list and revoke.
void add_token_commands(CLI::App& app, std::function<int()>& run);

} // namespace ingot::tools
