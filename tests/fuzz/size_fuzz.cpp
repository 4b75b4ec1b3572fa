// parse_size over any text, and format_size/parse_size round trips of any size. Input: eight
// bytes of a size, then the text.
#include "fuzz_support.hpp"
#include "util/size.hpp"

#include <algorithm>
#include <cmath>

using namespace ingot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const std::uint64_t n = in.u64();
  const std::string_view text = in.rest();

  if (const auto parsed = parse_size(text)) {
    // A size is a number with a unit: it never parses from text without a digit.
    FUZZ_CHECK(text.find_first_of("0123456789") != std::string_view::npos);
    // Surrounding white space changes nothing.
    FUZZ_CHECK(parse_size(" " + std::string(text) + " ") == parsed);
  }

  // Plain numbers are exact wherever a double is (below 2^53).
  if (n < (std::uint64_t{1} << 53)) {
    FUZZ_CHECK(parse_size(std::to_string(n)) == n);
    FUZZ_CHECK(parse_size(std::to_string(n) + "B") == n);
  }
  // format_size keeps one decimal below 100 of a unit and none from 100 on, so the round
  // trip is off by at most half a tenth of the unit, or half a percent; exact below 1 KiB.
  const std::string formatted = format_size(n);
  const auto back = parse_size(formatted);
  if (n < (std::uint64_t{1} << 63)) {
    FUZZ_CHECK(back);
    double unit = 1;
    while (unit * 1024 <= static_cast<double>(n) && unit < 1099511627776.0) {
      unit *= 1024;
    }
    const double error = std::fabs(static_cast<double>(*back) - static_cast<double>(n));
    FUZZ_CHECK(error <= std::max(0.05 * unit, 0.005 * static_cast<double>(n)) + 1);
    if (n < 1024) {
      FUZZ_CHECK(*back == n);
    }
  }
  return 0;
}
