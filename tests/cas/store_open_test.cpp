// Opening a data dir: its lock, failures, leftovers of a crash.
#include "cas/store_fixture.hpp"

namespace ingot::cas {
namespace {

using namespace store_test;

// --- the data dir lock -----------------------------------------------------------------------

TEST_F(StoreTest, SecondOpenInTheSameProcessIsBusyAndNamesTheHolder) {
  const auto second = Store::open(m_options);
  ASSERT_TRUE(fails_with(second, Errc::busy));
  EXPECT_NE(second.error().message.find(std::to_string(::getpid())), std::string::npos)
      << "message does not name pid " << ::getpid() << ": " << second.error().message;
  // The first opener is unaffected.
  const Digest d = must_put("still works");
  EXPECT_EQ(store().get(d.hash).value(), "still works");
}

TEST_F(StoreTest, OpeningAfterCloseWorks) {
  const Digest d = must_put("kept");
  m_store.reset();
  const auto again = Store::open(m_options);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->get(d.hash).value(), "kept");
}

TEST(StoreLock, SecondOpenFromAnotherProcessIsBusyAndNamesTheHolder) {
  TempDir tmp;
  StoreOptions options;
  options.dir = tmp.path() / "data";
  options.inline_threshold = k_threshold;

  // Fork before anything starts threads, so the child may run ordinary code.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t holder = ::getpid();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(go[1]);
    ::alarm(60); // a lock that blocks instead of failing must not hang the suite
    char byte = 0;
    if (::read(go[0], &byte, 1) != 1) {
      ::_exit(10);
    }
    const auto r = Store::open(options);
    if (r) {
      ::_exit(1); // opened a dir another process holds
    }
    if (r.error().code != Errc::busy) {
      ::_exit(2);
    }
    ::_exit(r.error().message.find(std::to_string(holder)) == std::string::npos ? 3 : 0);
  }
  ::close(go[0]);
  auto store = Store::open(options);
  const bool opened = store.has_value();
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(opened) << store.error().message;
  ASSERT_TRUE(WIFEXITED(status));
  switch (WEXITSTATUS(status)) {
  case 0:
    break;
  case 1:
    ADD_FAILURE() << "another process opened the data dir while this one held it";
    break;
  case 2:
    ADD_FAILURE() << "the other process failed with a code other than busy";
    break;
  case 3:
    ADD_FAILURE() << "the busy message does not name the holder's pid " << holder;
    break;
  default:
    ADD_FAILURE() << "child exited with " << WEXITSTATUS(status);
  }
}

// Two server processes started at once (a restart racing the old one, say): exactly one gets
// the dir, and every other one is told who holds it.
// Regression test: a loser that checked between the winner's flock() and its writing of the
// lock file used to get "in use by another process", with no pid.
TEST(StoreLock, ConcurrentOpenersOneWinsAndTheOthersNameIt) {
  TempDir tmp;
  StoreOptions options;
  options.dir = tmp.path() / "data";
  options.inline_threshold = k_threshold;
  constexpr int k_openers = 8;
  const std::string pid = std::to_string(::getpid());
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::barrier start(k_openers);
    std::vector<std::optional<Result<std::unique_ptr<Store>>>> results(k_openers);
    std::vector<std::thread> threads;
    for (int t = 0; t < k_openers; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        results[static_cast<std::size_t>(t)].emplace(Store::open(options));
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    int winners = 0;
    for (const auto& result : results) {
      ASSERT_TRUE(result.has_value());
      const auto& r = *result;
      if (r) {
        ++winners;
        continue;
      }
      EXPECT_TRUE(fails_with(r, Errc::busy));
      EXPECT_NE(r.error().message.find(pid), std::string::npos)
          << "busy message does not name pid " << pid << ": " << r.error().message;
    }
    ASSERT_EQ(winners, 1);
  }
}

TEST(StoreOpen, FailsCleanlyWhenTheDirIsAFile) {
  TempDir tmp;
  const fs::path file = tmp.path() / "not-a-dir";
  std::ofstream(file) << "x";
  StoreOptions options;
  options.dir = file;
  const auto store = Store::open(options);
  ASSERT_FALSE(store);
  EXPECT_FALSE(store.error().message.empty());
}

// --- Create::no: commands other than serve and init never make a data dir ------------------

TEST(StoreOpen, WithoutCreateAMissingDirIsNotFoundAndStaysMissing) {
  TempDir tmp;
  StoreOptions options;
  options.dir = tmp.path() / "typo";
  options.create = Create::no;
  const auto store = Store::open(options);
  ASSERT_TRUE(fails_with(store, Errc::not_found));
  EXPECT_NE(store.error().message.find("no Ingot data dir at " + options.dir.string()),
            std::string::npos)
      << store.error().message;
  EXPECT_FALSE(fs::exists(options.dir));
}

TEST(StoreOpen, WithoutCreateADirThatIsNoDataDirIsNotFoundAndUntouched) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "home";
  fs::create_directories(dir);
  std::ofstream(dir / "notes.txt") << "mine";
  StoreOptions options;
  options.dir = dir;
  options.create = Create::no;
  const auto store = Store::open(options);
  ASSERT_TRUE(fails_with(store, Errc::not_found));
  EXPECT_NE(store.error().message.find(dir.string() + " is not an Ingot data dir"),
            std::string::npos)
      << store.error().message;
  EXPECT_FALSE(is_data_dir(dir));
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"notes.txt"});
}

TEST(StoreOpen, WithoutCreateADataDirMadeBeforeOpensWithItsBlobs) {
  TempDir tmp;
  StoreOptions options;
  options.dir = tmp.path() / "data";
  options.inline_threshold = k_threshold;
  Digest d;
  {
    auto created = Store::open(options);
    ASSERT_TRUE(created) << created.error().message;
    d = test::must_put(**created, "kept");
  }
  EXPECT_TRUE(is_data_dir(options.dir));
  options.create = Create::no;
  const auto again = Store::open(options);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->get(d.hash).value(), "kept");
}

TEST_F(StoreTest, LeftoverTempFilesAreRemovedOnOpen) {
  m_store.reset();
  // What a crash in the middle of an upload leaves behind.
  fs::create_directories(data_dir() / "tmp");
  std::ofstream(data_dir() / "tmp" / "upload-leftover") << random_bytes(10'000, 71);
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_TRUE(tmp_files(data_dir()).empty());
}

} // namespace
} // namespace ingot::cas
