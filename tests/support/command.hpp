// Runs the real command-line tools a test checks Ingot against (minisign, signify, …).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace ingot::test {

struct CommandResult {
  int exit_code = -1; // -1 when the command did not exit normally
  std::string output; // stdout and stderr together, as a user would see them
};

// Runs `command` with /bin/sh in `dir`.
CommandResult run_command(const std::filesystem::path& dir, const std::string& command);

// Whether `program` is found on PATH.
bool on_path(std::string_view program);

// `text` as one single-quoted shell word.
std::string shell_quote(std::string_view text);

} // namespace ingot::test
