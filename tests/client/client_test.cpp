// The client against a real Ingot server running in this process on a free port, over a real
// store in a temp dir: blobs, batches, downloads to files, the retry policy, keep-alive
// connections the server dropped, refs, and whole trees pushed and pulled.
#include "client/client.hpp"
#include "client/transfer.hpp"
#include "server/auth.hpp"
#include "server/server.hpp"
#include "support/files.hpp"
#include "support/printers.hpp"
#include "support/result_assertions.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

namespace fs = std::filesystem;
using test::fails_with;
using test::ok;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr server::Scopes k_open = server::k_scope_read | server::k_scope_write;
// Above both the store's inline threshold and the client's batch limit: stored as a file and
// moved in a request of its own.
constexpr std::size_t k_large = 300 * 1024;

// A server serving `store` on its own thread until destroyed.
class RunningServer {
public:
  explicit RunningServer(std::unique_ptr<server::Server> server)
      : m_server(std::move(server)), m_thread([s = m_server.get()] { s->run(); }) {}
  ~RunningServer() {
    m_server->stop();
    m_thread.join();
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  std::uint16_t port() const { return m_server->port(); }

private:
  std::unique_ptr<server::Server> m_server;
  std::thread m_thread;
};

Result<std::unique_ptr<RunningServer>> serve(cas::Store& store, const fs::path& data_dir,
                                             std::uint16_t port, server::Scopes anonymous) {
  server::ServerOptions options;
  options.port = port;
  // Two I/O threads, so that stopping runs sessions' closers while others end (a deadlock
  // this once found in the server's drain).
  options.threads = 2;
  options.anonymous = anonymous;
  options.log_format = server::LogFormat::off;
  options.shutdown_grace = std::chrono::milliseconds(2'000);
  auto s = server::Server::create(options, store, data_dir);
  if (!s) {
    return std::move(s).error();
  }
  return std::make_unique<RunningServer>(std::move(*s));
}

// Quick to give up, so that tests of failure do not wait on the production backoff.
ClientOptions options_for(std::uint16_t port) {
  ClientOptions options;
  options.server = "http://127.0.0.1:" + std::to_string(port);
  options.parallelism = 4;
  options.timeout = std::chrono::milliseconds(10'000);
  options.max_attempts = 3;
  options.backoff = std::chrono::milliseconds(1);
  options.max_backoff = std::chrono::milliseconds(1);
  return options;
}

void write_file(const fs::path& path, std::string_view content, unsigned mode = 0644) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, fs::perms(mode));
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// Every name in `dir` itself, to catch temporary files left beside a download.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What a user would compare between two trees: each path's kind, and a file's mode and content
// (by digest) or a symlink's target.
std::map<std::string, std::string> describe_tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    // Lexically: fs::relative would resolve the symlinks this is meant to describe.
    const auto rel = entry.path().lexically_relative(root).string();
    if (entry.is_symlink()) {
      out[rel] = "symlink -> " + fs::read_symlink(entry.path()).string();
    } else if (entry.is_directory()) {
      out[rel] = "directory";
    } else if (entry.is_regular_file()) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", mode_of(entry.path()));
      out[rel] = std::string("file ") + mode + " " +
                 cas::digest_of(test::read_file(entry.path())).to_string();
    } else {
      out[rel] = "other";
    }
  }
  return out;
}

// Counts what a transfer reports; calls may come from several threads.
class RecordingProgress final : public ProgressSink {
public:
  struct Seen {
    int starts = 0;
    int advances = 0;
    int finishes = 0;
    int out_of_order = 0; // advance() before start() or after finish()
    std::size_t start_files = 0;
    std::uint64_t start_bytes = 0;
    std::size_t advanced_files = 0;
    std::uint64_t advanced_bytes = 0;
  };

