// A GC run as JSON: the answer of POST /v1/gc, the "last" run in /v1/stats, and what
// `ingot gc --json` prints when it runs offline. One function, so the three cannot drift.
#pragma once

#include "cas/store.hpp"

#include <nlohmann/json_fwd.hpp>

namespace ingot::server {

nlohmann::json gc_report_json(const cas::GcReport& report);

} // namespace ingot::server
