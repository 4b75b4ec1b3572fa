// The operations every front end calls, with no socket: the scope each needs, hit and miss
// counting done once, completeness, and entries written with their blob.
#include "cas/read_tier.hpp"
#include "reapi.pb.h"
#include "server/metrics.hpp"
#include "server/ops/ops.hpp"
#include "server/ops_fixture.hpp"
#include "server/route.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

namespace reapi = build::bazel::remote::execution::v2;

using OpsTest = OpsFixture;

TEST_F(OpsTest, EveryOperationNeedsItsScope) {
  // The table front ends check before reading a body, and the operations again.
  EXPECT_EQ(scope_of(Op::healthz), 0u);
  EXPECT_EQ(scope_of(Op::read_blob), unsigned{k_scope_read});
  EXPECT_EQ(scope_of(Op::write_blob), unsigned{k_scope_write});
  EXPECT_EQ(scope_of(Op::remove_blob), unsigned{k_scope_admin});
  EXPECT_EQ(scope_of(Op::publish_release), unsigned{k_scope_sign});
  EXPECT_EQ(scope_of(Op::gc), unsigned{k_scope_admin});
  EXPECT_TRUE(m_ops->allow(m_anonymous, Op::healthz));
  EXPECT_TRUE(m_ops->allow(m_admin, Op::publish_release)) << "admin implies every scope";
}

TEST_F(OpsTest, NoCredentialsIsUnauthorizedAndTheWrongScopeIsForbidden) {
  const auto blob = put("bytes");
  auto anonymous = m_ops->read_blob(m_anonymous, route("/cas/" + blob.hex()), {});
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code, Errc::unauthorized);
  EXPECT_NE(anonymous.error().message.find("'read'"), std::string::npos)
      << anonymous.error().message;

  auto reader = m_ops->remove_blob(m_reader, route("/cas/" + blob.hex()));
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code, Errc::forbidden);
  EXPECT_NE(reader.error().message.find("'admin'"), std::string::npos) << reader.error().message;
  EXPECT_TRUE(m_store->contains(blob.hash)) << "a refused removal removed";
}

TEST_F(OpsTest, ARefusedUploadStoresNothing) {
  const auto to = route("/kv/some/key");
  auto r = upload(m_reader, to, "value");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::forbidden);
  EXPECT_FALSE(m_store->contains(cas::digest_of("value").hash));
  EXPECT_FALSE(m_store->ns_get(cas::Namespace::kv, "some/key"));
}

TEST_F(OpsTest, AnUploadToKvWritesTheBlobAndTheEntry) {
  auto r = upload(m_admin, route("/kv/some/key"), "value");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, cas::digest_of("value"));
  auto entry = m_store->ns_get(cas::Namespace::kv, "some/key");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->value, *r);
}

TEST_F(OpsTest, KvKeysUnderMirrorAreTheMirrorsAlone) {
  auto r = upload(m_admin, route("/kv/mirror/deb/Release"), "swapped");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::forbidden);
  EXPECT_NE(r.error().message.find("--mirror"), std::string::npos) << r.error().message;
  auto removed = m_ops->remove_blob(m_admin, route("/kv/mirror/deb/Release"));
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, Errc::forbidden);
  EXPECT_TRUE(upload(m_admin, route("/kv/mirrors/other"), "fine")); // only mirror/ itself
}

