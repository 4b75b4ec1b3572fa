// GC benchmark: start-up time of a store holding many small blobs, the eviction rate, and what a
// GC run does to the latency of reads of blobs it does not evict. A plain program rather than a
// Google Benchmark: each figure comes from one long, stateful scenario (fill, reopen, evict while
// reading), not from a loop that can be repeated. bench/README.md records what it showed.
//
//   gc_bench [--entries N] [--evict N] [--mixed-entries N] [--threads N] [--readers N]
//            [--hot N] [--baseline-s S] [--dir PATH]
//
// Stores live under --dir, else $INGOT_BENCH_DIR, else $TMPDIR, else /tmp, and are removed at
// the end. It must be a real disk: a tmpfs makes fsync and file creation free.

#include "bench/gc_bench.hpp"

#include "bench/gc_bench_store.hpp"
#include "cas/digest.hpp"
#include "cas/store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace ingot;
using namespace ingot::cas;
using namespace ingot::gc_bench;
using Clock = std::chrono::steady_clock;

// Index bytes an evicted record frees besides its data (cas/evictor.cpp counts the same): used
// only to turn "evict about N entries" into a GC target in bytes.
constexpr std::uint64_t k_record_overhead = 160;
// Small blobs: 64-200 bytes, inline in the index.
constexpr std::uint64_t k_small_min = 64;
constexpr std::uint64_t k_small_span = 137;
// The mixed store's file blobs: above the default 32 KiB inline threshold.
constexpr std::uint64_t k_file_size = 64 * 1024;
constexpr std::uint64_t k_file_every = 10;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Blob i of a store: its size is a function of i, its bytes random (no codec shrinks them) with
// i in the first eight, so every blob is distinct.
std::uint64_t small_size(std::uint64_t i) {
  std::uint64_t state = i * 31 + 7;
  return k_small_min + splitmix(state) % k_small_span;
}

void make_blob(std::uint64_t i, std::uint64_t size, std::vector<std::uint8_t>& out) {
  out.resize(size);
  std::uint64_t state = i ^ 0x5bd1e995ULL;
  for (std::size_t at = 0; at < size; at += 8) {
    const std::uint64_t z = splitmix(state);
    std::memcpy(out.data() + at, &z, std::min<std::size_t>(8, size - at));
  }
  std::memcpy(out.data(), &i, std::min<std::size_t>(sizeof i, size));
}

