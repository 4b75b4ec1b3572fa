// The page at `/`: what someone who opens the server in a browser wants to know (version,
// uptime, disk against the bound, entries, hit rate, the last GC) and how to point ccache,
// Bazel and nix at it. Plain HTML, no script. Pure functions: figures in, text out.
#pragma once

#include "util/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingot::server {

struct StatusFigures {
  std::string version;
  std::int64_t uptime_s = 0;
  std::uint64_t stored_bytes = 0;
  std::uint64_t used_bytes = 0;     // what the bound counts
  std::uint64_t max_size_bytes = 0; // 0: no bound
  std::uint64_t pinned_bytes = 0;
  std::uint64_t cas_entries = 0;
  std::uint64_t ac_entries = 0;
  std::uint64_t kv_entries = 0;
  std::uint64_t ref_entries = 0;
  std::uint64_t nix_entries = 0;
  std::uint64_t hits = 0; // over every lookup namespace (cas, ac, kv, nix)
  std::uint64_t misses = 0;
  std::uint64_t gc_runs = 0;
  std::optional<std::int64_t> last_gc_unix_s; // when the last run finished
  std::uint64_t last_gc_evicted_bytes = 0;
};

// The figures of a /v1/stats answer (Metrics::stats_json): the page shows what /v1/stats
// says, never a second count. Errc::invalid_argument when the text is not such an answer.
[[nodiscard]] Result<StatusFigures> status_figures(std::string_view stats_json,
                                                   std::string version);

// The page. `host` is the request's Host header (the address the reader used, so the usage
// examples work as pasted); it is escaped, and a placeholder stands in when it is empty.
// `tls`: whether the reader came over HTTPS, which the examples' URLs then use.
enum class Tls { no, yes };
std::string render_status_page(const StatusFigures& figures, std::string_view host,
                               Tls tls = Tls::no);

// Text as HTML character data or a quoted attribute value: & < > " ' escaped.
std::string html_escape(std::string_view text);

// The version the server was built as (CMake's PROJECT_VERSION).
std::string_view server_version();

} // namespace ingot::server
