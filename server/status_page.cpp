#include "server/status_page.hpp"

#include "util/size.hpp"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

using nlohmann::json;

// Stands in for the address when a request carries no Host (HTTP/1.0): readers fill it in.
constexpr std::string_view k_no_host = "HOST:PORT";

// "2d 3h 4m 5s", leading zero units left out.
std::string duration(std::int64_t seconds) {
  if (seconds < 0) {
    seconds = 0;
  }
  const std::array<std::pair<std::int64_t, const char*>, 4> units{
      {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}}};
  std::string out;
  for (const auto& [size, name] : units) {
    const std::int64_t n = seconds / size;
    seconds %= size;
    if (n > 0 || (size == 1 && out.empty())) {
      out += (out.empty() ? "" : " ") + std::to_string(n) + name;
    }
  }
  return out;
}

// An exact byte count, and the same in binary units for a reader.
std::string bytes(std::uint64_t n) {
  return std::to_string(n) + " bytes (" + format_size(n) + ")";
}

std::string utc_time(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return text;
}

std::string bound_line(const StatusFigures& f) {
  if (f.max_size_bytes == 0) {
    return bytes(f.used_bytes) + " on disk; no bound (start with --max-size to set one)";
  }
  return bytes(f.used_bytes) + " on disk of the --max-size bound " + bytes(f.max_size_bytes) +
         " (" + percent(f.used_bytes, f.max_size_bytes) + ")";
}

std::string hit_line(const StatusFigures& f) {
  const std::uint64_t lookups = f.hits + f.misses;
  const std::string counts = std::to_string(f.hits) + (f.hits == 1 ? " hit, " : " hits, ") +
                             std::to_string(f.misses) + (f.misses == 1 ? " miss" : " misses");
  if (lookups == 0) {
    return "no lookups yet";
  }
  return percent(f.hits, lookups) + " (" + counts + ")";
}

std::string gc_line(const StatusFigures& f) {
  if (!f.last_gc_unix_s) {
    return "never run since the server started";
  }
  return "finished " + utc_time(*f.last_gc_unix_s) + ", evicted " + bytes(f.last_gc_evicted_bytes) +
         "; " + std::to_string(f.gc_runs) + (f.gc_runs == 1 ? " run" : " runs") + " in all";
}

void row(std::string& out, std::string_view name, const std::string& value) {
  out += "<tr><th>";
  out += name;
  out += "</th><td>" + html_escape(value) + "</td></tr>\n";
}

// How to point each client at this server, as the README's "For build jobs" shows it, with
// the address the reader used.
std::string usage_section(std::string_view host, Tls tls) {
  const std::string h = html_escape(host);
  const std::string url = (tls == Tls::yes ? "https://" : "http://") + h;
  return R"(<h2>Use it</h2>
<p>From the README&rsquo;s &ldquo;For build jobs&rdquo;, with this server&rsquo;s address. Writes
need a token with the <code>write</code> scope (<code>ingot token create</code>); TOKEN stands for
it.</p>
<h3>ccache</h3>
<pre>export CCACHE_REMOTE_STORAGE=")" +
         url + R"(/kv/ccache"
# with a write token (ccache sends it as the HTTP Basic password):
export CCACHE_REMOTE_STORAGE="http://ci:TOKEN@)" +
         h + R"(/kv/ccache"</pre>
<h3>Bazel</h3>
<pre>bazel build //... --remote_cache=)" +
         url + R"( \
  --remote_header="Authorization=Bearer TOKEN"</pre>
<h3>Nix</h3>
<pre># /etc/nix/nix.conf on the builder
substituters = )" +
         url + R"(/nix https://cache.nixos.org
# push a closure (the token goes in /etc/nix/netrc as its password)
nix copy --to ')" +
         url + R"(/nix?compression=zstd' ./result</pre>
)";
}

std::uint64_t u64(const json& j, const json::json_pointer& at) {
  const json& v = j.at(at);
  return v.get<std::uint64_t>();
}

} // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string_view server_version() {
  return INGOT_VERSION;
}

Result<StatusFigures> status_figures(std::string_view stats_json, std::string version) {
  const json j = json::parse(stats_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(Errc::invalid_argument, "the stats are not a JSON object");
  }
  try {
    StatusFigures f;
    f.version = std::move(version);
    f.uptime_s = j.at("uptime_seconds").get<std::int64_t>();
    f.stored_bytes = u64(j, json::json_pointer("/stored_bytes"));
    f.used_bytes = u64(j, json::json_pointer("/disk/used_bytes"));
    f.max_size_bytes = u64(j, json::json_pointer("/disk/max_size_bytes"));
    f.pinned_bytes = u64(j, json::json_pointer("/disk/pinned_bytes"));
    f.cas_entries = u64(j, json::json_pointer("/entries/cas"));
    f.ac_entries = u64(j, json::json_pointer("/entries/ac"));
    f.kv_entries = u64(j, json::json_pointer("/entries/kv"));
    f.ref_entries = u64(j, json::json_pointer("/entries/ref"));
    f.nix_entries = u64(j, json::json_pointer("/entries/nix"));
    for (const auto& [name, lookup] : j.at("lookups").items()) {
      f.hits += lookup.at("hits").get<std::uint64_t>();
      f.misses += lookup.at("misses").get<std::uint64_t>();
    }
    const json& gc = j.at("gc");
    f.gc_runs = gc.at("runs").get<std::uint64_t>();
    if (const json& last = gc.at("last"); !last.is_null()) {
      f.last_gc_unix_s = last.at("finished_unix_seconds").get<std::int64_t>();
      f.last_gc_evicted_bytes = 0;
      for (const auto& [name, evicted] : last.at("evicted").items()) {
        f.last_gc_evicted_bytes += evicted.at("bytes").get<std::uint64_t>();
      }
    }
    return f;
  } catch (const json::exception& e) {
    return make_error(Errc::invalid_argument, std::string("the stats lack a figure: ") + e.what());
  }
}

std::string render_status_page(const StatusFigures& f, std::string_view host, Tls tls) {
  std::string out = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ingot )" + html_escape(f.version) +
                    R"(</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}
th{text-align:left;padding-right:1em}pre{background:#f4f4f4;padding:.5em;overflow-x:auto}</style>
</head>
<body>
<h1>Ingot )" + html_escape(f.version) +
                    R"(</h1>
<p>A content-addressed artifact cache and signed binary store.</p>
<h2>Now</h2>
<table>
)";
  row(out, "Version", f.version);
  row(out, "Uptime", duration(f.uptime_s));
  row(out, "Stored", bytes(f.stored_bytes));
  row(out, "Disk", bound_line(f));
  row(out, "Pinned", bytes(f.pinned_bytes));
  row(out, "Entries",
      std::to_string(f.cas_entries) + " blobs, " + std::to_string(f.ac_entries) + " ac, " +
          std::to_string(f.kv_entries) + " kv, " + std::to_string(f.ref_entries) + " refs, " +
          std::to_string(f.nix_entries) + " nix");
  row(out, "Hit rate", hit_line(f));
  row(out, "Last GC", gc_line(f));
  out += R"(</table>
<p><a href="/metrics">/metrics</a> (Prometheus) &middot; <a href="/v1/stats">/v1/stats</a> (JSON)
&middot; <a href="/nix/nix-cache-info">/nix/nix-cache-info</a> (Nix binary cache)</p>
)";
  out += usage_section(host.empty() ? k_no_host : host, tls);
  out += "</body>\n</html>\n";
  return out;
}

} // namespace ingot::server
