// Micro-benchmarks for the storage engine (cas/). bench/run builds them in Release, sets the
// figures that have targets beside OpenSSL's own SHA-256 rate, and bench/README.md records what
// they showed on the reference machine.
//
// Stores live under $INGOT_BENCH_DIR (else $TMPDIR, else /tmp). It must be a real disk: a tmpfs
// makes fsync and file creation free and flatters every write figure.

#include "cas/digest.hpp"
#include "cas/store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/vfs.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

namespace fs = std::filesystem;
using namespace ingot;
using namespace ingot::cas;

constexpr std::int64_t k_kib = 1024;
constexpr std::int64_t k_mib = 1024 * k_kib;
// Uploads arrive through begin_write/append in chunks of this size (the server's body buffer).
constexpr std::size_t k_chunk = static_cast<std::size_t>(k_mib);
constexpr long k_tmpfs_magic = 0x01021994;

fs::path bench_root() {
  for (const char* var : {"INGOT_BENCH_DIR", "TMPDIR"}) {
    if (const char* value = std::getenv(var); value != nullptr && *value != '\0') {
      return value;
    }
  }
  return "/tmp";
}

// A fresh directory under bench_root(), removed with everything in it.
class ScratchDir {
public:
  ScratchDir() {
    fs::create_directories(bench_root());
    std::string pattern = (bench_root() / "ingot-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed under " + bench_root().string());
    }
    m_path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const fs::path& path() const { return m_path; }

private:
  fs::path m_path;
};

// splitmix64: random bytes that no codec can shrink, made fast.
std::vector<std::uint8_t> random_bytes(std::size_t size, std::uint64_t seed) {
  std::vector<std::uint8_t> out(size);
  std::uint64_t state = seed;
  for (std::size_t i = 0; i < size; i += 8) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(out.data() + i, &z, std::min<std::size_t>(8, size - i));
  }
  return out;
}

// Makes each put a blob the store has not seen: a counter in the first bytes.
void stamp(std::vector<std::uint8_t>& data, std::uint64_t counter) {
  std::memcpy(data.data(), &counter, std::min(sizeof(counter), data.size()));
}

std::unique_ptr<Store> open_store(benchmark::State& state, const fs::path& dir,
                                  StoreOptions options = {}) {
  options.dir = dir;
  auto store = Store::open(options);
  if (!store) {
    state.SkipWithError(("open: " + store.error().message).c_str());
    return nullptr;
  }
  return std::move(*store);
}

// The path every upload takes: begin_write, append in chunks, commit.
Result<Digest> streamed_put(Store& store, ByteView data) {
  auto writer = store.begin_write();
  if (!writer) {
    return std::move(writer).error();
  }
  for (std::size_t at = 0; at < data.size(); at += k_chunk) {
    INGOT_TRY((*writer)->append(data.subspan(at, std::min(k_chunk, data.size() - at))));
  }
  return (*writer)->commit();
}

// Reads a blob fully through open_read; returns the bytes read.
Result<std::uint64_t> read_fully(Store& store, const Hash& hash, std::vector<std::uint8_t>& buf) {
  auto reader = store.open_read(hash);
  if (!reader) {
    return std::move(reader).error();
  }
  std::uint64_t total = 0;
  for (;;) {
    auto n = (*reader)->read(buf);
    if (!n) {
      return std::move(n).error();
    }
    if (*n == 0) {
      return total;
    }
    total += *n;
  }
}

// Stores `count` distinct blobs of `size` bytes; empty on failure (reported through state).
std::vector<Hash> populate(benchmark::State& state, Store& store, std::size_t size,
                           std::size_t count) {
  auto data = random_bytes(size, 7);
  std::vector<Hash> hashes;
  for (std::size_t i = 0; i < count; ++i) {
    stamp(data, i);
    auto d = streamed_put(store, data);
    if (!d) {
      state.SkipWithError(("populate: " + d.error().message).c_str());
      return {};
    }
    hashes.push_back(d->hash);
  }
  return hashes;
}

void set_rates(benchmark::State& state, std::int64_t bytes_per_item) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * bytes_per_item);
}

// --- put: a new blob each iteration, incompressible, default options (automatic compression).
void BM_put(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  ScratchDir dir;
  auto store = open_store(state, dir.path());
  if (!store) {
    return;
  }
  auto data = random_bytes(size, 1);
  std::uint64_t counter = 0;
  for (auto _ : state) {
    stamp(data, ++counter);
    if (auto d = streamed_put(*store, data); !d) {
      state.SkipWithError(d.error().message.c_str());
      break;
    }
  }
  set_rates(state, state.range(0));
}
BENCHMARK(BM_put)->Arg(1 * k_kib)->Arg(64 * k_kib)->Arg(16 * k_mib)->UseRealTime();

