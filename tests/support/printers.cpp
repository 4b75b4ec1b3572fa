#include "support/printers.hpp"

#include <ostream>

namespace ingot {

void PrintTo(Errc code, std::ostream* os) {
  *os << to_string(code);
}

namespace cas {

void PrintTo(const Digest& digest, std::ostream* os) {
  *os << digest.to_string();
}

} // namespace cas
} // namespace ingot