  void start(std::size_t files, std::uint64_t bytes) override {
    const std::lock_guard lock(m_mutex);
    ++m_seen.starts;
    m_seen.start_files = files;
    m_seen.start_bytes = bytes;
  }
  void advance(std::size_t files, std::uint64_t bytes) override {
    const std::lock_guard lock(m_mutex);
    ++m_seen.advances;
    m_seen.advanced_files += files;
    m_seen.advanced_bytes += bytes;
    if (m_seen.starts == 0 || m_seen.finishes > 0) {
      ++m_seen.out_of_order;
    }
  }
  void finish() override {
    const std::lock_guard lock(m_mutex);
    ++m_seen.finishes;
  }

  Seen seen() {
    const std::lock_guard lock(m_mutex);
    return m_seen;
  }

private:
  std::mutex m_mutex;
  Seen m_seen;
};

class ClientTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(data_dir());
    ASSERT_NE(m_store, nullptr);
    ASSERT_NO_FATAL_FAILURE(start_server());
  }

  void start_server(std::uint16_t port = 0, server::Scopes anonymous = k_open) {
    m_server.reset();
    auto s = serve(*m_store, data_dir(), port, anonymous);
    ASSERT_TRUE(ok(s));
    m_server = std::move(*s);
  }

  std::uint16_t port() const { return m_server->port(); }

  std::unique_ptr<Client> connect(ClientOptions options) {
    auto c = Client::create(std::move(options));
    EXPECT_TRUE(ok(c));
    return c ? std::move(*c) : nullptr;
  }
  std::unique_ptr<Client> connect() { return connect(options_for(port())); }

  fs::path data_dir() const { return m_tmp.path() / "data"; }
  fs::path work_dir(const std::string& name) const {
    const auto dir = m_tmp.path() / name;
    fs::create_directories(dir);
    return dir;
  }

  test::TempDir m_tmp;
  // Declared after the store: the server stops before the store closes.
  std::unique_ptr<cas::Store> m_store;
  std::unique_ptr<RunningServer> m_server;
};

// --- blobs ---------------------------------------------------------------------------------

TEST_F(ClientTest, PutThenGetRoundTrips) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  for (const std::string& data :
       {std::string("hello"), test::random_bytes(5000, 1), test::random_bytes(k_large, 2)}) {
    const auto digest = cas::digest_of(data);
    ASSERT_TRUE(ok(client->put(digest, data)));
    auto got = client->get(digest);
    ASSERT_TRUE(ok(got));
    EXPECT_EQ(*got, data);
    // It is in the server's store, not only in some cache of the client's.
    EXPECT_EQ(test::read_and_hash(*m_store, digest.hash).value(), digest);
  }
}

TEST_F(ClientTest, GetOfAnUnknownBlobIsNotFound) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto unknown = cas::digest_of(std::string_view("never stored"));
  auto got = client->get(unknown);
  ASSERT_TRUE(fails_with(got, Errc::not_found));
  EXPECT_THAT(got.error().message, HasSubstr(unknown.to_string()));
  // A 404 is an answer, not a failure to try again.
  EXPECT_EQ(client->counters().requests, 1u);
}

TEST_F(ClientTest, FindMissingReturnsExactlyTheAbsentDigests) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto present_small = test::must_put(*m_store, "present");
  const auto present_large = test::must_put(*m_store, test::random_bytes(k_large, 3));
  const auto absent_a = cas::digest_of(std::string_view("absent a"));
  const auto absent_b = cas::digest_of(test::random_bytes(k_large, 4));
  const std::vector<cas::Digest> asked{present_small, absent_a, cas::empty_digest(), present_large,
                                       absent_b};

  auto missing = client->find_missing(asked);
  ASSERT_TRUE(ok(missing));
  EXPECT_THAT(*missing, UnorderedElementsAre(absent_a, absent_b));

  // REAPI: the empty blob is always present, even asked for alone.
  auto empty = client->find_missing(std::vector<cas::Digest>{cas::empty_digest()});
  ASSERT_TRUE(ok(empty));
  EXPECT_THAT(*empty, ElementsAre());
}