// Puts blobs 0..count-1 from `threads` threads. Indices are handed out in small chunks, so the
// order of the puts (and of their recency) follows i closely.
FillResult fill(Store& store, std::uint64_t count, unsigned threads, std::uint64_t hot,
                const std::function<std::uint64_t(std::uint64_t)>& size_of) {
  constexpr std::uint64_t k_chunk = 256;
  FillResult result;
  hot = std::min(hot, count / 4);
  result.hot.resize(hot);
  const std::uint64_t hot_stride = hot == 0 ? 1 : (count / 4) / hot;
  std::atomic<std::uint64_t> next{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::string error;
  const auto started = Clock::now();
  const auto work = [&] {
    std::vector<std::uint8_t> data;
    std::uint64_t mine = 0;
    while (!failed) {
      const std::uint64_t first = next.fetch_add(k_chunk);
      if (first >= count) {
        break;
      }
      for (std::uint64_t i = first; i < std::min(first + k_chunk, count); ++i) {
        make_blob(i, size_of(i), data);
        auto digest = store.put(data);
        if (!digest) {
          std::lock_guard lock(error_mutex);
          error = "put of blob " + std::to_string(i) + ": " + digest.error().message;
          failed = true;
          break;
        }
        mine += data.size();
        // Hot blob j is blob count-1 - j*stride: all in the newest quarter, which two GC runs
        // of the default size leave alone even before the hot set is touched.
        const std::uint64_t from_end = count - 1 - i;
        if (from_end % hot_stride == 0 && from_end / hot_stride < hot) {
          result.hot[from_end / hot_stride] = digest->hash;
        }
      }
    }
    bytes += mine;
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back(work);
  }
  for (auto& t : pool) {
    t.join();
  }
  if (failed) {
    throw std::runtime_error(error);
  }
  result.seconds = seconds_since(started);
  result.bytes = bytes;
  return result;
}

// Opens and closes `dir` once (the first open after writing), then `reopens` more times.
OpenTimes time_opens(const fs::path& dir, BenchClock& clock, int reopens) {
  OpenTimes t;
  for (int i = 0; i <= reopens; ++i) {
    const auto started = Clock::now();
    auto store = open_store(dir, clock);
    const double s = seconds_since(started);
    store.reset();
    if (i == 0) {
      t.first_s = s;
    } else {
      t.reopens_s.push_back(s);
    }
  }
  auto sorted = t.reopens_s;
  std::sort(sorted.begin(), sorted.end());
  t.median_s = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  return t;
}

// Makes the hot set the most recently used blobs of the store.
void warm_hot_set(Store& store, BenchClock& clock, const std::vector<Hash>& hot) {
  clock.skip(60);
  for (const auto& h : hot) {
    if (!store.stat(h)) {
      throw std::runtime_error("a hot blob is missing before any GC");
    }
  }
  if (auto r = store.flush_recency(); !r) {
    throw std::runtime_error("flush_recency: " + r.error().message);
  }
}

// A GC target meant to evict about `entries` of the oldest blobs, whose average cost in bytes
// (as the store counts it without a size bound: stored size plus record overhead) is known.
//
// The target is in bytes below what the store counts as used, which includes the index as last
// measured on disk (every 500 ms, in the background); compactions and the log move that by tens
// of MB. gc() flushes recency before it reads the figure: flushing here first (with the readers
// paused) keeps the two readings milliseconds apart, so a new measurement rarely falls between
// them, and run_gc() says when one did.
struct GcTarget {
  std::uint64_t used = 0;
  std::uint64_t target = 0;
};

GcTarget gc_target(Store& store, std::uint64_t entries, double avg_entry_bytes) {
  if (auto r = store.flush_recency(); !r) {
    throw std::runtime_error("flush_recency: " + r.error().message);
  }
  const std::uint64_t used = store.space().used;
  const auto want = static_cast<std::uint64_t>(static_cast<double>(entries) * avg_entry_bytes);
  return {used, used > want ? used - want : 0};
}

GcReport run_gc(Store& store, const GcTarget& target) {
  GcOptions options;
  options.target = target.target;
  auto report = store.gc(options);
  if (!report) {
    throw std::runtime_error("gc: " + report.error().message);
  }
  if (report->before != target.used) {
    std::printf("note: the index was re-measured between setting the target and the GC (used "
                "%.1f -> %.1f MB), so it evicts more or less than asked\n",
                static_cast<double>(target.used) / k_mb,
                static_cast<double>(report->before) / k_mb);
  }
  return std::move(*report);
}

// idle: reading, not recording (warm-up); paused: not reading (while the GC target is set).
enum class Phase : int { idle, baseline, paused, during_gc, stop };

// Reads random blobs of the hot set (stat, open_read, read to the end) until told to stop,
// recording each operation's latency in the window it started in.
class Reader {
public:
  Reader(Store& store, const std::vector<Hash>& hot, const std::atomic<Phase>& phase,
         std::uint64_t seed)
      : m_store(store), m_hot(hot), m_phase(phase), m_seed(seed) {}

  void run() {
    std::vector<std::uint8_t> buf(4096);
    std::uint64_t state = m_seed;
    for (;;) {
      const Phase phase = m_phase.load(std::memory_order_relaxed);
      if (phase == Phase::stop) {
        return;
      }
      if (phase == Phase::paused) {
        m_parked.store(true);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      m_parked.store(false);
      const Hash& h = m_hot[splitmix(state) % m_hot.size()];
      const auto started = Clock::now();
      const bool ok = read_one(h, buf);
      const auto ns = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
      if (!ok) {
        ++m_errors;
      }
      if (phase == Phase::baseline) {
        m_baseline.record(ns);
      } else if (phase == Phase::during_gc) {
        m_during_gc.record(ns);
      }
    }
  }

  const LatencyHistogram& baseline() const { return m_baseline; }
  const LatencyHistogram& during_gc() const { return m_during_gc; }
  std::uint64_t errors() const { return m_errors; }
  bool parked() const { return m_parked.load(); }

private:
  bool read_one(const Hash& h, std::vector<std::uint8_t>& buf) {
    if (!m_store.stat(h)) {
      return false;
    }
    auto reader = m_store.open_read(h);
    if (!reader) {
      return false;
    }
    for (;;) {
      auto n = (*reader)->read(buf);
      if (!n) {
        return false;
      }
      if (*n == 0) {
        return true;
      }
    }
  }

  Store& m_store;
  const std::vector<Hash>& m_hot;
  const std::atomic<Phase>& m_phase;
  std::uint64_t m_seed;
  LatencyHistogram m_baseline;
  LatencyHistogram m_during_gc;
  std::uint64_t m_errors = 0;
  std::atomic<bool> m_parked{false};
};

LatencyResult measure_reads_during_gc(Store& store, const std::vector<Hash>& hot, const Args& args,
                                      std::uint64_t evict, double avg_entry_bytes) {
  std::atomic<Phase> phase{Phase::idle};
  std::vector<std::unique_ptr<Reader>> readers;
  std::vector<std::thread> threads;
  for (unsigned r = 0; r < args.readers; ++r) {
    readers.push_back(std::make_unique<Reader>(store, hot, phase, 1000 + r));
    threads.emplace_back([&reader = *readers.back()] { reader.run(); });
  }
  LatencyResult result;
  std::this_thread::sleep_for(std::chrono::milliseconds(500)); // warm the caches first
  phase = Phase::baseline;
  const auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(args.baseline_s));
  result.baseline_s = seconds_since(started);
  // The readers pause while the target is set, so that the flush of their uses inside gc()
  // is short and the store's figure for what is used does not move in between (gc_target).
  phase = Phase::paused;
  while (!std::all_of(readers.begin(), readers.end(), [](const auto& r) { return r->parked(); })) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  std::optional<std::string> error;
  try {
    const GcTarget target = gc_target(store, evict, avg_entry_bytes);
    phase = Phase::during_gc;
    const auto gc_started = Clock::now();
    result.gc = run_gc(store, target);
    result.during_gc_s = seconds_since(gc_started);
  } catch (const std::exception& e) {
    error = e.what();
  }
  phase = Phase::stop;
  for (auto& t : threads) {
    t.join();
  }
  if (error) {
    throw std::runtime_error(*error);
  }
  for (const auto& reader : readers) {
    result.baseline.merge(reader->baseline());
    result.during_gc.merge(reader->during_gc());
    result.errors += reader->errors();
  }
  return result;
}

double avg_small_entry_bytes() {
  return static_cast<double>(k_small_min) + static_cast<double>(k_small_span - 1) / 2 +
         static_cast<double>(k_record_overhead);
}

// Part 1 and 3 on one store: fill, reopen, evict without readers, then read while evicting.
void run_main_store(const Args& args, const fs::path& root, Summary& s) {
  const std::uint64_t evict =
      args.evict.value_or(std::min<std::uint64_t>(100'000, args.entries / 5));
  ScratchDir dir(root);
  BenchClock clock;
  s.entries = args.entries;
  std::printf("== 1. start-up with %llu entries (%s)\n",
              static_cast<unsigned long long>(args.entries), dir.path().c_str());
  {
    auto store = open_store(dir.path(), clock);
    s.fill = fill(*store, args.entries, args.threads, args.hot, small_size);
    const auto space = store->space();
    std::printf("fill: %llu blobs of 64-200 bytes (%.1f MB) from %u threads in %.2f s = "
                "%.0f puts/s; data dir %.1f MB\n",
                static_cast<unsigned long long>(args.entries),
                static_cast<double>(s.fill.bytes) / k_mb, args.threads, s.fill.seconds,
                static_cast<double>(args.entries) / s.fill.seconds,
                static_cast<double>(space.used) / k_mb);
    const auto closing = Clock::now();
    store.reset();
    std::printf("close after the fill: %.1f ms\n", seconds_since(closing) * 1e3);
  }
  s.opens = time_opens(dir.path(), clock, 3);
  std::printf("Store::open: first after the fill %.1f ms; reopens", s.opens.first_s * 1e3);
  for (const double t : s.opens.reopens_s) {
    std::printf(" %.1f", t * 1e3);
  }
  std::printf(" ms; median %.1f ms\n", s.opens.median_s * 1e3);

  auto store = open_store(dir.path(), clock);
  warm_hot_set(*store, clock, s.fill.hot);

  std::printf("\n== 2. eviction rate: the oldest ~%llu inline entries of %llu, no readers\n",
              static_cast<unsigned long long>(evict),
              static_cast<unsigned long long>(args.entries));
  s.gc_small = run_gc(*store, gc_target(*store, evict, avg_small_entry_bytes()));
  print_gc("gc", s.gc_small);

  std::printf("\n== 3. GET latency of %zu hot blobs (stat + open_read + read all), %u reader(s): "
              "%.1f s without GC, then during a GC evicting the next ~%llu entries\n",
              s.fill.hot.size(), args.readers, args.baseline_s,
              static_cast<unsigned long long>(evict));
  s.latency = measure_reads_during_gc(*store, s.fill.hot, args, evict, avg_small_entry_bytes());
  print_latency("no GC", s.latency.baseline, s.latency.baseline_s);
  print_latency("during GC", s.latency.during_gc, s.latency.during_gc_s);
  print_gc("gc (with readers)", s.latency.gc);
  if (s.latency.errors > 0) {
    std::printf("WARNING: %llu reads of hot blobs failed: the GC evicted blobs it should not "
                "have\n",
                static_cast<unsigned long long>(s.latency.errors));
  }
}

// Part 2 on a store with file blobs too, where the MB/s means something: an evicted file is an
// unlink, an evicted inline blob a few index deletes.
void run_mixed_store(const Args& args, const fs::path& root, Summary& s) {
  const std::uint64_t count = args.mixed_entries;
  const std::uint64_t evict = std::min<std::uint64_t>(100'000, count / 2);
  const auto size_of = [](std::uint64_t i) {
    return i % k_file_every == 0 ? k_file_size : small_size(i);
  };
  const double avg_bytes = (static_cast<double>(k_file_every - 1) * (avg_small_entry_bytes()) +
                            static_cast<double>(k_file_size + k_record_overhead)) /
                           static_cast<double>(k_file_every);
  ScratchDir dir(root);
  BenchClock clock;
  std::printf("\n== 2b. eviction rate: mixed store of %llu blobs, 1 in 10 a 64 KiB file (%s)\n",
              static_cast<unsigned long long>(count), dir.path().c_str());
  {
    auto store = open_store(dir.path(), clock);
    const auto filled = fill(*store, count, args.threads, 0, size_of);
    std::printf("fill: %.1f MB in %.2f s = %.0f puts/s\n", static_cast<double>(filled.bytes) / k_mb,
                filled.seconds, static_cast<double>(count) / filled.seconds);
  }
  auto store = open_store(dir.path(), clock);
  const auto report = run_gc(*store, gc_target(*store, evict, avg_bytes));
  print_gc("gc", report);
  s.gc_mixed = report;
  s.mixed_entries = count;
}

} // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  const fs::path root = bench_root(args);
  try {
    fs::create_directories(root);
    std::printf("gc_bench: stores under %s; %u cores, %u fill threads\n", root.c_str(),
                std::thread::hardware_concurrency(), args.threads);
    if (on_tmpfs(root)) {
      std::printf("WARNING: %s is a tmpfs: fsync and file creation are free there, and the "
                  "figures flattered\n",
                  root.c_str());
    }
    Summary summary;
    run_main_store(args, root, summary);
    if (args.mixed_entries >= 20) {
      run_mixed_store(args, root, summary);
    }
    print_summary(summary, args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gc_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
