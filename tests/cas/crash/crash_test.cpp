// Crash safety: a writer process is SIGKILLed at random points, over and over, on one data dir.
// Whatever it acknowledged (after commit() or ns_put() returned) must be there, whole and
// correct, when the store is opened again; the store must be consistent (scrub finds nothing
// wrong, usage matches what scrub counts) and must have cleaned up the writer's temp files.
//
// The writer is tests/cas/crash/crash_writer_main.cpp; its path comes in as INGOT_CRASH_WRITER.

#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace ingot;
using namespace ingot::cas;

constexpr int k_rounds = 25;
constexpr int k_max_acks_per_round = 200;
// crash_writer runs this many writer threads, each with at most one commit in flight: that is
// how many blobs (or kv keys) a kill can leave committed but unacknowledged.
constexpr int k_writer_threads = 2;

// The writer, running with its stdout on a pipe we read. Killed and reaped on destruction, so a
// failed assertion never leaves it running.
class WriterProcess {
public:
  WriterProcess(const fs::path& dir, std::uint64_t seed) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe2: " + std::string(std::strerror(errno)));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears close-on-exec on the child's fd 1; both pipe ends close on exec otherwise.
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::string path = INGOT_CRASH_WRITER;
    std::string dir_arg = dir.string();
    std::string seed_arg = std::to_string(seed);
    char* argv[] = {path.data(), dir_arg.data(), seed_arg.data(), nullptr};
    int rc = ::posix_spawn(&m_pid, path.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    // Our copy of the write end must go, or reading would never see end-of-file.
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw std::runtime_error("posix_spawn " + path + ": " + std::strerror(rc));
    }
    m_out = fds[0];
  }

  ~WriterProcess() {
    if (m_pid > 0) {
      kill_and_reap();
    }
    if (m_out >= 0) {
      ::close(m_out);
    }
  }

  WriterProcess(const WriterProcess&) = delete;
  WriterProcess& operator=(const WriterProcess&) = delete;

  // The next complete line of the writer's stdout, or nullopt once the pipe is closed. A partial
  // last line is not an acknowledgement and is dropped.
  std::optional<std::string> next_line() {
    for (;;) {
      if (auto nl = m_buffer.find('\n'); nl != std::string::npos) {
        std::string line = m_buffer.substr(0, nl);
        m_buffer.erase(0, nl + 1);
        return line;
      }
      char chunk[64 * 1024];
      ssize_t n = ::read(m_out, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return std::nullopt;
      }
      m_buffer.append(chunk, static_cast<std::size_t>(n));
    }
  }

  pid_t pid() const { return m_pid; }

  // SIGKILLs the writer and returns its wait status.
  int kill_and_reap() {
    ::kill(m_pid, SIGKILL);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_pid = -1;
    return status;
  }

private:
  pid_t m_pid = -1;
  int m_out = -1;
  std::string m_buffer;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  }
  return "wait status " + std::to_string(status);
}

// Everything the writers have acknowledged so far, over all rounds.
struct Acknowledged {
  std::unordered_map<Hash, Digest> blobs;
  std::map<std::string, Digest> kv;
  std::vector<Digest> blobs_this_round;

  // Returns an error message for a line that is not a well-formed acknowledgement.
  std::optional<std::string> record(const std::string& line) {
    std::istringstream in(line);
    std::string kind;
    std::string key;
    std::string hex;
    std::uint64_t size = 0;
    in >> kind;
    if (kind == "kv") {
      in >> key;
    }
    in >> hex >> size;
    if (!in || (kind != "blob" && kind != "kv")) {
      return "unparsable acknowledgement '" + line + "'";
    }
    auto digest = parse_digest(hex, size);
    if (!digest) {
      return "bad digest in '" + line + "': " + digest.error().message;
    }
    if (kind == "blob") {
      blobs.emplace(digest->hash, *digest);
      blobs_this_round.push_back(*digest);
    } else {
      kv[key] = *digest;
    }
    return std::nullopt;
  }
};