TEST_F(ClientTest, BatchUpdateThenBatchReadRoundTripsManySmallBlobs) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  std::vector<BlobData> blobs;
  for (std::uint64_t i = 0; i < 300; ++i) {
    auto bytes = test::random_bytes(1 + (i * 37) % 2000, 100 + i);
    blobs.push_back({cas::digest_of(bytes), std::move(bytes)});
  }
  ASSERT_TRUE(ok(client->batch_update(blobs)));
  EXPECT_EQ(client->counters().requests, 1u);
  for (const auto& b : blobs) {
    EXPECT_TRUE(m_store->contains(b.digest.hash)) << b.digest.to_string();
  }

  // The unknown one in the middle, so that a shifted answer would show.
  const auto unknown = cas::digest_of(std::string_view("not uploaded"));
  std::vector<cas::Digest> asked;
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    if (i == blobs.size() / 2) {
      asked.push_back(unknown);
    }
    asked.push_back(blobs[i].digest);
  }
  auto read = client->batch_read(asked);
  ASSERT_TRUE(ok(read));
  ASSERT_EQ(read->size(), asked.size());
  for (std::size_t i = 0; i < asked.size(); ++i) {
    const auto& r = (*read)[i];
    if (asked[i] == unknown) {
      EXPECT_TRUE(fails_with(r, Errc::not_found)) << "position " << i;
      continue;
    }
    ASSERT_TRUE(ok(r)) << "position " << i;
    const auto& expected = blobs[i < blobs.size() / 2 ? i : i - 1].bytes;
    EXPECT_EQ(*r, expected) << "position " << i;
  }
}

TEST_F(ClientTest, BatchUpdateRefusesABlobThatDoesNotMatchItsDigest) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const std::vector<BlobData> blobs{
      {cas::digest_of(std::string_view("good")), "good"},
      {cas::digest_of(std::string_view("claimed")), "claimeD"},
  };
  auto r = client->batch_update(blobs);
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr(blobs[1].digest.hex()));
  EXPECT_FALSE(m_store->contains(blobs[1].digest.hash));
}

// --- downloads to files ----------------------------------------------------------------------

TEST_F(ClientTest, GetToFileWritesTheFileWithItsModeAndNothingElse) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  for (const auto& [name, data, mode] : {std::tuple{"small", std::string("tiny"), 0640u},
                                         std::tuple{"large", test::random_bytes(k_large, 5), 0751u},
                                         std::tuple{"empty", std::string(), 0600u}}) {
    SCOPED_TRACE(name);
    const auto digest = test::must_put(*m_store, data);
    ASSERT_TRUE(ok(client->get_to_file(digest, dir / name, mode)));
    EXPECT_EQ(test::read_file(dir / name), data);
    EXPECT_EQ(mode_of(dir / name), mode);
  }
  // Written under temporary names and renamed: none of those is left.
  EXPECT_THAT(names_in(dir), ElementsAre("empty", "large", "small"));
}

TEST_F(ClientTest, GetToFileReplacesAnExistingFile) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  write_file(dir / "f", "old content, longer than the new", 0600);
  const auto digest = test::must_put(*m_store, "new");
  ASSERT_TRUE(ok(client->get_to_file(digest, dir / "f")));
  EXPECT_EQ(test::read_file(dir / "f"), "new");
  EXPECT_EQ(mode_of(dir / "f"), 0644u);
  EXPECT_THAT(names_in(dir), ElementsAre("f"));
}

TEST_F(ClientTest, GetToFileOfAnUnknownBlobLeavesNothing) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  auto r = client->get_to_file(cas::digest_of(std::string_view("unknown")), dir / "f");
  EXPECT_TRUE(fails_with(r, Errc::not_found));
  EXPECT_THAT(names_in(dir), ElementsAre());
}

