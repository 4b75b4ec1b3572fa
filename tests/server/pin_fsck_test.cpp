// fsck's words for pinned data: a blob that a release, a pinned ref or another pin set needs,
// once gone, is named as what needs it, with how to upload it again.
#include "server/pin_fsck.hpp"
#include "server/refs.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

// Bit rot, made by hand: blob files are read-only.
void flip_byte(const std::filesystem::path& file, std::streamoff at) {
  std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(at);
  char c = 0;
  f.get(c);
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x20));
  ASSERT_TRUE(f) << file;
}

class PinFsckTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
  }

  // The store's own fsck, then the words for pinned data.
  cas::FsckReport fsck(cas::Repair repair) {
    auto report = m_store->fsck(repair);
    EXPECT_TRUE(report) << report.error().message;
    auto r = explain_pinned(*m_store, repair, *report);
    EXPECT_TRUE(r) << r.error().message;
    return *report;
  }

  const cas::FsckFinding* about(const cas::FsckReport& report, std::string_view pin_set,
                                const cas::Digest& blob) {
    for (const auto& f : report.findings) {
      if (f.blob == blob.hash && f.pinned_by.size() == 1 && f.pinned_by[0] == pin_set) {
        return &f;
      }
    }
    ADD_FAILURE() << "no finding about pin set " << pin_set;
    return nullptr;
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
};

TEST_F(PinFsckTest, NamesTheReleaseFileTheRefAndOtherPinSets) {
  const auto artifact = test::must_put(*m_store, test::random_bytes(40'000, 1));
  const auto sums = test::must_put(*m_store, "sums\n");
  const auto tree_file = test::must_put(*m_store, test::random_bytes(40'000, 2));
  // A release record as Releases::publish writes it (the parts release_need reads).
  ASSERT_TRUE(m_store->put_record(
      "release/demo/1.0",
      R"({"project":"demo","version":"1.0","artifacts":[{"name":"app.tar","digest":")" +
          artifact.to_string() + R"("}],"files":{"SHA256SUMS":")" + sums.to_string() + R"("}})"));
  ASSERT_TRUE(m_store->pin("release/demo/1.0", {artifact.hash, sums.hash}));
  ASSERT_TRUE(m_store->pin(ref_pin_name("builds/x"), {tree_file.hash}));
  ASSERT_TRUE(m_store->pin("something/else", {tree_file.hash}));
  ASSERT_TRUE(m_store->remove(artifact.hash));
  ASSERT_TRUE(m_store->remove(sums.hash));
  ASSERT_TRUE(m_store->remove(tree_file.hash));

  const auto report = fsck(cas::Repair::yes);
  EXPECT_EQ(report.unrepaired(), 4U) << "pinned data that is gone is never repaired";
  const auto data = m_store->dir().string();
  for (const auto& f : report.findings) {
    EXPECT_EQ(f.issue, cas::FsckIssue::missing_pinned);
    EXPECT_FALSE(f.restore.empty()) << f.detail;
  }
  if (const auto* f = about(report, "release/demo/1.0", artifact)) {
    EXPECT_TRUE(f->detail.ends_with("; release demo 1.0 needs it as app.tar")) << f->detail;
    EXPECT_TRUE(f->restore.starts_with("upload app.tar (the file as released) again: `ingot put "
                                       "--data " +
                                       data + " app.tar` (server stopped) or `curl -T app.tar "))
        << f->restore;
    EXPECT_NE(f->restore.find("/cas/" + artifact.hex() + "`"), std::string::npos) << f->restore;
  }
  int release_files = 0;
  for (const auto& f : report.findings) {
    if (f.pinned_by[0] == "release/demo/1.0") {
      ++release_files;
      EXPECT_TRUE(f.detail.ends_with(*f.blob == sums.hash ? "needs it as SHA256SUMS"
                                                          : "needs it as app.tar"))
          << f.detail;
    }
  }
  EXPECT_EQ(release_files, 2);
  if (const auto* f = about(report, "ref/builds/x", tree_file)) {
    EXPECT_TRUE(f->detail.ends_with("; pinned ref 'builds/x' needs it")) << f->detail;
    EXPECT_NE(f->restore.find("ingot push-tree DIR --ref builds/x --pin"), std::string::npos);
  }
  if (const auto* f = about(report, "something/else", tree_file)) {
    EXPECT_TRUE(f->detail.ends_with("; pin set 'something/else' needs it")) << f->detail;
    EXPECT_NE(f->restore.find("/cas/" + tree_file.hex()), std::string::npos) << f->restore;
  }
}

TEST_F(PinFsckTest, ADamagedCopyStillStoredIsDroppedByRepairFirst) {
  const std::string bytes = test::random_bytes(60'000, 3);
  const auto blob = test::must_put(*m_store, bytes);
  ASSERT_TRUE(m_store->pin(ref_pin_name("rc"), {blob.hash}));
  const auto files = test::blob_files_of(m_store->dir(), blob);
  ASSERT_EQ(files.size(), 1U);
  flip_byte(files[0], 100);

  const auto report = fsck(cas::Repair::no);
  ASSERT_EQ(report.findings.size(), 1U);
  const auto& f = report.findings[0];
  EXPECT_EQ(f.issue, cas::FsckIssue::corrupt_blob);
  EXPECT_TRUE(f.detail.ends_with("; pinned ref 'rc' needs it")) << f.detail;
  EXPECT_TRUE(f.restore.starts_with("`ingot fsck --data " + m_store->dir().string() +
                                    " --repair` drops the damaged copy (keeping its pins); then "
                                    "upload the file again"))
      << f.restore;
}

} // namespace
} // namespace ingot::server