// Collects problems so that one round reports them together, a bounded number of them.
class Problems {
public:
  void add(std::string problem) {
    if (m_list.size() < 20) {
      m_list.push_back(std::move(problem));
    }
    ++m_count;
  }
  bool empty() const { return m_count == 0; }
  std::string str() const {
    std::string out = std::to_string(m_count) + " problem(s):";
    for (const auto& p : m_list) {
      out += "\n  " + p;
    }
    return out;
  }

private:
  std::vector<std::string> m_list;
  std::size_t m_count = 0;
};

std::vector<std::string> leftover_temp_files(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir / "tmp", ec)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

// Kill points differ from run to run anyway (they depend on timing), so the seed varies too;
// INGOT_CRASH_SEED=N replays a run's blob sizes and kill counts.
std::uint64_t crash_seed() {
  if (const char* env = std::getenv("INGOT_CRASH_SEED"); env != nullptr) {
    return std::strtoull(env, nullptr, 10);
  }
  return std::random_device{}() % 1000000;
}

// Files under blobs/ that no index record refers to. A kill between a file's rename into blobs/
// and its index commit must not leave one: usage() never counts it, GC never sees it, so it
// is disk space lost for good (reopening never scans blobs/ to find it).
std::vector<std::string> unindexed_blob_files(Store& store, const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& shard : fs::directory_iterator(dir / "blobs", ec)) {
    for (const auto& file : fs::directory_iterator(shard.path(), ec)) {
      auto hash = parse_hash(file.path().filename().string());
      if (!hash || !store.contains(*hash)) {
        names.push_back(fs::relative(file.path(), dir).string());
      }
    }
  }
  return names;
}

