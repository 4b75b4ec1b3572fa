#include "util/result.hpp"

namespace ingot {

std::string_view to_string(Errc code) {
  switch (code) {
  case Errc::not_found:
    return "not found";
  case Errc::corrupt:
    return "corrupt";
  case Errc::io:
    return "I/O error";
  case Errc::no_space:
    return "no space";
  case Errc::invalid_argument:
    return "invalid argument";
  case Errc::unauthorized:
    return "unauthorized";
  case Errc::forbidden:
    return "forbidden";
  case Errc::timeout:
    return "timeout";
  case Errc::busy:
    return "busy";
  case Errc::too_large:
    return "too large";
  case Errc::conflict:
    return "conflict";
  case Errc::would_block:
    return "would block";
  case Errc::upstream:
    return "upstream failed";
  case Errc::mismatch:
    return "not the expected content";
  }
  return "error";
}

} // namespace ingot
