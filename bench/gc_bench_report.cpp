// gc_bench's flags and what it prints: the usage, a GC run's report, a latency window and the
// summary table that bench/README.md records.

#include "bench/gc_bench.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace ingot::gc_bench {

namespace {

void usage_and_exit(const char* argv0, int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: %s [--entries N] [--evict N] [--mixed-entries N] [--threads N]\n"
               "          [--readers N] [--hot N] [--baseline-s S] [--dir PATH]\n"
               "  --entries N        small blobs in the main store (default 1000000)\n"
               "  --evict N          entries each GC run should evict (default min(100000, "
               "entries/5))\n"
               "  --mixed-entries N  blobs in the mixed store, 1 in 10 a 64 KiB file; 0 skips "
               "it (default 200000)\n"
               "  --threads N        threads filling the stores (default max(2, cores))\n"
               "  --readers N        reader threads in the latency test (default 1)\n"
               "  --hot N            blobs in the readers' hot set (default 10000)\n"
               "  --baseline-s S     length of the no-GC latency window (default 3)\n"
               "  --dir PATH         where the stores go (default $INGOT_BENCH_DIR, $TMPDIR, "
               "/tmp)\n",
               argv0);
  std::exit(code);
}

} // namespace

void print_gc(const char* label, const GcReport& r) {
  const double mb = static_cast<double>(r.cas.bytes) / k_mb;
  std::printf("%s: evicted %llu entries, %.2f MB stored, in %.3f s = %.0f entries/s, %.2f MB/s%s\n",
              label, static_cast<unsigned long long>(r.cas.entries), mb, r.duration_s,
              static_cast<double>(r.cas.entries) / r.duration_s, mb / r.duration_s,
              r.target_reached ? "" : " (target not reached)");
  std::printf("  (used %.1f MB at the start, target %.1f MB)\n",
              static_cast<double>(r.before) / k_mb, static_cast<double>(r.target) / k_mb);
}

void print_latency(const char* label, const LatencyHistogram& h, double seconds) {
  std::printf("  %-18s %9llu ops %9.0f ops/s  p50 %7.1f us  p99 %7.1f us  p99.9 %8.1f us  "
              "max %8.1f us\n",
              label, static_cast<unsigned long long>(h.count()),
              static_cast<double>(h.count()) / seconds, h.quantile_ns(0.50) / 1e3,
              h.quantile_ns(0.99) / 1e3, h.quantile_ns(0.999) / 1e3, h.max_ns() / 1e3);
}

void print_summary(const Summary& s, const Args& args) {
  const auto rate = [](const GcReport& r) {
    return static_cast<double>(r.cas.entries) / r.duration_s;
  };
  const auto mbps = [](const GcReport& r) {
    return static_cast<double>(r.cas.bytes) / k_mb / r.duration_s;
  };
  const auto& base = s.latency.baseline;
  const auto& gc = s.latency.during_gc;
  std::printf("\n=== summary (MB = 10^6 bytes) ===\n");
  std::printf("%-56s %s\n", "figure", "measured");
  std::printf("%-56s %.1f s (%.0f puts/s)\n",
              ("fill, " + std::to_string(s.entries) + " inline blobs, " +
               std::to_string(args.threads) + " threads")
                  .c_str(),
              s.fill.seconds, static_cast<double>(s.entries) / s.fill.seconds);
  std::printf("%-56s %.1f ms\n", "Store::open, first after the fill", s.opens.first_s * 1e3);
  std::printf("%-56s %.1f ms\n", "Store::open, median of 3 reopens", s.opens.median_s * 1e3);
  std::printf("%-56s %.0f entries/s, %.2f MB/s (%llu in %.2f s)\n",
              "eviction, inline blobs, no readers", rate(s.gc_small), mbps(s.gc_small),
              static_cast<unsigned long long>(s.gc_small.cas.entries), s.gc_small.duration_s);
  std::printf("%-56s %.0f entries/s, %.2f MB/s (%llu in %.2f s)\n",
              "eviction, inline blobs, with readers", rate(s.latency.gc), mbps(s.latency.gc),
              static_cast<unsigned long long>(s.latency.gc.cas.entries), s.latency.gc.duration_s);
  if (s.gc_mixed) {
    std::printf(
        "%-56s %.0f entries/s, %.1f MB/s (%llu in %.2f s)\n",
        ("eviction, mixed store of " + std::to_string(s.mixed_entries) + " (1 in 10 a 64 KiB file)")
            .c_str(),
        rate(*s.gc_mixed), mbps(*s.gc_mixed),
        static_cast<unsigned long long>(s.gc_mixed->cas.entries), s.gc_mixed->duration_s);
  }
  std::printf("%-56s %.1f / %.1f / %.1f us\n", "GET p50 / p99 / p99.9, no GC",
              base.quantile_ns(0.50) / 1e3, base.quantile_ns(0.99) / 1e3,
              base.quantile_ns(0.999) / 1e3);
  std::printf("%-56s %.1f / %.1f / %.1f us\n", "GET p50 / p99 / p99.9, during GC",
              gc.quantile_ns(0.50) / 1e3, gc.quantile_ns(0.99) / 1e3, gc.quantile_ns(0.999) / 1e3);
  const auto ratio = [](std::uint64_t a, std::uint64_t b) {
    return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
  };
  std::printf("%-56s %.2fx / %.2fx / %.2fx\n", "during GC / no GC (p50 / p99 / p99.9)",
              ratio(gc.quantile_ns(0.50), base.quantile_ns(0.50)),
              ratio(gc.quantile_ns(0.99), base.quantile_ns(0.99)),
              ratio(gc.quantile_ns(0.999), base.quantile_ns(0.999)));
  std::printf("%-56s %llu\n", "hot-set reads that failed (must be 0)",
              static_cast<unsigned long long>(s.latency.errors));
}

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      usage_and_exit(argv[0], 0);
    }
    if (i + 1 >= argc) {
      usage_and_exit(argv[0], 2);
    }
    const std::string value = argv[++i];
    try {
      if (arg == "--entries") {
        args.entries = std::stoull(value);
      } else if (arg == "--evict") {
        args.evict = std::stoull(value);
      } else if (arg == "--mixed-entries") {
        args.mixed_entries = std::stoull(value);
      } else if (arg == "--threads") {
        args.threads = static_cast<unsigned>(std::max(1ULL, std::stoull(value)));
      } else if (arg == "--readers") {
        args.readers = static_cast<unsigned>(std::max(1ULL, std::stoull(value)));
      } else if (arg == "--hot") {
        args.hot = std::max(1ULL, std::stoull(value));
      } else if (arg == "--baseline-s") {
        args.baseline_s = std::stod(value);
      } else if (arg == "--dir") {
        args.dir = value;
      } else {
        usage_and_exit(argv[0], 2);
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "%s: not a number: %s\n", argv[0], value.c_str());
      std::exit(2);
    }
  }
  if (args.entries < 10) {
    std::fprintf(stderr, "%s: --entries must be at least 10\n", argv[0]);
    std::exit(2);
  }
  return args;
}

} // namespace ingot::gc_bench
