// UTF-8 validity (RFC 3629): what JSON text must hold (RFC 8259 8.1), so names that go into JSON
// answers are checked with this when they arrive.
#pragma once

#include <string_view>

namespace ingot {

// Strict: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
bool is_utf8(std::string_view text);

} // namespace ingot
