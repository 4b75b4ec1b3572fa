// Where a file the client writes waits, beside its destination, until it is whole and renamed
// over it: hidden (a leading dot), naming the file and this process, and unique within the
// process (one counter for downloads, batch writes and local copies alike).
#pragma once

#include <filesystem>

namespace ingot::client {

std::filesystem::path temp_path_beside(const std::filesystem::path& file);

} // namespace ingot::client