TEST_F(ClientTest, GetToFileOfADamagedBlobIsCorruptAndLeavesNothing) {
  const auto data = test::random_bytes(k_large, 6);
  const auto digest = test::must_put(*m_store, data);
  const auto files = test::blob_files_of(data_dir(), digest);
  ASSERT_EQ(files.size(), 1u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(k_large / 2);
    f.put(static_cast<char>(data[k_large / 2] ^ 0x01));
  }
  ASSERT_NE(test::read_file(files[0]), data) << "the blob was not stored raw; damage it otherwise";

  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  auto r = client->get_to_file(digest, dir / "f");
  ASSERT_TRUE(fails_with(r, Errc::corrupt));
  EXPECT_THAT(r.error().message, HasSubstr(digest.hex()));
  EXPECT_THAT(names_in(dir), ElementsAre());

  // get() checks the same way.
  EXPECT_TRUE(fails_with(client->get(digest), Errc::corrupt));
}

// --- retries -------------------------------------------------------------------------------

TEST_F(ClientTest, NothingListeningFailsWithIoAfterMaxAttempts) {
  const auto dead_port = port();
  m_server.reset();
  auto options = options_for(dead_port);
  options.max_attempts = 4;
  auto client = connect(options);
  ASSERT_NE(client, nullptr);

  auto r = client->get(cas::digest_of(std::string_view("x")));
  ASSERT_TRUE(fails_with(r, Errc::io));
  EXPECT_THAT(r.error().message, HasSubstr("127.0.0.1:" + std::to_string(dead_port)));
  EXPECT_THAT(r.error().message, HasSubstr("4 tries"));
  EXPECT_EQ(client->counters().requests, 4u);
  EXPECT_EQ(client->counters().retries, 3u);
}

TEST_F(ClientTest, ABadRequestIsNotRetried) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto claimed = cas::digest_of(std::string_view("what the digest says"));
  auto r = client->put(claimed, "what the body holds");
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_EQ(client->counters().requests, 1u);
  EXPECT_EQ(client->counters().retries, 0u);
  EXPECT_FALSE(m_store->contains(claimed.hash));
}

TEST_F(ClientTest, UnauthorizedIsNotRetried) {
  ASSERT_NO_FATAL_FAILURE(start_server(0, 0)); // no anonymous access at all
  auto client = connect();
  ASSERT_NE(client, nullptr);
  auto r = client->get(test::must_put(*m_store, "readable with a token only"));
  ASSERT_TRUE(fails_with(r, Errc::unauthorized));
  EXPECT_THAT(r.error().message, HasSubstr("401"));
  EXPECT_EQ(client->counters().requests, 1u);
  EXPECT_EQ(client->counters().retries, 0u);
}

TEST_F(ClientTest, AKeepAliveConnectionTheServerClosedIsReplacedTransparently) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto digest = test::must_put(*m_store, "survives a restart");
  ASSERT_TRUE(ok(client->get(digest))); // leaves a pooled connection

  // The server goes away, closing that connection, and another comes up on the same port.
  const auto same_port = port();
  ASSERT_NO_FATAL_FAILURE(start_server(same_port));
  ASSERT_EQ(port(), same_port);

  const auto before = client->counters();
  auto got = client->get(digest);
  ASSERT_TRUE(ok(got));
  EXPECT_EQ(*got, "survives a restart");
  EXPECT_EQ(client->counters().requests - before.requests, 1u);
  EXPECT_EQ(client->counters().retries - before.retries, 0u);
}

TEST_F(ClientTest, PutFileOfAFileChangedAfterHashingIsRefused) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto file = work_dir("in") / "changing";
  write_file(file, test::random_bytes(k_large, 7));
  auto digest = digest_file(file);
  ASSERT_TRUE(ok(digest));
  write_file(file, test::random_bytes(k_large, 8)); // same size, other bytes

  auto r = client->put_file(*digest, file);
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr(file.string()));
  EXPECT_EQ(client->counters().requests, 1u);
  EXPECT_FALSE(m_store->contains(digest->hash));
  EXPECT_THAT(test::blob_files_of(data_dir(), *digest), ElementsAre());
  auto missing = client->find_missing(std::vector<cas::Digest>{*digest});
  ASSERT_TRUE(ok(missing));
  EXPECT_THAT(*missing, ElementsAre(*digest));
}