TEST(CrashSafety, acknowledged_writes_survive_sigkill_and_store_stays_consistent) {
  test::TempDir data;
  const std::uint64_t base_seed = crash_seed();
  RecordProperty("crash_seed", std::to_string(base_seed));
  std::mt19937_64 rng(base_seed);
  std::uniform_int_distribution<int> acks_before_kill(1, k_max_acks_per_round);
  Acknowledged acked;
  std::size_t total_acks = 0;
  std::set<std::string> leaked;

  for (int round = 0; round < k_rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + " (INGOT_CRASH_SEED=" +
                 std::to_string(base_seed) + " replays the sizes and kill counts)");
    acked.blobs_this_round.clear();
    const int target = acks_before_kill(rng);

    int status = 0;
    {
      WriterProcess writer(data.path(), base_seed + round);
      int received = 0;
      while (received < target) {
        auto line = writer.next_line();
        if (!line) {
          break; // the writer died on its own; status below says how
        }
        auto bad = acked.record(*line);
        ASSERT_FALSE(bad.has_value()) << *bad;
        ++received;
      }
      status = writer.kill_and_reap();
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << "crash_writer " << describe_status(status) << " after " << received
          << " acknowledgements (its stderr is above)";
      // Lines the writer completed before the kill are acknowledgements too.
      while (auto line = writer.next_line()) {
        auto bad = acked.record(*line);
        ASSERT_FALSE(bad.has_value()) << *bad;
        ++received;
      }
      total_acks += static_cast<std::size_t>(received);
    }

    auto opened = Store::open(StoreOptions{.dir = data.path()});
    ASSERT_TRUE(opened) << "reopen after SIGKILL: " << opened.error().message;
    auto& store = **opened;

    auto leftovers = leftover_temp_files(data.path());
    EXPECT_TRUE(leftovers.empty()) << leftovers.size() << " temp file(s) left in tmp/ after open, "
                                   << "first: " << leftovers.front();

    // Reported once at the end, so that the other checks keep running over later rounds.
    for (auto& name : unindexed_blob_files(store, data.path())) {
      leaked.insert(std::move(name));
    }

    Problems problems;
    std::uint64_t acked_bytes = 0;
    for (const auto& [hash, digest] : acked.blobs) {
      acked_bytes += digest.size;
      auto info = store.stat(hash);
      if (!store.contains(hash) || !info) {
        problems.add("acknowledged blob " + digest.to_string() + " is gone");
      } else if (info->digest != digest) {
        problems.add("blob " + digest.to_string() + " has size " +
                     std::to_string(info->digest.size) + " in the index");
      }
    }
    // This round's blobs are read back in full; older ones were, and scrub covers their bytes.
    for (const auto& digest : acked.blobs_this_round) {
      auto read = test::read_and_hash(store, digest.hash);
      if (!read) {
        problems.add("reading " + digest.to_string() + ": " + read.error().message);
      } else if (*read != digest) {
        problems.add("blob " + digest.to_string() + " reads back as " + read->to_string());
      }
      if (auto v = store.verify(digest.hash); !v) {
        problems.add("verify " + digest.to_string() + ": " + v.error().message);
      }
    }
    for (const auto& [key, digest] : acked.kv) {
      auto entry = store.ns_get(Namespace::kv, key);
      if (!entry) {
        problems.add("acknowledged kv key " + key + ": " + entry.error().message);
      } else if (entry->value != digest) {
        problems.add("kv key " + key + " holds " + entry->value.to_string() + ", acknowledged " +
                     digest.to_string());
      }
    }
    ASSERT_TRUE(problems.empty()) << problems.str();

    auto report = store.scrub();
    ASSERT_TRUE(report) << "scrub: " << report.error().message;
    EXPECT_TRUE(report->corrupt.empty())
        << report->corrupt.size() << " corrupt blob(s), first " << report->corrupt[0].to_string();
    EXPECT_TRUE(report->missing.empty())
        << report->missing.size() << " missing blob(s), first " << report->missing[0].to_string();

    // Accounting is persisted with the index, so it must agree exactly with what is indexed.
    const Usage usage = store.usage();
    EXPECT_EQ(usage.blobs, report->checked) << "usage().blobs disagrees with scrub";
    EXPECT_EQ(usage.stored_bytes, report->stored_bytes)
        << "usage().stored_bytes disagrees with scrub";
    // Beyond what was acknowledged, only the commits in flight at each kill may have landed
    // (plus the always-present empty blob, if the store counts it).
    const std::uint64_t in_flight_bound = static_cast<std::uint64_t>(round + 1) * k_writer_threads;
    EXPECT_GE(usage.blobs, acked.blobs.size());
    EXPECT_LE(usage.blobs, acked.blobs.size() + in_flight_bound + 1);
    EXPECT_GE(usage.logical_bytes, acked_bytes);
    EXPECT_GE(usage.kv_entries, acked.kv.size());
    EXPECT_LE(usage.kv_entries, acked.kv.size() + in_flight_bound);
    if (::testing::Test::HasFailure()) {
      return; // later rounds would only repeat the report
    }
  }
  EXPECT_TRUE(leaked.empty()) << leaked.size()
                              << " file(s) under blobs/ have no index record (leaked space), "
                              << "first: " << *leaked.begin();
  // The test means something only if the writers got through real work.
  EXPECT_GE(total_acks, static_cast<std::size_t>(k_rounds));
  EXPECT_GT(acked.kv.size(), 0U);
}

TEST(CrashSafety, lock_is_released_when_holder_is_sigkilled) {
  test::TempDir data;
  WriterProcess writer(data.path(), 1);
  // The first acknowledgement proves the writer has the store open, and so holds its lock.
  ASSERT_TRUE(writer.next_line()) << "crash_writer produced nothing (its stderr is above)";

  auto second = Store::open(StoreOptions{.dir = data.path()});
  ASSERT_FALSE(second) << "a second process opened a data dir that another holds";
  EXPECT_EQ(second.error().code, Errc::busy) << second.error().message;
  // Store.hpp: the busy error names the holder, so an admin knows which process to stop.
  EXPECT_NE(second.error().message.find(std::to_string(writer.pid())), std::string::npos)
      << "busy error does not name the holder's pid " << writer.pid() << ": "
      << second.error().message;

  const int status = writer.kill_and_reap();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << describe_status(status);

  auto reopened = Store::open(StoreOptions{.dir = data.path()});
  ASSERT_TRUE(reopened) << "open after the holder was killed: " << reopened.error().message;
}

} // namespace
