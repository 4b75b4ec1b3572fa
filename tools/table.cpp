#include "tools/table.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace ingot::tools {

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  const auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  measure(header);
  for (const auto& row : rows) {
    measure(row);
  }
  const auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    std::printf("%s\n", line.c_str());
  };
  print(header);
  for (const auto& row : rows) {
    print(row);
  }
}

std::string utc_time(std::int64_t unix_s) {
  if (unix_s == 0) {
    return "-";
  }
  const std::time_t when = unix_s;
  std::tm utc{};
  std::ostringstream out;
  out << std::put_time(::gmtime_r(&when, &utc), "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

} // namespace ingot::tools
