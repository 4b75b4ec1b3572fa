// Store::fsck: each kind of damage made for real (files flipped, truncated, deleted or dropped
// in; index values overwritten through RocksDB itself), found without --repair, fixed with
// it, and gone on a second run, with the good blobs still reading back. Blob records and
// namespace entries here; files in fsck_files_test.cpp, the derived tables and counters in
// fsck_index_test.cpp.
#include "cas/fsck_fixture.hpp"

#include <gtest/gtest.h>

namespace ingot::cas::fsck_test {
namespace {

TEST_F(FsckTest, CleanStoreHasNoFindings) {
  const auto blobs = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cd", blobs[0])));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, std::string(64, 'a'), blobs[2])));
  expect_clean();
  const auto report = must_fsck(Repair::yes);
  EXPECT_TRUE(report.findings.empty());
  EXPECT_EQ(report.entries_checked, 2U);
  EXPECT_EQ(report.files_checked, 2U); // the two blobs above the inline threshold
  expect_readable(blobs);
}

TEST_F(FsckTest, FlippedByteIsACorruptBlobThatRepairDrops) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(random_bytes(50'000, 10));
  const fs::path file = file_of(victim);
  ASSERT_NO_FATAL_FAILURE(flip_byte(file, 1234));
  const Usage before = store().usage();

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::corrupt_blob);
  EXPECT_EQ(found.subject, victim.hex());
  EXPECT_FALSE(found.repaired);
  EXPECT_TRUE(found.action.empty());
  EXPECT_TRUE(fs::exists(file)) << "fsck without repair changed the data dir";
  expect_same_usage(store().usage(), before);

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_EQ(fixed.issue, FsckIssue::corrupt_blob);
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "dropped corrupt blob " + victim.hex() + " (checksum mismatch)");
  EXPECT_FALSE(store().contains(victim.hash));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(store().usage().blobs, before.blobs - 1);
  EXPECT_EQ(store().usage().logical_bytes, before.logical_bytes - victim.size);

