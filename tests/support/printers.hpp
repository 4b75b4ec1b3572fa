// How GoogleTest prints Ingot's types in failure messages. GoogleTest finds PrintTo by
// argument-dependent lookup, so each overload lives in the namespace of the type it prints.
#pragma once

#include "cas/digest.hpp"
#include "util/result.hpp"

#include <iosfwd>

namespace ingot {

void PrintTo(Errc code, std::ostream* os);

namespace cas {

void PrintTo(const Digest& digest, std::ostream* os);

} // namespace cas
} // namespace ingot
