// Subcommands of the `ingot` CLI: each registers its options and returns the exit code.
#pragma once

#include <functional>

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

// Registers put and get; `run` is set to the chosen subcommand's action.
void add_store_commands(CLI::App& app, std::function<int()>& run);
// Registers gc and stats.
void add_gc_commands(CLI::App& app, std::function<int()>& run);
// Registers fsck.
void add_fsck_command(CLI::App& app, std::function<int()>& run);
// Registers serve and token.
void add_serve_commands(CLI::App& app, std::function<int()>& run);

} // namespace ingot::tools