  expect_clean();
  expect_readable(good);
  // The cache heals when a client uploads the blob again.
  must_put(random_bytes(50'000, 10));
  expect_readable({victim});
}

TEST_F(FsckTest, TruncatedZstdFileIsCorrupt) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(compressible_text(300'000, 11));
  const auto info = store().stat(victim.hash);
  ASSERT_TRUE(info && info->codec == Codec::zstd);
  const fs::path file = file_of(victim);
  fs::resize_file(file, fs::file_size(file) / 2);

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::corrupt_blob);
  EXPECT_EQ(found.subject, victim.hex());

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_FALSE(store().contains(victim.hash));
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, DeletedFileIsMissingAndRepairDropsTheRecord) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(random_bytes(60'000, 12));
  fs::remove(file_of(victim));
  const Usage before = store().usage();

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::missing_file);
  EXPECT_EQ(found.subject, victim.hex());
  EXPECT_NE(found.detail.find("blobs/" + victim.hex().substr(0, 2) + "/" + victim.hex()),
            std::string::npos)
      << found.detail;
  EXPECT_TRUE(store().contains(victim.hash));

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "dropped blob " + victim.hex() + " (its file is gone)");
  EXPECT_FALSE(store().contains(victim.hash));
  EXPECT_EQ(store().usage().stored_bytes, before.stored_bytes - victim.size);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, CorruptInlineBlobIsDropped) {
  const auto good = put_good_blobs();
  const Digest victim = must_put(random_bytes(500, 13));
  damage_index([&](RawIndex& raw) {
    std::string_view data;
    const std::string value = raw.get("blobs", key_of(victim.hash));
    auto record = decode_blob_value(value, &data);
    ASSERT_TRUE(record && record->is_inline);
    std::string rotten(data);
    rotten[7] = static_cast<char>(rotten[7] ^ 1);
    raw.put("blobs", key_of(victim.hash), encode_blob_value(*record, as_bytes(rotten)));
  });
  ASSERT_TRUE(fails_with(store().verify(victim.hash), Errc::corrupt));

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::corrupt_blob);
  EXPECT_NE(found.detail.find("inline"), std::string::npos) << found.detail;

  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  EXPECT_FALSE(store().contains(victim.hash));
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, EntryWhoseValueBlobIsGoneIsDropped) {
  const auto good = put_good_blobs();
  const Digest value = must_put(random_bytes(20'000, 17));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef", value)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "kept", good[1])));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(value.hash)));
  const Usage before = store().usage();

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::dangling_entry);
  EXPECT_EQ(found.subject, "kv 'ccache/ab/cdef'");
  EXPECT_EQ(found.detail, "value blob " + value.hex() + " is gone");
  EXPECT_EQ(store().usage().kv_entries, before.kv_entries);

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action,
            "dropped kv entry 'ccache/ab/cdef' (value blob " + value.hex() + " is gone)");
  EXPECT_EQ(store().usage().kv_entries, before.kv_entries - 1);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "ccache/ab/cdef"), Errc::not_found));
  EXPECT_TRUE(ok(store().ns_get(Namespace::kv, "kept")));
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, NixEntryWhoseValueBlobIsGoneIsDropped) {
  const auto good = put_good_blobs();
  const Digest nar = must_put(random_bytes(20'000, 19));
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, "nar/1w1f.nar.xz", nar)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, "narinfo/0f5c", good[1])));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(nar.hash)));
  ASSERT_EQ(store().usage().nix_entries, 2U);

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::dangling_entry);
  EXPECT_EQ(found.subject, "nix 'nar/1w1f.nar.xz'");
  EXPECT_EQ(found.detail, "value blob " + nar.hex() + " is gone");
  EXPECT_EQ(store().usage().nix_entries, 2U);

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action,
            "dropped nix entry 'nar/1w1f.nar.xz' (value blob " + nar.hex() + " is gone)");
  EXPECT_EQ(store().usage().nix_entries, 1U);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::nix, "nar/1w1f.nar.xz"), Errc::not_found));
  EXPECT_TRUE(ok(store().ns_get(Namespace::nix, "narinfo/0f5c")));
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, EntryNamingACorruptBlobGoesWithIt) {
  const auto good = put_good_blobs();
  const Digest value = must_put(random_bytes(30'000, 18));
  const std::string key(64, 'e');
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, key, value)));
  ASSERT_NO_FATAL_FAILURE(flip_byte(file_of(value), 10));

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(found.findings.size(), 2U);
  EXPECT_EQ(of_kind(found, FsckIssue::corrupt_blob).size(), 1U);
  const auto dangling = of_kind(found, FsckIssue::dangling_entry);
  ASSERT_EQ(dangling.size(), 1U);
  EXPECT_EQ(dangling[0].subject, "ac '" + key + "'");
  EXPECT_EQ(dangling[0].detail, "value blob " + value.hex() + " is corrupt");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.findings.size(), 2U);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  const auto dropped = of_kind(fixed, FsckIssue::dangling_entry);
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(dropped[0].action, "dropped ac entry '" + key + "' along with its value blob");
  EXPECT_EQ(store().usage().ac_entries, 0U);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UnreadableBlobRecordIsDroppedWithItsFileAndUsageIsCorrected) {
  const auto good = put_good_blobs();
  const Usage without = store().usage();
  const Digest victim = must_put(random_bytes(70'000, 19));
  const fs::path file = file_of(victim);
  damage_index([&](RawIndex& raw) { raw.put("blobs", key_of(victim.hash), "\x09garbage"); });
  EXPECT_TRUE(fails_with(store().stat(victim.hash), Errc::corrupt));

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(of_kind(found, FsckIssue::bad_blob_record).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::bad_blob_record)[0].subject, victim.hex());
  // Its share of the counters cannot be recounted from a record that does not decode: one
  // finding per counter it added to.
  const auto counters = of_kind(found, FsckIssue::usage_mismatch);
  ASSERT_EQ(counters.size(), 4U) << describe(found);
  EXPECT_EQ(counters[0].subject, "usage counter 'blobs'");
  EXPECT_EQ(counters[0].detail, "recorded " + std::to_string(without.blobs + 1) +
                                    ", but the records add up to " + std::to_string(without.blobs));
  EXPECT_EQ(found.findings.size(), 5U);
  EXPECT_TRUE(fs::exists(file)) << "a file with an (unreadable) record is not an orphan";

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  const auto dropped = of_kind(fixed, FsckIssue::bad_blob_record);
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(dropped[0].action, "dropped unreadable blob record " + victim.hex() + " and its file " +
                                   file.lexically_relative(dir()).string());
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(store().contains(victim.hash));
  expect_same_usage(store().usage(), without);

  // The correction is persisted, not only applied in memory.
  m_store.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  expect_same_usage(store().usage(), without);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, BlobRecordWithABadKeyIsDropped) {
  const auto good = put_good_blobs();
  damage_index(
      [&](RawIndex& raw) { raw.put("blobs", "short", encode_blob_value(BlobRecord{}, {})); });
  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_blob_record);
  EXPECT_EQ(found.subject, "key 73686f7274"); // "short"
  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UnreadableEntryIsDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "broken", good[0])));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "fine", good[0])));
  damage_index([&](RawIndex& raw) { raw.put("kv", "broken", "\x01too short"); });
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "broken"), Errc::corrupt));

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_entry);
  EXPECT_EQ(found.subject, "kv 'broken'");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired);
  EXPECT_EQ(fixed.action, "dropped kv entry 'broken' (its value cannot be decoded)");
  EXPECT_EQ(store().usage().kv_entries, 1U);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "broken"), Errc::not_found));
  EXPECT_TRUE(ok(store().ns_get(Namespace::kv, "fine")));
  expect_clean();
}

