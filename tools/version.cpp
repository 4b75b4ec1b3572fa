#include "tools/version.hpp"

// Generated at build time (cmake/IngotBuildInfo.cmake); this is the only file that includes
// it, so a new commit recompiles this file alone.
#include "ingot_build_info.hpp"

namespace ingot::tools {

const char* version_line() {
  return "ingot " INGOT_BUILD_VERSION " (commit " INGOT_BUILD_COMMIT ")";
}

} // namespace ingot::tools