TEST_F(ClientTest, PutFileStreamsAnUnchangedFile) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto file = work_dir("in") / "steady";
  const auto data = test::random_bytes(k_large, 9);
  write_file(file, data);
  auto digest = digest_file(file);
  ASSERT_TRUE(ok(digest));
  EXPECT_EQ(*digest, cas::digest_of(data));
  ASSERT_TRUE(ok(client->put_file(*digest, file)));
  std::string stored;
  EXPECT_EQ(test::read_and_hash(*m_store, digest->hash, &stored).value(), *digest);
  EXPECT_EQ(stored, data);
}

// --- trees ---------------------------------------------------------------------------------

// Nested directories, an executable, a symlink, an empty file, an empty directory, the same
// content under two names, and a file large enough to be streamed.
void write_sample_tree(const fs::path& root) {
  write_file(root / "README", "read me\n");
  write_file(root / "bin" / "tool", "#!/bin/sh\necho tool\n", 0755);
  write_file(root / "src" / "lib" / "deep.c", "int deep(void) { return 1; }\n");
  write_file(root / "src" / "copy_of_readme", "read me\n");
  write_file(root / "src" / "big.bin", test::random_bytes(k_large, 10));
  write_file(root / "empty", "");
  fs::create_directories(root / "nothing" / "here");
  fs::create_symlink("src/lib/deep.c", root / "link");
  fs::create_directory_symlink("../bin", root / "src" / "bin");
}
constexpr std::size_t k_sample_files = 6;

TEST_F(ClientTest, PushThenPullReproducesTheTree) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);

  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));
  EXPECT_EQ(pushed->files, k_sample_files);
  EXPECT_EQ(pushed->symlinks, 2u);
  EXPECT_EQ(pushed->transferred_files + pushed->present_files, k_sample_files);

  const auto dest = m_tmp.path() / "dest";
  auto pulled = pull_tree(*client, pushed->root, dest);
  ASSERT_TRUE(ok(pulled));
  EXPECT_EQ(pulled->files, k_sample_files);
  EXPECT_EQ(pulled->transferred_files, k_sample_files);
  EXPECT_EQ(pulled->present_files, 0u);
  EXPECT_EQ(describe_tree(dest), describe_tree(source));
  // Spelled out, in case both sides were wrong the same way.
  EXPECT_EQ(mode_of(dest / "bin" / "tool"), 0755u);
  EXPECT_EQ(mode_of(dest / "README"), 0644u);
  EXPECT_EQ(test::read_file(dest / "src" / "copy_of_readme"), "read me\n");
  EXPECT_EQ(fs::read_symlink(dest / "link"), "src/lib/deep.c");
  EXPECT_TRUE(fs::is_directory(dest / "nothing" / "here"));
  EXPECT_EQ(fs::file_size(dest / "empty"), 0u);
}

TEST_F(ClientTest, PushingAgainTransfersNothing) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);
  auto first = push_tree(*client, source);
  ASSERT_TRUE(ok(first));
  EXPECT_GT(first->transferred_files, 0u);

  auto second = push_tree(*client, source);
  ASSERT_TRUE(ok(second));
  EXPECT_EQ(second->root, first->root);
  EXPECT_EQ(second->transferred_files, 0u);
  EXPECT_EQ(second->transferred_bytes, 0u);
  EXPECT_EQ(second->present_files, k_sample_files);
}

TEST_F(ClientTest, PullingAgainIntoTheSameDestinationTransfersNothing) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);
  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));
  const auto dest = m_tmp.path() / "dest";
  ASSERT_TRUE(ok(pull_tree(*client, pushed->root, dest)));
  // A mode changed at the destination is put right without a download.
  fs::permissions(dest / "bin" / "tool", fs::perms(0644));

  const auto before = client->counters();
  auto again = pull_tree(*client, pushed->root, dest);
  ASSERT_TRUE(ok(again));
  EXPECT_EQ(again->transferred_files, 0u);
  EXPECT_EQ(again->transferred_bytes, 0u);
  EXPECT_EQ(again->present_files, again->files);
  EXPECT_EQ(again->present_files, k_sample_files);
  EXPECT_EQ(client->counters().requests - before.requests, 1u); // the tree, nothing else
  EXPECT_EQ(describe_tree(dest), describe_tree(source));
}