TEST_F(FsckTest, EntryNamingTheWrongSizeIsDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, std::string(64, 'b'), good[2])));
  damage_index([&](RawIndex& raw) {
    const Entry wrong{Digest{good[2].hash, good[2].size + 1}, 1};
    raw.put("ac", std::string(64, 'b'), encode_entry(wrong));
  });
  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_entry);
  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  EXPECT_EQ(store().usage().ac_entries, 0U);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UnreadableEmptyBlobRecordIsWrittenAgain) {
  damage_index([&](RawIndex& raw) { raw.put("blobs", key_of(empty_digest().hash), "?"); });
  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(of_kind(found, FsckIssue::bad_blob_record).size(), 1U);

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  EXPECT_TRUE(store().contains(empty_digest().hash));
  expect_readable({empty_digest()});
  expect_clean();
  EXPECT_EQ(store().usage().blobs, 1U);
}

// Every kind at once, as an admin meets them: nothing changes without --repair, everything is
// fixed with it, and the good data is untouched.
TEST_F(FsckTest, EveryKindOfDamageAtOnce) {
  const auto good = put_good_blobs();
  const Digest rotten = must_put(random_bytes(40'000, 20));
  const Digest lost = must_put(random_bytes(41'000, 21));
  const Digest dropped = must_put(random_bytes(42'000, 22));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "a", dropped)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "b", good[3])));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(dropped.hash)));
  ASSERT_NO_FATAL_FAILURE(flip_byte(file_of(rotten), 0));
  fs::remove(file_of(lost));
  const auto orphan = digest_of(random_bytes(43'000, 23)).hex();
  write_file(dir() / "blobs" / orphan.substr(0, 2) / orphan, "not even the right bytes");
  write_file(dir() / "tmp" / "stray", "x");
  const auto files_before = test::files_under(dir() / "blobs").size();

  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(of_kind(found, FsckIssue::corrupt_blob).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::missing_file).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::dangling_entry).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::orphan_file).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::temp_file).size(), 1U);
  EXPECT_EQ(found.findings.size(), 5U);
  EXPECT_EQ(found.unrepaired(), 5U);
  EXPECT_EQ(test::files_under(dir() / "blobs").size(), files_before);

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.findings.size(), 5U);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  for (const auto& f : fixed.findings) {
    EXPECT_FALSE(f.action.empty()) << f.subject;
  }
  expect_clean();
  expect_readable(good);
  EXPECT_TRUE(ok(store().ns_get(Namespace::kv, "b")));
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

// --- refs ---

TEST_F(FsckTest, RefWhoseValueBlobIsGoneIsDropped) {
  const auto good = put_good_blobs();
  const Digest tree = must_put(random_bytes(20'000, 30));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "nightly", tree)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "stable", good[1])));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(tree.hash)));
  const Usage before = store().usage();
  ASSERT_EQ(before.ref_entries, 2U);

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::dangling_entry);
  EXPECT_EQ(found.subject, "ref 'nightly'");
  EXPECT_EQ(found.detail, "value blob " + tree.hex() + " is gone");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired) << fixed.action;
  EXPECT_EQ(fixed.action, "dropped ref entry 'nightly' (value blob " + tree.hex() + " is gone)");
  EXPECT_EQ(store().usage().ref_entries, 1U);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::ref, "nightly"), Errc::not_found));
  EXPECT_TRUE(ok(store().ns_get(Namespace::ref, "stable")));
  expect_clean();
}

TEST_F(FsckTest, UnreadableRefIsDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "broken", good[0])));
  damage_index([&](RawIndex& raw) { raw.put("ref", "broken", "\x01short"); });

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_entry);
  EXPECT_EQ(found.subject, "ref 'broken'");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_TRUE(fixed.repaired) << fixed.action;
  EXPECT_EQ(fixed.action, "dropped ref entry 'broken' (its value cannot be decoded)");
  EXPECT_EQ(store().usage().ref_entries, 0U);
  expect_clean();
}

