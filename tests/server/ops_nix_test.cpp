// The Nix cache's operations: scopes, nars verified against their names, nix lookups counted
// once per narinfo, and pinned closures that GC keeps.
#include "cas/read_tier.hpp"
#include "server/nix_cache.hpp"
#include "server/ops_fixture.hpp"
#include "support/printers.hpp"
#include "support/test_data.hpp"
#include "util/nix32.hpp"

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

std::string nix32_sha256(std::string_view bytes) {
  const auto digest = cas::digest_of(bytes);
  return nix32_encode(ByteView(digest.hash.data(), digest.hash.size()));
}

struct NixPath {
  std::string hash32;
  std::string nar;
  std::string base() const { return hash32 + "-p"; }
  std::string nar_name() const { return "nar/" + nix32_sha256(nar) + ".nar"; }
  std::string narinfo(const std::vector<const NixPath*>& refs = {}) const {
    std::string references;
    for (const auto* r : refs) {
      references += (references.empty() ? "" : " ") + r->base();
    }
    return "StorePath: /nix/store/" + base() + "\nURL: " + nar_name() +
           "\nCompression: none\nNarHash: sha256:" + nix32_sha256(nar) +
           "\nNarSize: " + std::to_string(nar.size()) + "\nReferences: " + references + "\n";
  }
};

NixPath nix_path(std::uint64_t seed) {
  return {nix32_encode(as_bytes(test::random_bytes(20, seed))),
          test::random_bytes(500, seed + 1000)};
}

class OpsNixTest : public OpsFixture {
protected:
  Result<cas::Digest> upload(const Caller& caller, std::string_view target, std::string_view body) {
    return OpsFixture::upload(caller, route(target), body);
  }

  void push(const NixPath& p, const std::vector<const NixPath*>& refs = {}) {
    ASSERT_TRUE(upload(m_writer, "/nix/" + p.nar_name(), p.nar));
    auto r = m_ops->put_narinfo(m_writer, p.hash32, p.narinfo(refs));
    ASSERT_TRUE(r) << r.error().message;
  }
};

TEST_F(OpsNixTest, CacheInfoNeedsNoToken) {
  auto info = m_ops->nix_cache_info(m_anonymous);
  ASSERT_TRUE(info);
  EXPECT_NE(info->find("Priority: 40\n"), std::string::npos) << *info;
}

TEST_F(OpsNixTest, WritingNeedsTheWriteScope) {
  const auto p = nix_path(1);
  auto anonymous = upload(m_anonymous, "/nix/" + p.nar_name(), p.nar);
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code, Errc::unauthorized);
  auto reader = m_ops->put_narinfo(m_reader, p.hash32, p.narinfo());
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code, Errc::forbidden);
  EXPECT_FALSE(m_store->contains(cas::digest_of(p.nar).hash));
}

TEST_F(OpsNixTest, ANarIsVerifiedAgainstTheHashItsNameCarries) {
  const auto p = nix_path(2);
  auto wrong = upload(m_writer, "/nix/" + p.nar_name(), p.nar + "x");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::invalid_argument);
  EXPECT_FALSE(m_store->ns_get(cas::Namespace::nix, p.nar_name()));
  EXPECT_FALSE(m_store->contains(cas::digest_of(p.nar + "x").hash));
  ASSERT_TRUE(upload(m_writer, "/nix/" + p.nar_name(), p.nar));
  auto entry = m_store->ns_get(cas::Namespace::nix, p.nar_name());
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->value, cas::digest_of(p.nar));
  // Any other file is stored as given.
  ASSERT_TRUE(upload(m_writer, "/nix/log/" + p.base() + ".drv", "build log"));
  auto log = m_ops->read_blob(m_reader, route("/nix/log/" + p.base() + ".drv"), {});
  ASSERT_TRUE(log);
  EXPECT_EQ(log->digest, cas::digest_of("build log"));
}

TEST_F(OpsNixTest, EachNarinfoReadIsOneNixLookupAndNarReadsAreNone) {
  const auto p = nix_path(3);
  push(p);
  ASSERT_TRUE(m_ops->get_narinfo(m_reader, p.hash32));
  EXPECT_FALSE(m_ops->get_narinfo(m_reader, nix_path(4).hash32));
  ASSERT_TRUE(m_ops->read_blob(m_reader, route("/nix/" + p.nar_name()), {}));
  EXPECT_FALSE(m_ops->read_blob(m_reader, route("/nix/" + nix_path(5).nar_name()), {}));
  EXPECT_EQ(lookups("nix", "hit"), "1");
  EXPECT_EQ(lookups("nix", "miss"), "1");
}

TEST_F(OpsNixTest, ANarinfoReadFromMemoryIsAHitOrWouldWaitButNeverAMiss) {
  const auto p = nix_path(11);
  push(p);
  for (int i = 0; i < 2; ++i) { // the second read is served from the memo
    const cas::MemoryOnlyReads memory_only;
    auto tried = m_ops->get_narinfo(m_reader, p.hash32);
    if (!tried) {
      EXPECT_EQ(tried.error().code, Errc::would_block) << tried.error().message;
    }
  }
  EXPECT_EQ(lookups("nix", "miss"), "0");
}

TEST_F(OpsNixTest, APinnedClosureSurvivesGcAndUnpinningReleasesIt) {
  const auto dep = nix_path(6);
  const auto top = nix_path(7);
  push(dep);
  push(top, {&dep, &top});
  auto pinned = m_ops->pin_nix(m_writer, top.hash32);
  ASSERT_TRUE(pinned) << pinned.error().message;
  EXPECT_EQ(*pinned, 4u); // two narinfos, two nars
  ASSERT_TRUE(m_ops->gc(m_admin, cas::GcOptions{0, cas::DryRun::no}));
  EXPECT_TRUE(m_ops->get_narinfo(m_reader, dep.hash32));
  EXPECT_TRUE(m_ops->get_narinfo(m_reader, top.hash32));

  ASSERT_TRUE(m_ops->unpin_nix(m_writer, top.hash32));
  auto again = m_ops->unpin_nix(m_writer, top.hash32);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
  ASSERT_TRUE(m_ops->gc(m_admin, cas::GcOptions{0, cas::DryRun::no}));
  EXPECT_FALSE(m_ops->get_narinfo(m_reader, top.hash32));
}

TEST_F(OpsNixTest, PinningAnIncompleteClosureSaysWhichPathIsMissing) {
  const auto dep = nix_path(8);
  const auto top = nix_path(9);
  push(dep);
  push(top, {&dep});
  ASSERT_TRUE(m_store->remove(cas::digest_of(dep.nar).hash));
  auto r = m_ops->pin_nix(m_writer, top.hash32);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find(dep.hash32), std::string::npos) << r.error().message;
  auto absent = m_ops->pin_nix(m_writer, nix_path(10).hash32);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, Errc::not_found);
}

} // namespace
} // namespace ingot::server
