// Trees and refs against a real store: a ref names a complete tree, a pinned ref keeps the
// tree's whole closure from eviction, and a ref whose tree lost a blob is a miss.
#include "reapi.pb.h"
#include "server/metrics.hpp"
#include "server/ops/ops.hpp"
#include "server/refs.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ingot::server {
namespace {

namespace reapi = build::bazel::remote::execution::v2;

class RefsTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
    m_ops = std::make_unique<Ops>(*m_store, m_metrics, nullptr);
  }

  cas::Digest put(std::string_view bytes) { return test::must_put(*m_store, bytes); }

  static void set(reapi::Digest& out, const cas::Digest& d) {
    out.set_hash(d.hex());
    out.set_size_bytes(static_cast<std::int64_t>(d.size));
  }

  // root/ { a.txt, sub/ { b.txt } }
  cas::Digest tree() {
    m_a = put("file a");
    m_b = put("file b");
    reapi::Directory sub;
    auto* b = sub.add_files();
    b->set_name("b.txt");
    set(*b->mutable_digest(), m_b);
    m_sub = put(sub.SerializeAsString());
    reapi::Directory root;
    auto* a = root.add_files();
    a->set_name("a.txt");
    set(*a->mutable_digest(), m_a);
    auto* d = root.add_directories();
    d->set_name("sub");
    set(*d->mutable_digest(), m_sub);
    return put(root.SerializeAsString());
  }

  static Route route(std::string_view target) {
    auto r = parse_route(target);
    EXPECT_TRUE(r) << target;
    return *r;
  }

  SimpleResponse put_ref_json(std::string_view name, const cas::Digest& d, bool pinned) {
    const nlohmann::json body{{"digest", d.to_string()}, {"pinned", pinned}};
    return put_ref(*m_ops, m_caller, route("/v1/refs/" + std::string(name)), body.dump());
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  Metrics m_metrics;
  std::unique_ptr<Ops> m_ops;
  Caller m_caller = Caller::with(k_scope_admin);
  cas::Digest m_a, m_b, m_sub;
};

TEST_F(RefsTest, ClosureHasEveryDirectoryAndFile) {
  const auto root = tree();
  auto closure = tree_closure(*m_store, root);
  ASSERT_TRUE(closure) << closure.error().message;
  ASSERT_EQ(closure->directories.size(), 2u);
  EXPECT_EQ(closure->directories[0], root);
  EXPECT_EQ(closure->directories[1], m_sub);
  EXPECT_EQ(closure->files.size(), 2u);
}

TEST_F(RefsTest, TreeResponseIsTheRootAndItsChildren) {
  const auto root = tree();
  const auto res = get_tree(*m_ops, m_caller, route("/v1/trees/" + root.to_string()));
  ASSERT_EQ(res.status, 200u) << res.body;
  reapi::Tree t;
  ASSERT_TRUE(t.ParseFromString(res.body));
  EXPECT_EQ(t.root().files(0).name(), "a.txt");
  ASSERT_EQ(t.children_size(), 1);
  EXPECT_EQ(t.children(0).files(0).name(), "b.txt");
}

TEST_F(RefsTest, PutGetListAndDelete) {
  const auto root = tree();
  ASSERT_EQ(put_ref_json("app/v1", root, false).status, 200u);
  const auto got = get_ref(*m_ops, m_caller, route("/v1/refs/app/v1"));
  ASSERT_EQ(got.status, 200u) << got.body;
  const auto j = nlohmann::json::parse(got.body);
  EXPECT_EQ(j["digest"], root.to_string());
  EXPECT_EQ(j["pinned"], false);
  const auto list =
      nlohmann::json::parse(get_ref(*m_ops, m_caller, route("/v1/refs?prefix=app/")).body);
  ASSERT_EQ(list["refs"].size(), 1u);
  EXPECT_EQ(list["refs"][0]["name"], "app/v1");
  EXPECT_EQ(
      nlohmann::json::parse(get_ref(*m_ops, m_caller, route("/v1/refs?prefix=other")).body)["refs"]
          .size(),
      0u);
  EXPECT_EQ(delete_ref(*m_ops, m_caller, route("/v1/refs/app/v1")).status, 200u);
  EXPECT_EQ(get_ref(*m_ops, m_caller, route("/v1/refs/app/v1")).status, 404u);
}

TEST_F(RefsTest, IncompleteTreeCannotBeNamedAndNamedOneBecomesAMiss) {
  const auto root = tree();
  ASSERT_EQ(put_ref_json("app/v1", root, false).status, 200u);
  ASSERT_TRUE(m_store->remove(m_b.hash)); // an admin purge, or eviction
  const auto got = get_ref(*m_ops, m_caller, route("/v1/refs/app/v1"));
  EXPECT_EQ(got.status, 404u);
  EXPECT_NE(got.body.find(m_b.hex()), std::string::npos) << got.body;
  EXPECT_EQ(get_tree(*m_ops, m_caller, route("/v1/trees/" + root.to_string())).status, 404u);
  const auto refused = put_ref_json("app/v2", root, false);
  EXPECT_EQ(refused.status, 400u);
  EXPECT_NE(refused.body.find("b.txt"), std::string::npos) << refused.body;
}

