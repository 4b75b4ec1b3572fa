// fsck's pass over the Nix cache: narinfos that do not parse, or whose nar is gone.
#include "server/nix_cache.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"
#include "util/nix32.hpp"

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

class NixFsckTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
  }

  // A path with its nar and narinfo stored; returns its hash part.
  std::string push(std::uint64_t seed) {
    const auto nar = test::random_bytes(300, seed);
    const auto digest = test::must_put(*m_store, nar);
    const auto nar32 = nix32_encode(ByteView(digest.hash.data(), digest.hash.size()));
    const auto hash32 = nix32_encode(as_bytes(test::random_bytes(20, seed + 50)));
    const auto url = "nar/" + nar32 + ".nar";
    EXPECT_TRUE(m_store->ns_put(cas::Namespace::nix, url, digest));
    NixCache cache(*m_store, {}, 40);
    auto r = cache.put_narinfo(hash32, "StorePath: /nix/store/" + hash32 + "-x\nURL: " + url +
                                           "\nNarHash: sha256:" + nar32 + "\nNarSize: 300\n" +
                                           "References: \n");
    EXPECT_TRUE(r) << r.error().message;
    m_nars.push_back(digest);
    return hash32;
  }

  cas::FsckReport fsck(cas::Repair repair) {
    cas::FsckReport report;
    auto r = fsck_nix(*m_store, repair, report);
    EXPECT_TRUE(r) << r.error().message;
    return report;
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  std::vector<cas::Digest> m_nars;
};

TEST_F(NixFsckTest, ACompleteCacheHasNoFindings) {
  push(1);
  push(2);
  EXPECT_TRUE(fsck(cas::Repair::no).findings.empty());
}

TEST_F(NixFsckTest, ANarinfoWithoutItsNarIsReportedAndDroppedOnRepair) {
  const auto hash32 = push(3);
  push(4);
  ASSERT_TRUE(m_store->remove(m_nars[0].hash));
  auto report = fsck(cas::Repair::no);
  ASSERT_EQ(report.findings.size(), 1u);
  EXPECT_EQ(report.findings[0].issue, cas::FsckIssue::dangling_entry);
  EXPECT_EQ(report.findings[0].subject, "nix '" + hash32 + ".narinfo'");
  EXPECT_TRUE(m_store->ns_get(cas::Namespace::nix, narinfo_key(hash32)))
      << "changed without --repair";

  auto repaired = fsck(cas::Repair::yes);
  ASSERT_EQ(repaired.findings.size(), 1u);
  EXPECT_TRUE(repaired.findings[0].repaired);
  EXPECT_FALSE(m_store->ns_get(cas::Namespace::nix, narinfo_key(hash32)));
  EXPECT_TRUE(fsck(cas::Repair::no).findings.empty());
}

// A pinned path (`ingot nix pin`) is someone's choice to keep: its narinfo stays, named with
// its store path, and the finding says how to push it again.
TEST_F(NixFsckTest, APinnedPathsNarinfoIsKeptAndNamed) {
  const auto hash32 = push(5);
  ASSERT_TRUE(m_store->pin(nix_pin_name(hash32), {m_nars[0].hash}));
  ASSERT_TRUE(m_store->remove(m_nars[0].hash));
  auto repaired = fsck(cas::Repair::yes);
  ASSERT_EQ(repaired.findings.size(), 1u);
  const auto& f = repaired.findings[0];
  EXPECT_FALSE(f.repaired);
  EXPECT_TRUE(f.detail.starts_with("/nix/store/" + hash32 + "-x: its nar nar/")) << f.detail;
  EXPECT_EQ(f.action, "kept the narinfo of pinned path /nix/store/" + hash32 + "-x");
  EXPECT_NE(f.restore.find("nix copy --to 'http://HOST:PORT/nix' /nix/store/" + hash32 + "-x"),
            std::string::npos)
      << f.restore;
  EXPECT_TRUE(m_store->ns_get(cas::Namespace::nix, narinfo_key(hash32)));
}

TEST_F(NixFsckTest, ARecordThatIsNotANarinfoIsABadEntry) {
  const auto hash32 = nix32_encode(as_bytes(test::random_bytes(20, 9)));
  ASSERT_TRUE(m_store->ns_put(cas::Namespace::nix, narinfo_key(hash32),
                              test::must_put(*m_store, "not a narinfo")));
  auto report = fsck(cas::Repair::no);
  ASSERT_EQ(report.findings.size(), 1u);
  EXPECT_EQ(report.findings[0].issue, cas::FsckIssue::bad_entry);
  EXPECT_NE(report.findings[0].detail.find("does not parse"), std::string::npos);
}

} // namespace
} // namespace ingot::server
