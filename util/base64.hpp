// Base64 (RFC 4648): the standard alphabet with padding, and the URL-safe one without.
#pragma once

#include "util/bytes.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ingot {

std::string base64_encode(ByteView data);
std::string base64url_encode(ByteView data); // no padding
// Standard alphabet; padding required; whitespace is not accepted.
std::optional<std::string> base64_decode(std::string_view text);

} // namespace ingot
