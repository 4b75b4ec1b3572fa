// Many threads on one Store: the header promises any number of concurrent readers, writers
// and deleters. Iterations are bounded and nothing sleeps; threads start together on a
// barrier so that their operations really overlap.
#include "cas/store.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"
#include "util/bytes.hpp"

#include <atomic>
#include <barrier>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

using test::compressible_text;
using test::expect_same_usage;
using test::random_bytes;
using test::read_and_hash;
using test::TempDir;
using test::tmp_files;
using test::write_in_chunks;

constexpr int k_threads = 8;
constexpr std::uint64_t k_threshold = 4096;

struct Blob {
  std::string data;
  Digest digest;
};

// Sizes on both sides of the inline threshold, raw and compressible, all distinct.
std::vector<Blob> mixed_blobs(std::size_t count, std::uint64_t seed) {
  static constexpr std::size_t k_sizes[] = {
      1, 200, k_threshold - 1, k_threshold, k_threshold + 1, 3 * k_threshold, 40'000, 150'000};
  std::vector<Blob> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t size = k_sizes[i % std::size(k_sizes)];
    const std::uint64_t s = seed * 100'000 + i;
    Blob b;
    b.data = (i / std::size(k_sizes)) % 2 == 0 ? random_bytes(size, s) : compressible_text(size, s);
    // Tiny blobs collide by chance (one byte has 256 values): nudge them apart, since the
    // tests count blobs and need every one to be different.
    while (!seen.insert(digest_of(b.data).hex()).second) {
      b.data[0] = static_cast<char>(b.data[0] + 1);
    }
    b.digest = digest_of(b.data);
    out.push_back(std::move(b));
  }
  return out;
}

// Thread-safe collection of what went wrong, reported from the main thread.
class Failures {
public:
  void add(std::string what) {
    const std::lock_guard lock(m_mutex);
    ++m_count;
    if (m_first.size() < 10) {
      m_first.push_back(std::move(what));
    }
  }

  ::testing::AssertionResult none() const {
    const std::lock_guard lock(m_mutex);
    if (m_count == 0) {
      return ::testing::AssertionSuccess();
    }
    auto failure = ::testing::AssertionFailure();
    failure << m_count << " failures; the first:";
    for (const auto& f : m_first) {
      failure << "\n  " << f;
    }
    return failure;
  }

private:
  mutable std::mutex m_mutex;
  std::uint64_t m_count = 0;
  std::vector<std::string> m_first;
};

std::string describe(const Error& e) {
  return std::string(ingot::to_string(e.code)) + ": " + e.message;
}

class ConcurrencyTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_options.dir = m_tmp.path() / "data";
    m_options.inline_threshold = k_threshold;
    m_options.compression = Compression::automatic;
    ASSERT_NO_FATAL_FAILURE(open_store());
    m_base = m_store->usage();
  }

  void open_store() {
    auto store = Store::open(m_options);
    ASSERT_TRUE(store) << store.error().message;
    m_store = std::move(*store);
  }

  // The persisted counters saw the same concurrent commits as the ones in memory.
  void expect_usage_survives_reopen() {
    const Usage before = m_store->usage();
    m_store.reset();
    ASSERT_NO_FATAL_FAILURE(open_store());
    expect_same_usage(m_store->usage(), before);
  }

  Store& store() { return *m_store; }

  // usage() must equal the sum over exactly the blobs that are present.
  void expect_usage_counts(const std::vector<const Blob*>& present) {
    Usage expected = m_base;
    for (const Blob* b : present) {
      const auto info = m_store->stat(b->digest.hash);
      ASSERT_TRUE(info) << info.error().message;
      expected.blobs += 1;
      expected.logical_bytes += b->data.size();
      expected.stored_bytes += info->stored_size;
    }
    const Usage actual = m_store->usage();
    EXPECT_EQ(actual.blobs, expected.blobs);
    EXPECT_EQ(actual.logical_bytes, expected.logical_bytes);
    EXPECT_EQ(actual.stored_bytes, expected.stored_bytes);
  }

  // Index and files agree: nothing indexed without its file, nothing damaged.
  void expect_consistent_on_disk() {
    const auto report = m_store->scrub();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->corrupt.empty()) << report->corrupt.size() << " corrupt";
    EXPECT_TRUE(report->missing.empty()) << report->missing.size() << " missing";
    EXPECT_EQ(report->checked, m_store->usage().blobs);
    EXPECT_EQ(tmp_files(m_options.dir).size(), 0U) << "files left in tmp/";
  }

  TempDir m_tmp;
  StoreOptions m_options;
  std::unique_ptr<Store> m_store;
  Usage m_base;
};