// --- put of 16 MiB with compression off vs automatic: the cost of the writer trying zstd on
// data that will not shrink.
void BM_put_compression(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto compression = state.range(1) == 0 ? Compression::off : Compression::automatic;
  state.SetLabel(compression == Compression::off ? "off" : "automatic");
  ScratchDir dir;
  StoreOptions options;
  options.compression = compression;
  auto store = open_store(state, dir.path(), options);
  if (!store) {
    return;
  }
  auto data = random_bytes(size, 2);
  std::uint64_t counter = 0;
  for (auto _ : state) {
    stamp(data, ++counter);
    if (auto d = streamed_put(*store, data); !d) {
      state.SkipWithError(d.error().message.c_str());
      break;
    }
  }
  set_rates(state, state.range(0));
}
BENCHMARK(BM_put_compression)->Args({16 * k_mib, 0})->Args({16 * k_mib, 1})->UseRealTime();

// --- warm get: read fully through open_read, cycling over enough distinct blobs that index
// lookups are not all the same key, all of them already read once (page cache, block cache).
void BM_get(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  ScratchDir dir;
  auto store = open_store(state, dir.path());
  if (!store) {
    return;
  }
  const std::size_t count = std::clamp<std::size_t>(64 * k_mib / size, 1, 4096);
  auto hashes = populate(state, *store, size, count);
  if (hashes.empty()) {
    return;
  }
  std::vector<std::uint8_t> buf(std::min(size, k_chunk));
  for (const auto& h : hashes) {
    if (auto n = read_fully(*store, h, buf); !n || *n != size) {
      state.SkipWithError("warm-up read failed or came back short");
      return;
    }
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto n = read_fully(*store, hashes[i++ % count], buf);
    if (!n) {
      state.SkipWithError(n.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  set_rates(state, state.range(0));
}
BENCHMARK(BM_get)->Arg(1 * k_kib)->Arg(64 * k_kib)->Arg(16 * k_mib)->UseRealTime();

// --- SHA-256 alone, through the same Sha256 class the store uses: the ceiling for a put.
void BM_sha256(benchmark::State& state) {
  auto data = random_bytes(static_cast<std::size_t>(state.range(0)), 3);
  for (auto _ : state) {
    Sha256 sha;
    sha.update(data);
    benchmark::DoNotOptimize(sha.finish());
  }
  set_rates(state, state.range(0));
}
BENCHMARK(BM_sha256)->Arg(16 * k_mib);

// --- the disk's own ceiling for a put: write a new file in 1 MiB chunks, fsync it, rename it,
// as the store does, with no hashing. A put cannot beat this; compare BM_put/16777216 with it.
void BM_file_write_fsync(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  ScratchDir dir;
  auto data = random_bytes(size, 5);
  std::uint64_t counter = 0;
  for (auto _ : state) {
    const auto tmp = dir.path() / "tmp";
    const auto dst = dir.path() / std::to_string(++counter);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    for (std::size_t at = 0; ok && at < size; at += k_chunk) {
      const auto n = std::min(k_chunk, size - at);
      ok = ::write(fd, data.data() + at, n) == static_cast<ssize_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    ok = fd >= 0 && ::close(fd) == 0 && ok;
    ok = ok && ::rename(tmp.c_str(), dst.c_str()) == 0;
    if (!ok) {
      state.SkipWithError("writing a file failed");
      break;
    }
    // Keep the directory small, as blobs/ shards keep it.
    state.PauseTiming();
    ::unlink(dst.c_str());
    state.ResumeTiming();
  }
  set_rates(state, state.range(0));
}
BENCHMARK(BM_file_write_fsync)->Arg(16 * k_mib)->UseRealTime();

// --- reopen: Store::open + close of a data dir holding N blobs. Accounting is persisted, so this
// must not grow with N. Each N is populated once per process, outside the timed region.
struct PreparedStore {
  ScratchDir dir;
  double first_open_ms = 0; // the open right after the writes (RocksDB replays its log)
};

// 1 in 10 blobs is a file (20 KiB), the rest are inline (512 B): an open that scanned blobs/
// or the index would show it.
std::unique_ptr<PreparedStore> prepare_store(benchmark::State& state, std::int64_t n) {
  auto prepared = std::make_unique<PreparedStore>();
  auto store = open_store(state, prepared->dir.path());
  if (!store) {
    return nullptr;
  }
  // Several writers, so that RocksDB groups their log syncs and setup takes seconds, not minutes.
  constexpr int k_threads = 4;
  std::atomic<std::int64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      auto small = random_bytes(512, 100 + static_cast<std::uint64_t>(t));
      auto large = random_bytes(20 * k_kib, 200 + static_cast<std::uint64_t>(t));
      for (std::int64_t i; (i = next++) < n && !failed;) {
        auto& data = i % 10 == 0 ? large : small;
        stamp(data, static_cast<std::uint64_t>(i));
        if (!store->put(data)) {
          failed = true;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  if (failed || store->usage().blobs < static_cast<std::uint64_t>(n)) {
    state.SkipWithError("populating the store failed");
    return nullptr;
  }
  store.reset();
  auto start = std::chrono::steady_clock::now();
  store = open_store(state, prepared->dir.path());
  store.reset();
  prepared->first_open_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return prepared;
}

void BM_reopen(benchmark::State& state) {
  static std::map<std::int64_t, std::unique_ptr<PreparedStore>> prepared;
  auto& slot = prepared[state.range(0)];
  if (!slot) {
    slot = prepare_store(state, state.range(0));
    if (!slot) {
      return;
    }
  }
  std::uint64_t blobs = 0;
  for (auto _ : state) {
    auto store = Store::open(StoreOptions{.dir = slot->dir.path()});
    if (!store) {
      state.SkipWithError(store.error().message.c_str());
      break;
    }
    blobs = (*store)->usage().blobs;
  }
  state.counters["blobs"] = static_cast<double>(blobs);
  state.counters["first_open_ms"] = slot->first_open_ms;
}
BENCHMARK(BM_reopen)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// --- inline-threshold sweep: the same sizes stored inline in the index or as files, chosen
// through StoreOptions::inline_threshold ("up to this size is inline"). Args: size, placement
// (0 inline, 1 file).
StoreOptions placement_options(std::int64_t size, std::int64_t placement) {
  StoreOptions options;
  options.inline_threshold = static_cast<std::uint64_t>(placement == 0 ? size : size - 1);
  return options;
}

bool placed_as_asked(benchmark::State& state, Store& store, const Hash& hash) {
  auto info = store.stat(hash);
  const bool want_inline = state.range(1) == 0;
  if (!info || info->is_inline != want_inline) {
    state.SkipWithError(want_inline ? "blob was not stored inline" : "blob was stored inline");
    return false;
  }
  return true;
}

void BM_sweep_put(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  state.SetLabel(state.range(1) == 0 ? "inline" : "file");
  ScratchDir dir;
  auto store = open_store(state, dir.path(), placement_options(state.range(0), state.range(1)));
  if (!store) {
    return;
  }
  auto data = random_bytes(size, 4);
  std::uint64_t counter = 0;
  std::optional<Hash> first;
  for (auto _ : state) {
    stamp(data, ++counter);
    auto d = streamed_put(*store, data);
    if (!d) {
      state.SkipWithError(d.error().message.c_str());
      break;
    }
    if (!first) {
      first = d->hash;
    }
  }
  if (first && placed_as_asked(state, *store, *first)) {
    set_rates(state, state.range(0));
  }
}

void BM_sweep_get(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  state.SetLabel(state.range(1) == 0 ? "inline" : "file");
  ScratchDir dir;
  auto store = open_store(state, dir.path(), placement_options(state.range(0), state.range(1)));
  if (!store) {
    return;
  }
  const std::size_t count = std::clamp<std::size_t>(64 * k_mib / size, 1, 4096);
  auto hashes = populate(state, *store, size, count);
  if (hashes.empty() || !placed_as_asked(state, *store, hashes[0])) {
    return;
  }
  std::vector<std::uint8_t> buf(std::min(size, k_chunk));
  for (const auto& h : hashes) {
    if (auto n = read_fully(*store, h, buf); !n || *n != size) {
      state.SkipWithError("warm-up read failed or came back short");
      return;
    }
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto n = read_fully(*store, hashes[i++ % count], buf);
    if (!n) {
      state.SkipWithError(n.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  set_rates(state, state.range(0));
}

void sweep_args(benchmark::internal::Benchmark* b) {
  for (std::int64_t size : {4 * k_kib, 16 * k_kib, 32 * k_kib, 64 * k_kib, 256 * k_kib}) {
    b->Args({size, 0})->Args({size, 1});
  }
}
BENCHMARK(BM_sweep_put)->Apply(sweep_args)->UseRealTime();
BENCHMARK(BM_sweep_get)->Apply(sweep_args)->UseRealTime();

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  const fs::path root = bench_root();
  benchmark::AddCustomContext("bench_dir", root.string());
  fs::create_directories(root);
  if (struct statfs fs_info{};
      ::statfs(root.c_str(), &fs_info) == 0 && static_cast<long>(fs_info.f_type) == k_tmpfs_magic) {
    benchmark::AddCustomContext("warning", root.string() +
                                               " is a tmpfs: write figures are not disk figures; "
                                               "set INGOT_BENCH_DIR to a directory on disk");
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
