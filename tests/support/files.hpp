// Plain file access for tests that look at what the code under test left on disk.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ingot::test {

// The whole file, byte for byte; empty if it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Creates or replaces the file with exactly `content`; throws if it cannot.
void write_file(const std::filesystem::path& path, std::string_view content);

// Every file (not directory) below `dir`, at any depth; none if `dir` does not exist.
std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir);

} // namespace ingot::test
