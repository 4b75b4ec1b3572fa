// What `ingot --version` and `ingot version` print.
#pragma once

namespace ingot::tools {

// "ingot 0.1.0 (commit abc1234)": the project version and the git commit the binary was built
// from ("unknown" when built outside a git checkout of Ingot).
const char* version_line();

} // namespace ingot::tools