// A pinned ref keeps what someone chose to keep: fsck reports its damage and leaves it, and
// the ref and its pins serve again once the blob is uploaded again.
TEST_F(FsckTest, PinnedRefWhoseTreeIsGoneIsReportedAndKept) {
  const auto good = put_good_blobs();
  const std::string bytes = random_bytes(25'000, 31);
  const Digest tree = must_put(bytes);
  ASSERT_TRUE(ok(store().pin(ref_pin_name("rc"), {tree.hash, good[2].hash})));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "rc", tree)));
  damage_index([](RawIndex& raw) { raw.drop_back_references(); });
  ASSERT_TRUE(ok(store().remove(tree.hash))); // purged, as an admin may

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(found.findings.size(), 2U) << describe(found);
  ASSERT_EQ(of_kind(found, FsckIssue::dangling_entry).size(), 1U);
  EXPECT_EQ(of_kind(found, FsckIssue::dangling_entry)[0].subject, "ref 'rc'");
  const auto missing = of_kind(found, FsckIssue::missing_pinned);
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_EQ(missing[0].subject, "pin set 'ref/rc'");
  EXPECT_EQ(missing[0].detail, "names blob " + tree.hex() + ", which is not stored");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 2U) << describe(fixed);
  for (const auto& f : fixed.findings) {
    EXPECT_NE(f.action.find("not repaired: kept"), std::string::npos) << f.action;
  }
  const auto pinned = store().is_pinned(ref_pin_name("rc"));
  ASSERT_TRUE(pinned);
  EXPECT_TRUE(*pinned);
  EXPECT_EQ(store().usage().ref_entries, 1U);

  must_put(bytes);
  expect_clean();
  EXPECT_TRUE(ok(store().ns_get(Namespace::ref, "rc")));
  EXPECT_EQ(store().usage().pinned_blobs, 2U);
}

// A release's artifact with a flipped byte: the damaged copy goes (with --repair), the pins
// stay, the finding stays unrepaired and names the pin sets; the same bytes uploaded again
// are stored, pinned again, and fsck is clean.
TEST_F(FsckTest, PinnedCorruptBlobLosesItsCopyButNotItsPins) {
  const auto good = put_good_blobs();
  const std::string bytes = random_bytes(70'000, 41);
  const Digest artifact = must_put(bytes);
  ASSERT_TRUE(ok(store().pin("release/demo/1.0", {artifact.hash, good[0].hash})));
  ASSERT_TRUE(ok(store().pin(ref_pin_name("rc"), {artifact.hash})));
  const fs::path file = file_of(artifact);
  ASSERT_NO_FATAL_FAILURE(flip_byte(file, 4321));

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::corrupt_blob);
  EXPECT_EQ(found.subject, artifact.hex());
  ASSERT_TRUE(found.blob);
  EXPECT_EQ(*found.blob, artifact.hash);
  EXPECT_EQ(found.pinned_by, (std::vector<std::string>{"ref/rc", "release/demo/1.0"}));
  EXPECT_FALSE(found.repaired);
  EXPECT_TRUE(fs::exists(file)) << "fsck without repair changed the data dir";

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_FALSE(fixed.repaired) << "a pinned blob that is gone is not repaired";
  EXPECT_EQ(fixed.action, "dropped the damaged copy of pinned blob " + artifact.hex() +
                              " and kept its pins: not repaired until it is uploaded again");
  EXPECT_EQ(fixed.pinned_by.size(), 2U);
  EXPECT_FALSE(store().contains(artifact.hash));
  for (const std::string& name : {std::string("release/demo/1.0"), ref_pin_name("rc")}) {
    const auto pinned = store().is_pinned(name);
    ASSERT_TRUE(pinned);
    EXPECT_TRUE(*pinned) << name;
  }

  const auto still = must_fsck(Repair::yes);
  ASSERT_EQ(of_kind(still, FsckIssue::missing_pinned).size(), 2U) << describe(still);
  EXPECT_EQ(still.unrepaired(), 2U);
  for (const auto& f : still.findings) {
    ASSERT_TRUE(f.blob);
    EXPECT_EQ(*f.blob, artifact.hash);
    EXPECT_EQ(f.pinned_by.size(), 1U);
  }

  must_put(bytes); // the same file uploaded again: accepted, and pinned again
  expect_clean();
  expect_readable({artifact});
  EXPECT_EQ(store().usage().pinned_blobs, 2U);
}

} // namespace
} // namespace ingot::cas::fsck_test