TEST_F(RefsTest, PinnedRefPinsTheClosureUntilUnpinned) {
  const auto root = tree();
  ASSERT_EQ(put_ref_json("app/v1", root, true).status, 200u);
  const auto u = m_store->usage();
  EXPECT_EQ(u.pinned_blobs, 4u);
  // Everything evictable goes; the pinned tree stays whole.
  const auto filler = put("not pinned");
  auto report = m_store->gc(cas::GcOptions{0, cas::DryRun::no});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(m_store->contains(filler.hash));
  EXPECT_EQ(get_ref(*m_ops, m_caller, route("/v1/refs/app/v1")).status, 200u);
  // Re-pointing it unpinned releases the pins.
  ASSERT_EQ(put_ref_json("app/v1", root, false).status, 200u);
  EXPECT_EQ(m_store->usage().pinned_blobs, 0u);
  report = m_store->gc(cas::GcOptions{0, cas::DryRun::no});
  ASSERT_TRUE(report);
  EXPECT_FALSE(m_store->contains(m_a.hash));
  // The root went too, and the ref with it.
  EXPECT_EQ(get_ref(*m_ops, m_caller, route("/v1/refs/app/v1")).status, 404u);
}

// Found by tests/fuzz/tree_fuzz.cpp: a ref named with bytes that are not UTF-8 was stored, and
// then every answer naming it threw out of nlohmann::json::dump, ending the server.
TEST_F(RefsTest, NameThatIsNotUtf8IsRefusedAndOneAlreadyStoredIsStillListed) {
  EXPECT_FALSE(parse_route("/v1/refs/team%F5main"));
  const auto root = tree();
  ASSERT_TRUE(m_store->ns_put(cas::Namespace::ref, "old\xf5name", root));
  Route stored;
  stored.kind = RouteKind::refs;
  stored.key = "old\xf5name";
  const auto got = get_ref(*m_ops, m_caller, stored);
  EXPECT_EQ(got.status, 200u) << got.body;
  EXPECT_NE(got.body.find("old\xef\xbf\xbdname"), std::string::npos) << "U+FFFD in its place";
  const auto listed = get_ref(*m_ops, m_caller, route("/v1/refs"));
  EXPECT_EQ(listed.status, 200u);
  EXPECT_NE(listed.body.find("old\xef\xbf\xbdname"), std::string::npos);
}

TEST_F(RefsTest, MalformedBodiesAreRefused) {
  const auto r = route("/v1/refs/x");
  EXPECT_EQ(put_ref(*m_ops, m_caller, r, "not json").status, 400u);
  EXPECT_EQ(put_ref(*m_ops, m_caller, r, R"({"digest": 5})").status, 400u);
  EXPECT_EQ(put_ref(*m_ops, m_caller, r, R"({"digest": "abc/1"})").status, 400u);
  EXPECT_EQ(put_ref(*m_ops, m_caller, r, R"({"digest": "x", "pinned": "yes"})").status, 400u);
}

// Refs name trees and blobs (ARCHITECTURE.md): a stored file was refused with "upload it
// before naming it", though it was uploaded.
TEST_F(RefsTest, RefToAStoredFileBlobIsAcceptedPinnedAndAMissOnceGone) {
  const auto file = put(std::string(100, '\xff')); // not a Directory message
  const auto set = put_ref_json("tools/cc", file, true);
  ASSERT_EQ(set.status, 200u) << set.body;
  EXPECT_EQ(nlohmann::json::parse(set.body)["digest"], file.to_string());
  const auto got = get_ref(*m_ops, m_caller, route("/v1/refs/tools/cc"));
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(nlohmann::json::parse(got.body)["pinned"], true);
  EXPECT_EQ(m_store->usage().pinned_blobs, 1u);
  // Unpinned, GC may take it; the ref is then a miss, not a hit on nothing.
  ASSERT_EQ(put_ref_json("tools/cc", file, false).status, 200u);
  EXPECT_EQ(m_store->usage().pinned_blobs, 0u);
  ASSERT_TRUE(m_store->remove(file.hash));
  EXPECT_EQ(get_ref(*m_ops, m_caller, route("/v1/refs/tools/cc")).status, 404u);
}

TEST_F(RefsTest, RefToABlobThatIsNotStoredOrHasAnotherSizeIsRefused) {
  const auto absent = cas::digest_of(std::string_view("never uploaded"));
  const auto refused = put_ref_json("x", absent, false);
  EXPECT_EQ(refused.status, 400u);
  EXPECT_NE(refused.body.find("upload it before naming it"), std::string::npos) << refused.body;
  const auto file = put("twelve bytes");
  const auto wrong = put_ref_json("x", cas::Digest{file.hash, file.size + 1}, false);
  EXPECT_EQ(wrong.status, 400u);
  EXPECT_NE(wrong.body.find("12 bytes, not 13"), std::string::npos) << wrong.body;
}

} // namespace
} // namespace ingot::server
