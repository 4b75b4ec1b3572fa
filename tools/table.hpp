// What list commands print for people: a header and rows, columns aligned. `--json` is for
// machines; a table is never parsed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ingot::tools {

// Prints on stdout, columns two spaces apart, the last one unpadded.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

// "2026-12-05T07:28:12Z" (UTC), or "-" for 0 (not known).
std::string utc_time(std::int64_t unix_s);

} // namespace ingot::tools
