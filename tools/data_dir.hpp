// The data dir of the commands that work on one without serving it (token, stats, gc, fsck,
// put and get with --data): only `ingot serve` and `ingot init` make one, every other command
// refuses a path that is not a data dir, creating nothing, and says how to find the right one.
#pragma once

#include "cas/store.hpp"
#include "util/result.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace CLI {
class App;
class Option;
} // namespace CLI

namespace ingot::tools {

inline constexpr const char* k_default_data_dir = "./ingot-data";
// --data's environment variable, for every command that takes --data; the flag wins.
inline constexpr const char* k_data_env = "INGOT_DATA";

// Adds `--data DIR` (default ./ingot-data, or $INGOT_DATA) to cmd, bound to data.
CLI::Option* add_data_option(CLI::App* cmd, std::string& data, const std::string& help);

// Errc::invalid_argument (exit 2) when data is not a data dir, with the fix: the server's
// data dir, INGOT_DATA, or `ingot init`.
[[nodiscard]] Result<void> require_data_dir(const std::string& data);

// Opens an existing data dir, never creating one. A data dir a server holds is refused
// (Errc::busy, naming the holder) with while_served appended: what to do instead.
[[nodiscard]] Result<std::unique_ptr<cas::Store>> open_data_dir(cas::StoreOptions options,
                                                                std::string_view while_served);

// What to do instead when a server holds the data dir, for commands that need it to themselves.
std::string stop_the_server_first(std::string_view command);

// Registers `ingot init [--data DIR]`.
void add_init_command(CLI::App& app, std::function<int()>& run);

} // namespace ingot::tools
