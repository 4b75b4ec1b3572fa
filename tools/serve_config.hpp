// serve's settings from three places besides its command line: INGOT_<FLAG> environment
// variables and a TOML file (--config, default /etc/ingot/ingot.toml when it exists), in that
// order of precedence: command line > environment > file > default.
//
// CLI11 (2.1 in Debian 12) reads a config file for the top-level app only, and before the
// environment; serve applies its file itself, after both, to the options neither set.
#pragma once

#include "util/result.hpp"

#include <string>

namespace CLI {
class App;
}

namespace ingot::tools {

inline constexpr const char* k_default_config_file = "/etc/ingot/ingot.toml";

// Gives each of serve's settings its INGOT_<FLAG> variable: --max-size reads INGOT_MAX_SIZE.
// Call once every setting is added.
void add_setting_env_names(CLI::App& serve);

// Reads file's keys (each a setting's long name, e.g. `max-size = "20GiB"`, a repeatable one as
// an array) into the settings still unset. A missing file is fine unless it was named (given
// is true); an unknown key or a bad value is Errc::invalid_argument naming the key and file.
[[nodiscard]] Result<void> apply_config_file(CLI::App& serve, const std::string& file, bool given);

// The effective settings as TOML that --config reads back (unset ones as comments).
std::string dump_settings(const CLI::App& serve);

} // namespace ingot::tools
