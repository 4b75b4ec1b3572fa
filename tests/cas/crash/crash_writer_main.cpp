// The victim of the crash test: writes blobs into a Store forever and acknowledges each one on
// stdout only after commit() (or ns_put()) has returned, so that the parent may SIGKILL it at
// any instant and then hold the store to everything it was told.
//
// Usage: crash_writer DATA_DIR SEED
//
// Output, one line per acknowledgement, each line written with a single write(2) to fd 1: a pipe
// write of at most PIPE_BUF bytes is atomic, so lines from the two writer threads never
// interleave and nothing sits in a stdio buffer when the kill comes.
//   blob <hex> <size>
//   kv <key> <hex> <size>
// Anything that goes wrong is reported on stderr and ends the process with status 2, which the
// parent reports as a failure (it expects death by SIGKILL only).

#include "cas/digest.hpp"
#include "cas/store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace ingot;
using namespace ingot::cas;

constexpr std::size_t k_kib = 1024;
constexpr std::size_t k_mib = 1024 * k_kib;
// Two threads, so that kills also land between concurrent index commits. The parent's bounds on
// unacknowledged-but-committed blobs depend on this number (one in flight per thread).
constexpr int k_writer_threads = 2;

[[noreturn]] void die(const std::string& what) {
  std::string line = "crash_writer: " + what + "\n";
  // Best effort: stderr is the test's stderr, shown by ctest on failure.
  [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
  // _exit, not exit: the other writer thread is still using the store.
  ::_exit(2);
}

// One acknowledgement line, written whole or not at all.
void acknowledge(const std::string& line) {
  static_assert(PIPE_BUF >= 512, "an acknowledgement line must fit one atomic pipe write");
  if (line.size() > PIPE_BUF) {
    die("acknowledgement line too long for an atomic pipe write");
  }
  for (;;) {
    ssize_t n = ::write(1, line.data(), line.size());
    if (n == static_cast<ssize_t>(line.size())) {
      return;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    die("writing to stdout failed: " + std::string(std::strerror(errno)));
  }
}

// splitmix64: fast, and good enough to make incompressible bytes.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : m_state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform enough in [lo, hi] for picking sizes.
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }

private:
  std::uint64_t m_state;
};

// Sizes straddle the store's layouts: inline in the index (up to 16 KiB, under the default),
// ordinary files (~100 KiB), and files big enough that a kill often lands mid-stream (~2 MiB).
std::size_t pick_size(Rng& rng) {
  auto roll = rng.next() % 100;
  if (roll < 50) {
    return rng.between(1, 16 * k_kib);
  }
  if (roll < 90) {
    return rng.between(80 * k_kib, 120 * k_kib);
  }
  return rng.between(3 * k_mib / 2, 5 * k_mib / 2);
}

// Half the blobs are random bytes (stored raw), half have 3 bits of entropy per byte (worth
// compressing), so both codecs are on disk when the kill comes. The first 16 bytes carry the
// writer's identity and a counter, so every blob is new to the store.
void fill(Rng& rng, std::vector<std::uint8_t>& data, std::uint64_t id, std::uint64_t counter) {
  const bool compressible = (rng.next() & 1) != 0;
  for (std::size_t i = 0; i < data.size(); i += 8) {
    std::uint64_t word = rng.next();
    if (compressible) {
      word = (word & 0x0707070707070707ULL) | 0x6060606060606060ULL; // 'a'..'g'-ish letters
    }
    std::memcpy(data.data() + i, &word, std::min<std::size_t>(8, data.size() - i));
  }
  std::uint8_t stamp[16];
  std::memcpy(stamp, &id, 8);
  std::memcpy(stamp + 8, &counter, 8);
  std::memcpy(data.data(), stamp, std::min(sizeof(stamp), data.size()));
}

Digest store_blob(Store& store, Rng& rng, const std::vector<std::uint8_t>& data) {
  const Digest expected = digest_of(ByteView(data));
  // Exercise both entry points and both "expected digest given / not given" paths.
  const bool pass_expected = (rng.next() & 1) != 0;
  Result<Digest> committed = make_error(Errc::io, "not written");
  if (data.size() <= 16 * k_kib && (rng.next() & 1) != 0) {
    committed = store.put(ByteView(data), pass_expected ? std::optional(expected) : std::nullopt);
  } else {
    auto writer = store.begin_write(pass_expected ? std::optional(expected) : std::nullopt);
    if (!writer) {
      die("begin_write: " + writer.error().message);
    }
    // Uneven chunks, as a network stream would deliver them.
    for (std::size_t at = 0; at < data.size();) {
      std::size_t n = std::min<std::size_t>(rng.between(1, 256 * k_kib), data.size() - at);
      if (auto r = (*writer)->append(ByteView(data).subspan(at, n)); !r) {
        die("append: " + r.error().message);
      }
      at += n;
    }
    committed = (*writer)->commit();
  }
  if (!committed) {
    die("commit of " + expected.to_string() + ": " + committed.error().message);
  }
  if (*committed != expected) {
    die("commit returned " + committed->to_string() + " for content with digest " +
        expected.to_string());
  }
  return *committed;
}

void write_forever(Store& store, std::uint64_t seed, int thread) {
  Rng rng(seed * 0x100000001b3ULL + static_cast<std::uint64_t>(thread) + 1);
  const std::uint64_t id = (seed << 8) | static_cast<std::uint64_t>(thread);
  std::vector<std::uint8_t> data;
  for (std::uint64_t counter = 0;; ++counter) {
    data.resize(pick_size(rng));
    fill(rng, data, id, counter);
    const Digest digest = store_blob(store, rng, data);
    acknowledge("blob " + digest.hex() + " " + std::to_string(digest.size) + "\n");

    // Now and then name the blob under a kv key, as a ccache client would.
    if (rng.next() % 8 == 0) {
      std::string key = "crash/" + std::to_string(seed) + "/" + std::to_string(thread) + "/" +
                        std::to_string(counter);
      if (auto r = store.ns_put(Namespace::kv, key, digest); !r) {
        die("ns_put " + key + ": " + r.error().message);
      }
      acknowledge("kv " + key + " " + digest.hex() + " " + std::to_string(digest.size) + "\n");
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    die("usage: crash_writer DATA_DIR SEED");
  }
  char* end = nullptr;
  const std::uint64_t seed = std::strtoull(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0') {
    die(std::string("SEED must be a decimal number, got '") + argv[2] + "'");
  }

  StoreOptions options;
  options.dir = argv[1];
  auto store = Store::open(options);
  if (!store) {
    die("open " + options.dir.string() + ": " + store.error().message);
  }

  std::vector<std::thread> threads;
  for (int t = 0; t < k_writer_threads; ++t) {
    threads.emplace_back([&store, seed, t] { write_forever(**store, seed, t); });
  }
  for (auto& t : threads) {
    t.join();
  }
  return 0; // not reached: the writers only stop by being killed or by die()
}
