// The page at `/`: figures read from a /v1/stats answer, and the HTML made of them, checked
// for what a reader sees (each figure, the bound, the links, the usage with this server's
// address) and for what a hostile Host header must not do.
#include "server/metrics.hpp"
#include "server/status_page.hpp"

#include <string>

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

// A /v1/stats answer as Metrics::stats_json writes it, trimmed to what the page reads.
constexpr std::string_view k_stats = R"({
  "stored_bytes": 1572864,
  "logical_bytes": 2000000,
  "entries": {"cas": 12, "ac": 3, "kv": 4, "ref": 1, "nix": 2},
  "disk": {"used_bytes": 2097152, "max_size_bytes": 8388608, "gc_high_bytes": 7549747,
           "gc_low_bytes": 6710886, "files_bytes": 1048576, "index_bytes": 1048576,
           "reserved_bytes": 0, "pinned_bytes": 4096},
  "gc": {"runs": 2, "evicted_entries": 5, "evicted_bytes": 5000, "duration_seconds": 0.1,
         "oldest_entry_age_seconds": 60,
         "last": {"dry_run": false, "finished_unix_seconds": 1764921600,
                  "evicted": {"cas": {"entries": 2, "bytes": 3000}, "ac": {"entries": 1, "bytes": 0},
                              "kv": {"entries": 1, "bytes": 1000}, "ref": {"entries": 0, "bytes": 0},
                              "nix": {"entries": 0, "bytes": 0}}}},
  "lookups": {"cas": {"hits": 3, "misses": 1}, "ac": {"hits": 0, "misses": 0},
              "kv": {"hits": 2, "misses": 2}, "nix": {"hits": 1, "misses": 1}},
  "uptime_seconds": 93784
})";

StatusFigures figures() {
  auto f = status_figures(k_stats, "9.8.7");
  EXPECT_TRUE(f) << f.error().message;
  return f ? *f : StatusFigures{};
}

bool has(const std::string& page, std::string_view text) {
  return page.find(text) != std::string::npos;
}

TEST(StatusFiguresTest, ReadsEveryFigureFromTheStats) {
  const auto f = figures();
  EXPECT_EQ(f.version, "9.8.7");
  EXPECT_EQ(f.uptime_s, 93784);
  EXPECT_EQ(f.stored_bytes, 1572864u);
  EXPECT_EQ(f.used_bytes, 2097152u);
  EXPECT_EQ(f.max_size_bytes, 8388608u);
  EXPECT_EQ(f.pinned_bytes, 4096u);
  EXPECT_EQ(f.cas_entries, 12u);
  EXPECT_EQ(f.ac_entries, 3u);
  EXPECT_EQ(f.kv_entries, 4u);
  EXPECT_EQ(f.ref_entries, 1u);
  EXPECT_EQ(f.nix_entries, 2u);
  EXPECT_EQ(f.hits, 6u); // summed over every namespace
  EXPECT_EQ(f.misses, 4u);
  EXPECT_EQ(f.gc_runs, 2u);
  ASSERT_TRUE(f.last_gc_unix_s);
  EXPECT_EQ(*f.last_gc_unix_s, 1764921600);
  EXPECT_EQ(f.last_gc_evicted_bytes, 4000u);
}

TEST(StatusFiguresTest, ReadsWhatMetricsWrites) {
  // The real writer, so that a renamed field fails here and not only on a live server.
  Metrics metrics;
  metrics.record_lookup(Lookup::cas, true);
  metrics.record_lookup(Lookup::kv, false);
  StoreSnapshot snap;
  snap.usage.stored_bytes = 777;
  snap.usage.blobs = 5;
  snap.space.max_size = 0;
  auto f = status_figures(metrics.stats_json(snap), "1.0");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->stored_bytes, 777u);
  EXPECT_EQ(f->cas_entries, 5u);
  EXPECT_EQ(f->hits, 1u);
  EXPECT_EQ(f->misses, 1u);
  EXPECT_FALSE(f->last_gc_unix_s);
}

