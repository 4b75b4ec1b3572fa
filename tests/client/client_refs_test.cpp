// The Client's refs (client/client_refs.cpp) against a real Ingot server in this process.
#include "running_server.hpp"
#include "support/printers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

using test::fails_with;
using test::ok;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

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