TEST_F(ConcurrencyTest, WritersOfTheSameBlobAllSucceedAndItIsCountedOnce) {
  const auto blobs = mixed_blobs(24, 1);
  Failures failures;
  std::barrier start(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      for (const Blob& b : blobs) {
        start.arrive_and_wait(); // every thread writes this blob at the same time
        // Half the writers declare the digest up front, as an HTTP PUT does.
        const std::optional<Digest> expected =
            t % 2 == 0 ? std::optional<Digest>(b.digest) : std::nullopt;
        const auto d =
            write_in_chunks(store(), b.data, 1000 + 97 * static_cast<std::size_t>(t), expected);
        if (!d) {
          failures.add("write of " + b.digest.to_string() + ": " + describe(d.error()));
        } else if (*d != b.digest) {
          failures.add("write of " + b.digest.to_string() + " returned " + d->to_string());
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_TRUE(failures.none());

  std::vector<const Blob*> present;
  for (const Blob& b : blobs) {
    std::string bytes;
    const auto d = read_and_hash(store(), b.digest.hash, &bytes);
    ASSERT_TRUE(d) << b.digest.to_string() << ": " << describe(d.error());
    EXPECT_EQ(*d, b.digest);
    EXPECT_TRUE(bytes == b.data);
    present.push_back(&b);
  }
  expect_usage_counts(present);
  expect_consistent_on_disk();
  expect_usage_survives_reopen();
}

TEST_F(ConcurrencyTest, ReadersDuringWritesSeeNothingOrTheWholeBlob) {
  constexpr int k_writers = 4;
  constexpr int k_readers = k_threads - k_writers;
  const auto blobs = mixed_blobs(96, 2);
  std::vector<std::atomic<bool>> committed(blobs.size());
  std::atomic<std::size_t> commits{0};
  std::atomic<int> writers_running{k_writers};
  std::atomic<std::uint64_t> complete_reads{0};
  Failures failures;
  std::barrier start(k_threads);

  std::vector<std::thread> threads;
  for (int t = 0; t < k_writers; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::size_t i = static_cast<std::size_t>(t); i < blobs.size(); i += k_writers) {
        const auto d = write_in_chunks(store(), blobs[i].data, 4093);
        if (!d || *d != blobs[i].digest) {
          failures.add("write " + std::to_string(i) + " failed or returned the wrong digest");
        } else {
          committed[i].store(true, std::memory_order_release);
          commits.fetch_add(1, std::memory_order_relaxed);
        }
      }
      writers_running.fetch_sub(1);
    });
  }
  for (int t = 0; t < k_readers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      start.arrive_and_wait();
      // Bounded: the writers finish after a fixed amount of work; the cap is a backstop.
      for (int iteration = 0; iteration < 200'000 && writers_running.load() > 0; ++iteration) {
        // Half the reads aim at the blobs being written right now.
        const std::size_t frontier = commits.load(std::memory_order_relaxed);
        const std::size_t i =
            rng() % 2 == 0 ? (frontier + rng() % 8) % blobs.size() : rng() % blobs.size();
        const bool was_committed = committed[i].load(std::memory_order_acquire);
        const bool listed = store().contains(blobs[i].digest.hash);
        const auto d = read_and_hash(store(), blobs[i].digest.hash);
        if (d) {
          complete_reads.fetch_add(1, std::memory_order_relaxed);
          if (*d != blobs[i].digest) {
            failures.add("read of blob " + std::to_string(i) + " gave bytes hashing to " +
                         d->to_string() + ", expected " + blobs[i].digest.to_string());
          }
        } else if (d.error().code != Errc::not_found) {
          failures.add("read of blob " + std::to_string(i) + ": " + describe(d.error()));
        } else if (was_committed || listed) {
          failures.add("blob " + std::to_string(i) + " not found after " +
                       (was_committed ? "its commit returned" : "contains() reported it"));
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_TRUE(failures.none());

  std::vector<const Blob*> present;
  for (const Blob& b : blobs) {
    const auto d = read_and_hash(store(), b.digest.hash);
    ASSERT_TRUE(d) << b.digest.to_string() << ": " << describe(d.error());
    EXPECT_EQ(*d, b.digest);
    present.push_back(&b);
  }
  expect_usage_counts(present);
  expect_consistent_on_disk();
  expect_usage_survives_reopen();
}

TEST_F(ConcurrencyTest, ReadersDuringRemovesSeeNothingOrTheWholeBlob) {
  constexpr int k_mutators = 2;
  constexpr int k_readers = k_threads - k_mutators;
  const auto blobs = mixed_blobs(24, 3);
  for (const Blob& b : blobs) {
    const auto d = store().put(as_bytes(b.data));
    ASSERT_TRUE(d) << describe(d.error());
  }
  std::atomic<int> mutators_running{k_mutators};
  Failures failures;
  std::barrier start(k_threads);

  std::vector<std::thread> threads;
  for (int t = 0; t < k_mutators; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + static_cast<std::uint64_t>(t));
      start.arrive_and_wait();
      for (int iteration = 0; iteration < 300; ++iteration) {
        const Blob& b = blobs[rng() % blobs.size()];
        const auto removed = store().remove(b.digest.hash);
        if (!removed && removed.error().code != Errc::not_found) {
          failures.add("remove " + b.digest.to_string() + ": " + describe(removed.error()));
        }
        if (rng() % 2 == 0) {
          const auto d = store().put(as_bytes(b.data));
          if (!d || *d != b.digest) {
            failures.add("re-put " + b.digest.to_string() + " failed");
          }
        }
      }
      mutators_running.fetch_sub(1);
    });
  }
  for (int t = 0; t < k_readers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      start.arrive_and_wait();
      for (int iteration = 0; iteration < 200'000 && mutators_running.load() > 0; ++iteration) {
        const Blob& b = blobs[rng() % blobs.size()];
        const auto d = read_and_hash(store(), b.digest.hash);
        if (d && *d != b.digest) {
          failures.add("read of " + b.digest.to_string() + " gave bytes hashing to " +
                       d->to_string());
        } else if (!d && d.error().code != Errc::not_found) {
          failures.add("read of " + b.digest.to_string() + ": " + describe(d.error()));
        }
        const auto info = store().stat(b.digest.hash);
        if (info && info->digest != b.digest) {
          failures.add("stat of " + b.digest.to_string() + " gave " + info->digest.to_string());
        } else if (!info && info.error().code != Errc::not_found) {
          failures.add("stat of " + b.digest.to_string() + ": " + describe(info.error()));
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_TRUE(failures.none());

  // Whatever survived is whole, and usage counts exactly the survivors.
  std::vector<const Blob*> present;
  for (const Blob& b : blobs) {
    if (store().contains(b.digest.hash)) {
      const auto got = store().get(b.digest.hash);
      ASSERT_TRUE(got) << b.digest.to_string() << ": " << describe(got.error());
      EXPECT_TRUE(*got == b.data) << b.digest.to_string();
      present.push_back(&b);
    } else {
      const auto got = store().get(b.digest.hash);
      EXPECT_FALSE(got) << "contains() is false but get() succeeds for " << b.digest.to_string();
    }
  }
  expect_usage_counts(present);
  expect_consistent_on_disk();
  expect_usage_survives_reopen();
}

TEST_F(ConcurrencyTest, NamespaceWritersKeepExactEntryCounts) {
  std::vector<Digest> values;
  for (int t = 0; t < k_threads; ++t) {
    const auto d = store().put(as_bytes("value " + std::to_string(t)));
    ASSERT_TRUE(d) << describe(d.error());
    values.push_back(*d);
  }
  const std::set<std::string> allowed = [&] {
    std::set<std::string> s;
    for (const Digest& d : values) {
      s.insert(d.to_string());
    }
    return s;
  }();
  Failures failures;
  std::barrier start(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      const Digest& mine = values[static_cast<std::size_t>(t)];
      const std::string own_key = "own/" + std::to_string(t);
      const std::string churn_key = "churn/" + std::to_string(t);
      start.arrive_and_wait();
      for (int iteration = 0; iteration < 100; ++iteration) {
        // Everyone overwrites one shared key (kv is last-writer-wins) ...
        if (const auto r = store().ns_put(Namespace::kv, "shared", mine); !r) {
          failures.add("ns_put shared: " + describe(r.error()));
        }
        const auto shared = store().ns_get(Namespace::kv, "shared");
        if (!shared) {
          failures.add("ns_get shared: " + describe(shared.error()));
        } else if (allowed.count(shared->value.to_string()) == 0) {
          failures.add("shared holds a value nobody wrote: " + shared->value.to_string());
        }
        // ... and adds and removes keys of its own in both namespaces.
        if (const auto r = store().ns_put(Namespace::kv, own_key, mine); !r) {
          failures.add("ns_put own: " + describe(r.error()));
        }
        if (const auto r = store().ns_put(Namespace::ac, digest_of(churn_key).hex(), mine); !r) {
          failures.add("ns_put churn: " + describe(r.error()));
        }
        if (const auto r = store().ns_remove(Namespace::ac, digest_of(churn_key).hex()); !r) {
          failures.add("ns_remove churn: " + describe(r.error()));
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_TRUE(failures.none());

  const auto shared = store().ns_get(Namespace::kv, "shared");
  ASSERT_TRUE(shared) << describe(shared.error());
  EXPECT_EQ(allowed.count(shared->value.to_string()), 1U);
  for (int t = 0; t < k_threads; ++t) {
    const auto own = store().ns_get(Namespace::kv, "own/" + std::to_string(t));
    ASSERT_TRUE(own) << describe(own.error());
    EXPECT_EQ(own->value, values[static_cast<std::size_t>(t)]);
  }
  const Usage usage = store().usage();
  EXPECT_EQ(usage.kv_entries, m_base.kv_entries + k_threads + 1); // own keys and "shared"
  EXPECT_EQ(usage.ac_entries, m_base.ac_entries);
  EXPECT_EQ(usage.blobs, m_base.blobs + k_threads);
  expect_usage_survives_reopen();
}

// An admin runs fsck on a live server while clients and GC delete blobs. A blob deleted
// during the pass was not damaged: it must not be reported corrupt or missing, and verify()
// of it says not_found, not corrupt.
// Regression test: scrub() used to list blobs removed during the pass as missing, and verify()
// racing a remove returned corrupt.
TEST_F(ConcurrencyTest, ScrubAndVerifyDuringRemovesReportNoFalseDamage) {
  constexpr int k_removers = 4;
  constexpr int k_checkers = k_threads - k_removers;
  const auto blobs = mixed_blobs(160, 4);
  for (const Blob& b : blobs) {
    const auto d = store().put(as_bytes(b.data));
    ASSERT_TRUE(d) << describe(d.error());
  }
  std::atomic<int> removers_running{k_removers};
  Failures failures;
  Failures scrub_findings;
  Failures verify_findings;
  std::barrier start(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_removers; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::size_t i = static_cast<std::size_t>(t); i < blobs.size(); i += k_removers) {
        if (const auto r = store().remove(blobs[i].digest.hash); !r) {
          failures.add("remove " + blobs[i].digest.to_string() + ": " + describe(r.error()));
        }
      }
      removers_running.fetch_sub(1);
    });
  }
  for (int t = 0; t < k_checkers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      start.arrive_and_wait();
      for (int iteration = 0; iteration < 100'000 && removers_running.load() > 0; ++iteration) {
        if (t == 0) {
          const auto report = store().scrub();
          if (!report) {
            failures.add("scrub: " + describe(report.error()));
            continue;
          }
          for (const Digest& d : report->missing) {
            scrub_findings.add("scrub reported " + d.to_string() + " missing");
          }
          for (const Digest& d : report->corrupt) {
            scrub_findings.add("scrub reported " + d.to_string() + " corrupt");
          }
        } else {
          const Blob& b = blobs[rng() % blobs.size()];
          const auto r = store().verify(b.digest.hash);
          if (!r && r.error().code != Errc::not_found) {
            verify_findings.add("verify " + b.digest.to_string() + ": " + describe(r.error()));
          }
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_TRUE(failures.none());
  EXPECT_TRUE(scrub_findings.none());
  EXPECT_TRUE(verify_findings.none());
  expect_usage_counts({});
  expect_consistent_on_disk();
}

} // namespace
} // namespace ingot::cas