TEST_F(ClientTest, PullRefusesATreeWithAnEscapingSymlink) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_file(source / "sub" / "file", "content");
  fs::create_symlink("../../outside", source / "sub" / "escape");
  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));

  const auto dest = m_tmp.path() / "dest";
  auto refused = pull_tree(*client, pushed->root, dest, {EscapingSymlinks::refuse});
  ASSERT_TRUE(fails_with(refused, Errc::invalid_argument));
  EXPECT_THAT(refused.error().message, HasSubstr("sub/escape"));
  EXPECT_FALSE(fs::exists(dest / "sub" / "file"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "sub" / "escape")));

  // Allowed, the same tree comes down with the link as it was.
  auto allowed = pull_tree(*client, pushed->root, dest, {EscapingSymlinks::allow});
  ASSERT_TRUE(ok(allowed));
  EXPECT_EQ(fs::read_symlink(dest / "sub" / "escape"), "../../outside");
}

TEST_F(ClientTest, PushReportsProgressThatAddsUpToItsTotals) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  // Distinct contents, none empty: every file is one upload, so the totals are the tree's.
  std::uint64_t bytes = 0;
  for (std::uint64_t i = 0; i < 40; ++i) {
    const auto data = test::random_bytes(i == 7 || i == 23 ? k_large : 100 + i * 50, 200 + i);
    write_file(source / ("d" + std::to_string(i % 4)) / ("f" + std::to_string(i)), data);
    bytes += data.size();
  }

  RecordingProgress progress;
  auto pushed = push_tree(*client, source, &progress);
  ASSERT_TRUE(ok(pushed));
  EXPECT_EQ(pushed->files, 40u);
  EXPECT_EQ(pushed->bytes, bytes);
  const auto seen = progress.seen();
  EXPECT_EQ(seen.starts, 1);
  EXPECT_EQ(seen.start_files, 40u);
  EXPECT_EQ(seen.start_bytes, bytes);
  EXPECT_GE(seen.advances, 3); // two large files alone, the small ones in batches
  EXPECT_EQ(seen.advanced_files, seen.start_files);
  EXPECT_EQ(seen.advanced_bytes, seen.start_bytes);
  EXPECT_EQ(seen.finishes, 1);
  EXPECT_EQ(seen.out_of_order, 0);
}

TEST_F(ClientTest, PullReportsProgressThatAddsUpToItsTotals) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto source = work_dir("source");
  write_sample_tree(source);
  auto pushed = push_tree(*client, source);
  ASSERT_TRUE(ok(pushed));

  RecordingProgress progress;
  auto pulled = pull_tree(*client, pushed->root, m_tmp.path() / "dest", {}, &progress);
  ASSERT_TRUE(ok(pulled));
  const auto seen = progress.seen();
  EXPECT_EQ(seen.starts, 1);
  EXPECT_EQ(seen.start_files, k_sample_files);
  EXPECT_EQ(seen.start_bytes, pulled->bytes);
  EXPECT_EQ(seen.advanced_files, seen.start_files);
  EXPECT_EQ(seen.advanced_bytes, seen.start_bytes);
  EXPECT_EQ(seen.finishes, 1);
  EXPECT_EQ(seen.out_of_order, 0);
}

// --- refs ----------------------------------------------------------------------------------

// A tree on the server for refs to name: the server refuses a ref to anything else.
cas::Digest push_small_tree(Client& client, const fs::path& dir) {
  write_file(dir / "a", "a");
  auto tree = push_tree(client, dir);
  EXPECT_TRUE(ok(tree));
  return tree ? tree->root : cas::Digest{};
}

