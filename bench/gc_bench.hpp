// What gc_bench.cpp (the runs) and gc_bench_report.cpp (the flags and the printing) share: the
// flags (Args), the latency histogram, and the results of the runs.

#pragma once

#include "cas/digest.hpp"
#include "cas/store.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

namespace ingot::gc_bench {

using cas::GcReport;
using cas::Hash;

inline constexpr double k_mb = 1e6; // as in `openssl speed` and the rest of bench/README.md

struct Args {
  std::uint64_t entries = 1'000'000;
  std::optional<std::uint64_t> evict; // default: min(100k, entries / 5)
  std::uint64_t mixed_entries = 200'000;
  unsigned threads = std::max(2U, std::thread::hardware_concurrency());
  unsigned readers = 1;
  std::uint64_t hot = 10'000;
  double baseline_s = 3.0;
  std::optional<std::filesystem::path> dir;
};

// Latencies in a log-linear histogram (64 sub-buckets per power of two, so within 1.6%): memory
// stays fixed however long a window runs.
class LatencyHistogram {
public:
  void record(std::uint64_t ns) {
    ++m_counts[bucket_of(ns)];
    ++m_count;
    m_max = std::max(m_max, ns);
    m_sum += ns;
  }
  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < k_buckets; ++i) {
      m_counts[i] += other.m_counts[i];
    }
    m_count += other.m_count;
    m_max = std::max(m_max, other.m_max);
    m_sum += other.m_sum;
  }
  std::uint64_t count() const { return m_count; }
  std::uint64_t max_ns() const { return m_max; }
  double mean_ns() const { return m_count == 0 ? 0 : static_cast<double>(m_sum) / m_count; }
  // The latency below which a fraction q of the operations finished (a bucket's midpoint).
  std::uint64_t quantile_ns(double q) const {
    if (m_count == 0) {
      return 0;
    }
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(m_count - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < k_buckets; ++i) {
      seen += m_counts[i];
      if (seen >= rank) {
        return std::min(midpoint_of(i), m_max);
      }
    }
    return m_max;
  }

private:
  static constexpr int k_sub_bits = 6;
  static constexpr std::uint64_t k_linear = 2ULL << k_sub_bits; // exact below this
  static constexpr std::size_t k_buckets = k_linear + (64 - k_sub_bits - 1) * (1U << k_sub_bits);

  static std::size_t bucket_of(std::uint64_t v) {
    if (v < k_linear) {
      return static_cast<std::size_t>(v);
    }
    const int exp = std::bit_width(v) - 1; // >= k_sub_bits + 1
    const int shift = exp - k_sub_bits;
    const std::uint64_t mantissa = (v >> shift) & ((1U << k_sub_bits) - 1);
    const auto octave = static_cast<std::uint64_t>(exp - k_sub_bits - 1);
    return static_cast<std::size_t>(k_linear + (octave << k_sub_bits) + mantissa);
  }
  static std::uint64_t midpoint_of(std::size_t bucket) {
    if (bucket < k_linear) {
      return bucket;
    }
    const std::size_t rel = bucket - k_linear;
    const int shift = static_cast<int>(rel >> k_sub_bits) + 1;
    const std::uint64_t mantissa = rel & ((1U << k_sub_bits) - 1);
    const std::uint64_t low = ((1ULL << k_sub_bits) | mantissa) << shift;
    return low + (1ULL << shift) / 2;
  }

  std::array<std::uint64_t, k_buckets> m_counts{};
  std::uint64_t m_count = 0;
  std::uint64_t m_max = 0;
  std::uint64_t m_sum = 0;
};

struct FillResult {
  double seconds = 0;
  std::uint64_t bytes = 0;
  std::vector<Hash> hot; // blobs from the newest quarter of the store, evenly spread
};

struct OpenTimes {
  double first_s = 0; // the first open after the fill
  double median_s = 0;
  std::vector<double> reopens_s;
};

struct LatencyResult {
  LatencyHistogram baseline;
  LatencyHistogram during_gc;
  double baseline_s = 0;
  double during_gc_s = 0; // the GC call as the caller saw it
  GcReport gc;
  std::uint64_t errors = 0;
};

struct Summary {
  std::uint64_t entries = 0;
  FillResult fill;
  OpenTimes opens;
  GcReport gc_small;
  LatencyResult latency;
  std::optional<GcReport> gc_mixed;
  std::uint64_t mixed_entries = 0;
};

// The flags (exits with the usage on --help, 2 on a bad one).
Args parse_args(int argc, char** argv);

void print_gc(const char* label, const GcReport& r);
void print_latency(const char* label, const LatencyHistogram& h, double seconds);
void print_summary(const Summary& s, const Args& args);

} // namespace ingot::gc_bench
