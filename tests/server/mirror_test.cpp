// server/ops/mirror.cpp: how a failing upstream is backed off from, over a real store with a
// scripted upstream.
#include "server/ops/mirror.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

// Answers each GET as scripted: unreachable (Errc::io), or a status with "bytes" as a 200's body.
class ScriptedUpstreams final : public Upstreams {
public:
  Result<UpstreamAnswer> get(std::string_view, const UpstreamGet&, UpstreamBody& body) override {
    ++gets;
    if (unreachable) {
      return make_error(Errc::io, "connection refused");
    }
    if (status == 200) {
      INGOT_TRY(body.restart());
      INGOT_TRY(body.write(as_bytes(std::string_view("bytes"))));
    }
    UpstreamAnswer answer;
    answer.status = status;
    return answer;
  }
  std::string url(std::string_view, std::string_view path) const override {
    return "http://upstream.invalid/" + std::string(path);
  }

  std::atomic<int> gets{0};
  bool unreachable = false;
  unsigned status = 200;
};

class MirrorBackoffTest : public ::testing::Test {
protected:
  // ttl 0: every read of a mutable path asks the upstream, unless it is down.
  void open(std::chrono::seconds retry_after) {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
    MirrorOptions options;
    options.names = {"deb"};
    options.ttl = std::chrono::seconds(0);
    options.upstreams = m_upstreams;
    options.retry_after = retry_after;
    m_cache = std::make_unique<MirrorCache>(*m_store, options, 1024);
  }

  Result<BlobResponse> read(std::string_view path) {
    return m_cache->read("deb", path, path, ReadRequest{}, std::nullopt);
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  std::shared_ptr<ScriptedUpstreams> m_upstreams = std::make_shared<ScriptedUpstreams>();
  std::unique_ptr<MirrorCache> m_cache;
};

TEST_F(MirrorBackoffTest, AfterAnUnreachableUpstreamStoredCopiesAreServedWithoutAsking) {
  open(std::chrono::seconds(600));
  auto fetched = read("Release");
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->mirror, "miss");
  m_upstreams->unreachable = true;
  auto stale = read("Release");
  ASSERT_TRUE(stale) << stale.error().message;
  EXPECT_EQ(stale->mirror, "stale");
  EXPECT_EQ(m_upstreams->gets, 2);
  // Down now: the stored copy at once, and a path with nothing stored is a 502 saying why and
  // when the upstream is asked again; neither asks.
  for (int i = 0; i < 3; ++i) {
    auto again = read("Release");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->mirror, "stale");
    auto never = read("Packages");
    ASSERT_FALSE(never);
    EXPECT_EQ(never.error().code, Errc::upstream);
    EXPECT_NE(never.error().message.find("failed"), std::string::npos) << never.error().message;
    EXPECT_NE(never.error().message.find("asked again in "), std::string::npos)
        << never.error().message;
  }
  EXPECT_EQ(m_upstreams->gets, 2);
}

TEST_F(MirrorBackoffTest, AnAnswerOfAnyStatusIsNotAFailure) {
  open(std::chrono::seconds(600));
  m_upstreams->status = 503;
  for (int i = 0; i < 2; ++i) {
    auto failed = read("Packages");
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("answered 503"), std::string::npos)
        << failed.error().message;
  }
  EXPECT_EQ(m_upstreams->gets, 2);
  m_upstreams->unreachable = true;
  auto refused = read("Packages");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("unreachable"), std::string::npos)
      << refused.error().message;
  auto skipped = read("Packages");
  ASSERT_FALSE(skipped);
  EXPECT_NE(skipped.error().message.find("not asked"), std::string::npos)
      << skipped.error().message;
  EXPECT_EQ(m_upstreams->gets, 3);
}

} // namespace
} // namespace ingot::server