// The refs a listing names, each marked when pinned.
std::vector<std::string> listed_refs(Client& client, std::string_view prefix) {
  std::vector<std::string> out;
  auto listing = client.list_refs(prefix);
  EXPECT_TRUE(ok(listing)) << "prefix '" << prefix << "'";
  if (listing) {
    EXPECT_FALSE(listing->truncated);
    for (const auto& r : listing->refs) {
      out.push_back(r.name + (r.pinned ? " (pinned)" : ""));
    }
  }
  return out;
}

TEST_F(ClientTest, RefsRoundTripWithSpacesAndSlashesInTheirNames) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto root = push_small_tree(*client, work_dir("source"));

  auto linux_ref = client->put_ref("v1/linux x86", root, Pinned::yes);
  ASSERT_TRUE(ok(linux_ref));
  EXPECT_EQ(linux_ref->name, "v1/linux x86");
  EXPECT_EQ(linux_ref->digest, root);
  EXPECT_TRUE(linux_ref->pinned);
  ASSERT_TRUE(ok(client->put_ref("v1/mac os", root, Pinned::no)));
  ASSERT_TRUE(ok(client->put_ref("v2/linux x86", root, Pinned::no)));

  auto got = client->get_ref("v1/linux x86");
  ASSERT_TRUE(ok(got));
  EXPECT_EQ(got->name, "v1/linux x86");
  EXPECT_EQ(got->digest, root);
  EXPECT_TRUE(got->pinned);
  EXPECT_GT(got->updated_unix_ms, 0);
  auto mac = client->get_ref("v1/mac os");
  ASSERT_TRUE(ok(mac));
  EXPECT_FALSE(mac->pinned);

  EXPECT_THAT(listed_refs(*client, "v1/"),
              UnorderedElementsAre("v1/linux x86 (pinned)", "v1/mac os"));
  EXPECT_THAT(listed_refs(*client, ""),
              UnorderedElementsAre("v1/linux x86 (pinned)", "v1/mac os", "v2/linux x86"));

  // Setting the ref again, not pinned, unpins it.
  auto unpinned = client->put_ref("v1/linux x86", root, Pinned::no);
  ASSERT_TRUE(ok(unpinned));
  EXPECT_FALSE(unpinned->pinned);
  EXPECT_THAT(listed_refs(*client, "v1/linux"), ElementsAre("v1/linux x86"));

  ASSERT_TRUE(ok(client->delete_ref("v1/linux x86")));
  EXPECT_TRUE(fails_with(client->get_ref("v1/linux x86"), Errc::not_found));
  EXPECT_THAT(listed_refs(*client, "v1/"), ElementsAre("v1/mac os"));
}

TEST_F(ClientTest, ListRefsTakesAPrefixWithASpace) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto root = push_small_tree(*client, work_dir("source"));
  for (const char* name : {"release 1.0/linux", "release 1.0/mac", "release 2.0/linux"}) {
    ASSERT_TRUE(ok(client->put_ref(name, root, Pinned::no))) << name;
  }
  EXPECT_THAT(listed_refs(*client, "release 1.0/"),
              UnorderedElementsAre("release 1.0/linux", "release 1.0/mac"));
}

TEST_F(ClientTest, ListRefsSaysWhenTheServerCutTheListingShort) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto root = push_small_tree(*client, work_dir("source"));
  // Straight into the server's store: a thousand requests would only make the test slow.
  constexpr std::size_t k_refs = 1001; // one more than the server lists at once
  for (std::size_t i = 0; i < k_refs; ++i) {
    ASSERT_TRUE(
        ok(m_store->ns_put(cas::Namespace::ref, "many/" + std::to_string(10000 + i), root)));
  }
  auto listing = client->list_refs("many/");
  ASSERT_TRUE(ok(listing));
  EXPECT_EQ(listing->refs.size(), 1000u);
  EXPECT_TRUE(listing->truncated);
}

TEST_F(ClientTest, PutRefOfATreeTheServerDoesNotHoldIsRefused) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  auto r = client->put_ref("nowhere", cas::digest_of(std::string_view("no such tree")), Pinned::no);
  EXPECT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_TRUE(fails_with(client->get_ref("nowhere"), Errc::not_found));
}

} // namespace
} // namespace ingot::client
