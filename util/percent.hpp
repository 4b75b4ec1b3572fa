// RFC 3986 percent-encoding of path segments and query values, as both the server (reading
// request targets) and the client (building them) need it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ingot {

// The value of one hex digit, either case; -1 for any other character.
int hex_digit_value(char c);

// "a b/c" -> "a%20b/c": every byte but RFC 3986's unreserved characters (ALPHA DIGIT - . _ ~)
// and '/' is escaped, so that any name becomes one path below a route.
std::string percent_encode_path(std::string_view name);

// Decodes %XX escapes (either case); nullopt for a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

} // namespace ingot
