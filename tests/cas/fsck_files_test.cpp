// Store::fsck over blobs/ and tmp/: stray files found and removed, writes in flight left alone.
#include "cas/fsck_fixture.hpp"

#include <gtest/gtest.h>

namespace ingot::cas::fsck_test {
namespace {

TEST_F(FsckTest, StrayFilesUnderBlobsAreOrphansThatRepairRemoves) {
  const auto good = put_good_blobs();
  const Digest inline_blob = good[0];
  const Digest unrecorded = digest_of(random_bytes(40'000, 14));
  const auto hex = unrecorded.hex();
  const std::string other_shard = good[2].hex().substr(0, 2) == "00" ? "01" : "00";
  const std::map<std::string, std::string> strays{
      {"blobs/" + hex.substr(0, 2) + "/" + hex, "no blob record names it"},
      {"blobs/" + other_shard + "/" + good[2].hex(), "wrong shard"},
      {"blobs/" + hex.substr(0, 2) + "/" + hex + ".partial", "SHA-256"},
      {"blobs/" + hex.substr(0, 2) + "/" + std::string(64, 'A'), "SHA-256"},
      {"blobs/" + inline_blob.hex().substr(0, 2) + "/" + inline_blob.hex(), "inline"},
      {"blobs/notes.txt", "outside the shard"},
      {"blobs/zz", "not a shard"},
  };
  for (const auto& [path, why] : strays) {
    if (path == "blobs/zz") {
      fs::create_directories(dir() / path / "deeper");
      write_file(dir() / path / "deeper" / "file", "x");
    } else {
      write_file(dir() / path, random_bytes(100, 15));
    }
  }

  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(found.findings.size(), strays.size()) << describe(found);
  for (const auto& f : found.findings) {
    EXPECT_EQ(f.issue, FsckIssue::orphan_file) << f.subject;
    const auto stray = strays.find(f.subject);
    ASSERT_NE(stray, strays.end()) << "unexpected finding for " << f.subject;
    EXPECT_NE(f.detail.find(stray->second), std::string::npos) << f.subject << ": " << f.detail;
    EXPECT_FALSE(f.repaired);
    EXPECT_TRUE(fs::exists(dir() / f.subject)) << "fsck without repair removed " << f.subject;
  }

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.findings.size(), strays.size());
  for (const auto& f : fixed.findings) {
    EXPECT_TRUE(f.repaired) << f.subject << ": " << f.action;
    EXPECT_TRUE(f.action == "removed orphan file " + f.subject ||
                f.action == "removed stray file " + f.subject ||
                f.action == "removed stray directory " + f.subject)
        << f.action;
    EXPECT_FALSE(fs::exists(dir() / f.subject)) << f.subject;
  }
  expect_clean();
  expect_readable(good);
  EXPECT_TRUE(fs::exists(file_of(good[2]))) << "the real file of a blob went with a stray copy";
}

TEST_F(FsckTest, StrayFileInTmpIsALeftoverThatRepairRemoves) {
  const auto good = put_good_blobs();
  write_file(dir() / "tmp" / "upload-from-a-dead-process", "half a blob");

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::temp_file);
  EXPECT_EQ(found.subject, "tmp/upload-from-a-dead-process");
  EXPECT_FALSE(found.repaired);
  EXPECT_FALSE(tmp_files(dir()).empty());

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "removed leftover temp file tmp/upload-from-a-dead-process");
  EXPECT_TRUE(tmp_files(dir()).empty());
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, TempFilesRemovedWhenOpeningAreReportedAsRepaired) {
  m_store.reset();
  write_file(dir() / "tmp" / "12345-0-42", "an interrupted write");
  ASSERT_NO_FATAL_FAILURE(open_store());

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::temp_file);
  EXPECT_EQ(found.subject, "tmp/12345-0-42");
  EXPECT_TRUE(found.repaired);
  EXPECT_NE(found.action.find("when the data dir was opened"), std::string::npos) << found.action;
  EXPECT_TRUE(tmp_files(dir()).empty());
}

TEST_F(FsckTest, RepairLeavesAWriteInFlightAlone) {
  const std::string data = random_bytes(300'000, 16);
  auto writer = store().begin_write();
  ASSERT_TRUE(writer) << writer.error().message;
  ASSERT_TRUE(ok((*writer)->append(as_bytes(std::string_view(data).substr(0, 200'000)))));
  ASSERT_FALSE(tmp_files(dir()).empty()) << "the write has no temp file to protect yet";

  const auto report = must_fsck(Repair::yes);
  EXPECT_TRUE(report.findings.empty()) << describe(report);
  EXPECT_FALSE(tmp_files(dir()).empty());

  ASSERT_TRUE(ok((*writer)->append(as_bytes(std::string_view(data).substr(200'000)))));
  const auto committed = (*writer)->commit();
  ASSERT_TRUE(committed) << committed.error().message;
  expect_readable({*committed});
  expect_clean();
}

} // namespace
} // namespace ingot::cas::fsck_test
