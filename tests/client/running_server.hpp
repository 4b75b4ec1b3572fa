// A real Ingot server running in this process on a free port, over a real store in a temp
// dir, for the client's tests to talk to; and what those tests look at on the client's side.
#pragma once

#include "client/client.hpp"
#include "client/transfer.hpp"
#include "server/auth.hpp"
#include "server/server.hpp"
#include "support/files.hpp"
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
#include <vector>

#include <gtest/gtest.h>

namespace ingot::client {

namespace fs = std::filesystem;

inline constexpr server::Scopes k_open = server::k_scope_read | server::k_scope_write;
// Above both the store's inline threshold and the client's batch limit: stored as a file and
// moved in a request of its own.
inline constexpr std::size_t k_large = 300 * 1024;

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

inline Result<std::unique_ptr<RunningServer>> serve(cas::Store& store, const fs::path& data_dir,
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
inline ClientOptions options_for(std::uint16_t port) {
  ClientOptions options;
  options.server = "http://127.0.0.1:" + std::to_string(port);
  options.parallelism = 4;
  options.timeout = std::chrono::milliseconds(10'000);
  options.max_attempts = 3;
  options.backoff = std::chrono::milliseconds(1);
  options.max_backoff = std::chrono::milliseconds(1);
  return options;
}

inline void write_file(const fs::path& path, std::string_view content, unsigned mode = 0644) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, fs::perms(mode));
}

inline unsigned mode_of(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// Every name in `dir` itself, to catch temporary files left beside a download.
inline std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What a user would compare between two trees: each path's kind, and a file's mode and content
// (by digest) or a symlink's target.
inline std::map<std::string, std::string> describe_tree(const fs::path& root) {
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
    ASSERT_TRUE(test::ok(s));
    m_server = std::move(*s);
  }

  std::uint16_t port() const { return m_server->port(); }

  std::unique_ptr<Client> connect(ClientOptions options) {
    auto c = Client::create(std::move(options));
    EXPECT_TRUE(test::ok(c));
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

// Nested directories, an executable, a symlink, an empty file, an empty directory, the same
// content under two names, and a file large enough to be streamed.
inline void write_sample_tree(const fs::path& root) {
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
inline constexpr std::size_t k_sample_files = 6;

} // namespace ingot::client