TEST_F(OpsTest, AnUploadOverTheBlobLimitIsTooLarge) {
  const std::string big(2048, 'x'); // OpsOptions{1024} in SetUp
  auto r = upload(m_admin, route("/kv/big"), big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_FALSE(m_store->ns_get(cas::Namespace::kv, "big"));
}

TEST_F(OpsTest, AnUploadWithTheWrongDigestIsRefused) {
  const auto other = cas::digest_of("other");
  auto r = upload(m_admin, route("/cas/" + other.hex()), "value");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_FALSE(m_store->contains(cas::digest_of("value").hash));
}

TEST_F(OpsTest, AReadCountsOneHitOrOneMissWhereItLooked) {
  ASSERT_TRUE(upload(m_admin, route("/kv/k"), "value"));
  ASSERT_TRUE(m_ops->read_blob(m_reader, route("/kv/k"), {}));
  EXPECT_FALSE(m_ops->read_blob(m_reader, route("/kv/absent"), {}));
  EXPECT_FALSE(m_ops->read_blob(m_reader, route("/cas/" + cas::digest_of("no").hex()), {}));
  EXPECT_EQ(lookups("kv", "hit"), "1");
  EXPECT_EQ(lookups("kv", "miss"), "1");
  EXPECT_EQ(lookups("cas", "miss"), "1");
  EXPECT_EQ(m_store->usage().hits, 1u);
  EXPECT_EQ(m_store->usage().misses, 2u);
}

TEST_F(OpsTest, AReadFromMemoryThatWouldWaitIsNoLookupUntilItIsMadeAgain) {
  // An ActionResult's completeness takes several lookups: it is never tried from memory.
  const auto key = cas::digest_of("an action").hex();
  ASSERT_TRUE(upload(m_admin, route("/ac/" + key), "opaque bytes"));
  {
    const cas::MemoryOnlyReads memory_only;
    auto tried = m_ops->read_blob(m_reader, route("/ac/" + key), {});
    ASSERT_FALSE(tried);
    EXPECT_EQ(tried.error().code, Errc::would_block);
  }
  EXPECT_EQ(lookups("ac", "hit"), "0");
  EXPECT_EQ(lookups("ac", "miss"), "0");
  auto read = m_ops->read_blob(m_reader, route("/ac/" + key), {});
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(lookups("ac", "hit"), "1");
}

TEST_F(OpsTest, ACasReadFromMemoryIsOneLookup) {
  const auto blob = put("in memory");
  {
    const cas::MemoryOnlyReads memory_only;
    auto read = m_ops->read_blob(m_reader, route("/cas/" + blob.hex()), {});
    ASSERT_TRUE(read) << read.error().message;
  }
  EXPECT_EQ(lookups("cas", "hit"), "1");
}

TEST_F(OpsTest, AnActionResultMissingAnOutputIsAMiss) {
  const auto out = put("object file");
  reapi::ActionResult result;
  auto* file = result.add_output_files();
  file->set_path("a.o");
  file->mutable_digest()->set_hash(out.hex());
  file->mutable_digest()->set_size_bytes(static_cast<std::int64_t>(out.size));
  const auto key = cas::digest_of("action").hex();
  ASSERT_TRUE(upload(m_admin, route("/ac/" + key), result.SerializeAsString()));
  ASSERT_TRUE(m_ops->read_blob(m_reader, route("/ac/" + key), {}));
  ASSERT_TRUE(m_store->remove(out.hash));

  auto r = m_ops->read_blob(m_reader, route("/ac/" + key), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(lookups("ac", "hit"), "1");
  EXPECT_EQ(lookups("ac", "miss"), "1");
}

TEST_F(OpsTest, FindMissingIsExactAboutSizesAndCountsEachDigest) {
  const auto a = put("alpha");
  const cas::Digest wrong_size{a.hash, a.size + 1};
  const auto absent = cas::digest_of("never stored");
  const std::vector<cas::Digest> asked{a, wrong_size, absent};
  auto missing = m_ops->find_missing(m_reader, asked);
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(*missing, (std::vector<cas::Digest>{wrong_size, absent}));
  EXPECT_EQ(lookups("cas", "hit"), "1");
  EXPECT_EQ(lookups("cas", "miss"), "2");
  EXPECT_FALSE(m_ops->find_missing(m_anonymous, asked));
}

TEST_F(OpsTest, BatchesAnswerPerBlob) {
  const std::vector<BatchBlob> blobs{{cas::digest_of("one"), "one"},
                                     {cas::digest_of("two"), "not two"}};
  auto updated = m_ops->batch_update(m_admin, blobs);
  ASSERT_TRUE(updated) << updated.error().message;
  ASSERT_EQ(updated->size(), 2u);
  EXPECT_TRUE((*updated)[0].data);
  ASSERT_FALSE((*updated)[1].data);
  EXPECT_EQ((*updated)[1].data.error().code, Errc::invalid_argument);

  const std::vector<cas::Digest> asked{cas::digest_of("one"), cas::digest_of("two")};
  auto read = m_ops->batch_read(m_reader, asked);
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->size(), 2u);
  ASSERT_TRUE((*read)[0].data);
  EXPECT_EQ(*(*read)[0].data, "one");
  EXPECT_FALSE((*read)[1].data);
  EXPECT_FALSE(m_ops->batch_update(m_reader, blobs)) << "a reader wrote a batch";
}

TEST_F(OpsTest, ARefNamesOnlyACompleteTreeAndBecomesAMissWhenItIsNot) {
  const auto file = put("file");
  reapi::Directory root;
  auto* f = root.add_files();
  f->set_name("f");
  f->mutable_digest()->set_hash(file.hex());
  f->mutable_digest()->set_size_bytes(static_cast<std::int64_t>(file.size));
  const auto tree = put(root.SerializeAsString());

  auto named = m_ops->put_ref(m_admin, "app/v1", tree, PinRef::no);
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(named->digest, tree);
  EXPECT_FALSE(named->pinned);
  EXPECT_FALSE(m_ops->put_ref(m_reader, "app/v2", tree, PinRef::no)) << "a reader named a ref";
  auto list = m_ops->list_refs(m_reader, "app/");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->refs.size(), 1u);
  EXPECT_EQ(list->refs[0].name, "app/v1");

  ASSERT_TRUE(m_store->remove(file.hash));
  auto got = m_ops->get_ref(m_reader, "app/v1");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::not_found);
  auto again = m_ops->put_ref(m_admin, "app/v3", tree, PinRef::yes);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::invalid_argument) << again.error().message;
  auto pinned = m_store->is_pinned(cas::ref_pin_name("app/v3"));
  ASSERT_TRUE(pinned);
  EXPECT_FALSE(*pinned) << "a refused ref pinned its tree";
}

TEST_F(OpsTest, ReleaseOperationsSayWhenTheServerHasNoReleases) {
  auto keys = m_ops->keys(m_reader);
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Errc::not_found);
  auto audit = m_ops->audit(m_reader);
  ASSERT_FALSE(audit);
  EXPECT_EQ(audit.error().code, Errc::forbidden) << "the scope comes first";
}

TEST_F(OpsTest, GcNeedsAdmin) {
  EXPECT_FALSE(m_ops->gc(m_reader, {}));
  auto report = m_ops->gc(m_admin, cas::GcOptions{0, cas::DryRun::yes});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->dry_run);
  EXPECT_TRUE(m_ops->stats(m_reader));
}

} // namespace
} // namespace ingot::server
