// The HTTP transport (client/http_pool.cpp) under the Client: nothing listening, and pooled
// keep-alive connections the server closed.
#include "running_server.hpp"
#include "support/printers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

using test::fails_with;
using test::ok;
using ::testing::HasSubstr;

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

} // namespace
} // namespace ingot::client