TEST(StatusFiguresTest, RefusesWhatIsNotAStatsAnswer) {
  EXPECT_EQ(status_figures("not json", "1").error().code, Errc::invalid_argument);
  EXPECT_EQ(status_figures("[]", "1").error().code, Errc::invalid_argument);
  const auto partial = status_figures(R"({"stored_bytes": 1})", "1");
  ASSERT_FALSE(partial);
  EXPECT_NE(partial.error().message.find("lack"), std::string::npos) << partial.error().message;
}

TEST(StatusPageTest, ShowsEachFigure) {
  const auto page = render_status_page(figures(), "cache.example:8080");
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(has(page, "<h1>Ingot 9.8.7</h1>"));
  EXPECT_TRUE(has(page, "<th>Uptime</th><td>1d 2h 3m 4s</td>"));
  EXPECT_TRUE(has(page, "<th>Stored</th><td>1572864 bytes (1.5MiB)</td>"));
  EXPECT_TRUE(has(page, "<th>Disk</th><td>2097152 bytes (2MiB) on disk of the --max-size bound "
                        "8388608 bytes (8MiB) (25.0%)</td>"))
      << page;
  EXPECT_TRUE(has(page, "<th>Entries</th><td>12 blobs, 3 ac, 4 kv, 1 refs, 2 nix</td>"));
  EXPECT_TRUE(has(page, "<th>Hit rate</th><td>60.0% (6 hits, 4 misses)</td>"));
  EXPECT_TRUE(has(page, "<th>Last GC</th><td>finished 2025-12-05 08:00:00 UTC, evicted 4000 "
                        "bytes (3.9KiB); 2 runs in all</td>"))
      << page;
}

TEST(StatusPageTest, SaysWhenThereIsNoBoundNoLookupAndNoGc) {
  StatusFigures f;
  f.version = "1.0";
  const auto page = render_status_page(f, "h:1");
  EXPECT_TRUE(has(page, "no bound (start with --max-size to set one)"));
  EXPECT_TRUE(has(page, "<th>Hit rate</th><td>no lookups yet</td>"));
  EXPECT_TRUE(has(page, "<th>Last GC</th><td>never run since the server started</td>"));
  EXPECT_TRUE(has(page, "<th>Uptime</th><td>0s</td>"));
}

TEST(StatusPageTest, LinksTheMachineReadableRoutesAndHasNoScript) {
  const auto page = render_status_page(figures(), "h:1");
  EXPECT_TRUE(has(page, R"(<a href="/metrics">)"));
  EXPECT_TRUE(has(page, R"(<a href="/v1/stats">)"));
  EXPECT_TRUE(has(page, R"(<a href="/nix/nix-cache-info">)"));
  EXPECT_FALSE(has(page, "<script"));
  EXPECT_FALSE(has(page, "javascript:"));
}

TEST(StatusPageTest, UsageNamesTheAddressTheReaderUsed) {
  const auto page = render_status_page(figures(), "cache.example:8080");
  EXPECT_TRUE(has(page, "CCACHE_REMOTE_STORAGE=\"http://cache.example:8080/kv/ccache\""));
  EXPECT_TRUE(has(page, "http://ci:TOKEN@cache.example:8080/kv/ccache"));
  EXPECT_TRUE(has(page, "--remote_cache=http://cache.example:8080 \\"));
  EXPECT_TRUE(has(page, "substituters = http://cache.example:8080/nix https://cache.nixos.org"));
  EXPECT_TRUE(has(page, "nix copy --to 'http://cache.example:8080/nix?compression=zstd'"));
}

TEST(StatusPageTest, HostileHostIsEscaped) {
  const auto page = render_status_page(figures(), R"(x"><script>alert(1)</script>)");
  EXPECT_FALSE(has(page, "<script>"));
  EXPECT_TRUE(has(page, "http://x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;/kv/ccache"));
}

TEST(StatusPageTest, NoHostGetsAPlaceholder) {
  const auto page = render_status_page(figures(), "");
  EXPECT_TRUE(has(page, "--remote_cache=http://HOST:PORT \\"));
}

TEST(HtmlEscapeTest, EscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(html_escape("plain"), "plain");
}

} // namespace
} // namespace ingot::server
