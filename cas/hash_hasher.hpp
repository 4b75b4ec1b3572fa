// Internal to cas/: hashing a SHA-256 for unordered containers (it is random already).
#pragma once

#include "cas/digest.hpp"

#include <cstddef>
#include <cstring>

namespace ingot::cas {

struct HashHasher {
  std::size_t operator()(const Hash& h) const noexcept {
    std::size_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

} // namespace ingot::cas
