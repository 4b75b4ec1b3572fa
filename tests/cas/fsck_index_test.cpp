// Store::fsck over what derives from blob records and entries: usage counters, pin counts and
// pin sets, last uses and the eviction order, and every table of the index.
#include "cas/fsck_fixture.hpp"

#include <gtest/gtest.h>

namespace ingot::cas::fsck_test {
namespace {

TEST_F(FsckTest, UsageCountersThatDriftedAreCorrected) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "k", good[0])));
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) {
    UsageDelta drift;
    drift.blobs = 3;
    drift.stored_bytes = -1000;
    drift.kv_entries = 2;
    raw.add_usage(drift);
  });
  EXPECT_EQ(store().usage().blobs, right.blobs + 3);

  const auto found = must_fsck(Repair::no);
  EXPECT_EQ(of_kind(found, FsckIssue::usage_mismatch).size(), 3U) << describe(found);
  EXPECT_EQ(found.findings.size(), 3U) << describe(found);
  EXPECT_EQ(store().usage().blobs, right.blobs + 3);

  const auto fixed = must_fsck(Repair::yes);
  ASSERT_EQ(fixed.findings.size(), 3U) << describe(fixed);
  EXPECT_EQ(fixed.unrepaired(), 0U);
  EXPECT_EQ(fixed.findings[0].action, "corrected the usage counter 'blobs' by -3");
  EXPECT_EQ(fixed.findings[1].action, "corrected the usage counter 'stored bytes' by +1000");
  EXPECT_EQ(fixed.findings[2].action, "corrected the usage counter 'kv entries' by -2");
  expect_same_usage(store().usage(), right);
  m_store.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  expect_same_usage(store().usage(), right);
  expect_clean();
}

// --- pins ---

std::string pin_count_value(std::uint32_t count) {
  std::string out(sizeof count, '\0');
  std::memcpy(out.data(), &count, sizeof count);
  return out;
}

TEST_F(FsckTest, PinCountBelowItsPinSetsIsRaised) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/1.0", {good[2].hash, good[3].hash})));
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) { raw.erase("pins", key_of(good[2].hash)); });

  const auto found = must_fsck(Repair::no);
  const auto pins = of_kind(found, FsckIssue::pin_count);
  ASSERT_EQ(pins.size(), 1U) << describe(found);
  EXPECT_EQ(pins[0].subject, good[2].hex());
  EXPECT_EQ(pins[0].detail, "pinned 0 times, but 1 pin sets name it: GC may evict what a pin "
                            "set keeps");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U) << describe(fixed);
  expect_same_usage(store().usage(), right);
  expect_clean();
  // The pin holds again: GC down to nothing keeps both pinned blobs.
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
  expect_readable({good[2], good[3]});
}

TEST_F(FsckTest, PinCountAboveItsPinSetsIsLowered) {
  const auto good = put_good_blobs();
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) { raw.put("pins", key_of(good[3].hash), pin_count_value(2)); });
  EXPECT_EQ(store().usage().pinned_blobs, 0U);

  const auto found = must_fsck(Repair::no);
  const auto pins = of_kind(found, FsckIssue::pin_count);
  ASSERT_EQ(pins.size(), 1U) << describe(found);
  EXPECT_EQ(pins[0].detail, "pinned 2 times, but 0 pin sets name it");

  const auto fixed = must_fsck(Repair::yes);
  EXPECT_EQ(fixed.unrepaired(), 0U) << describe(fixed);
  expect_same_usage(store().usage(), right);
  expect_clean();
  // Unpinned again, it is evictable again.
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
  EXPECT_FALSE(store().contains(good[3].hash));
}

TEST_F(FsckTest, UnreadablePinCountIsRewrittenFromThePinSets) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/2.0", {good[1].hash})));
  const Usage right = store().usage();
  damage_index([&](RawIndex& raw) { raw.put("pins", key_of(good[1].hash), "xyz"); });

  const auto found = must_fsck(Repair::no);
  const auto bad = of_kind(found, FsckIssue::bad_record);
  ASSERT_EQ(bad.size(), 1U) << describe(found);
  EXPECT_EQ(bad[0].subject, good[1].hex());
  EXPECT_EQ(bad[0].detail, "pin count is 3 bytes, not 4");

  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_same_usage(store().usage(), right);
  expect_clean();
}

TEST_F(FsckTest, PinSetThatIsNotWholeHashesIsRewritten) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/3.0", {good[0].hash})));
  damage_index([&](RawIndex& raw) {
    raw.put("meta", "pinset/release/app/3.0", key_of(good[0].hash) + "extra");
  });

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_record);
  EXPECT_EQ(found.subject, "pin set 'release/app/3.0'");

  const auto fixed = only_finding(must_fsck(Repair::yes));
  EXPECT_EQ(fixed.action, "rewrote pin set 'release/app/3.0' with its 1 whole hashes");
  expect_clean();
  EXPECT_EQ(store().usage().pinned_blobs, 1U);
}

TEST_F(FsckTest, ReleaseBlobThatIsGoneIsReportedAndNeverDropped) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/4.0", {good[2].hash, good[3].hash})));
  ASSERT_TRUE(ok(store().remove(good[3].hash)));

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::missing_pinned);
  EXPECT_EQ(found.subject, "pin set 'release/app/4.0'");

  const auto kept = only_finding(must_fsck(Repair::yes));
  EXPECT_FALSE(kept.repaired);
  EXPECT_EQ(kept.action, "not repaired: kept: fsck does not drop pinned data; upload blob " +
                             good[3].hex() + " again and it is pinned again");
  const auto pinned = store().is_pinned("release/app/4.0");
  ASSERT_TRUE(pinned);
  EXPECT_TRUE(*pinned);

  must_put(compressible_text(200'000, 4));
  expect_clean();
  EXPECT_EQ(store().usage().pinned_blobs, 2U);
}

TEST_F(FsckTest, PinnedAndRefCountersThatDriftedAreCorrected) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().pin("release/app/5.0", {good[2].hash})));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "main", good[0])));
  const Usage right = store().usage();
  ASSERT_GT(right.pinned_bytes, 0U);
  damage_index([&](RawIndex& raw) {
    UsageDelta drift;
    drift.pinned_blobs = 1;
    drift.pinned_bytes = -5000;
    drift.ref_entries = 4;
    raw.add_usage(drift);
  });

  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(found.findings.size(), 3U) << describe(found);
  std::vector<std::string> subjects;
  for (const auto& f : found.findings) {
    EXPECT_EQ(f.issue, FsckIssue::usage_mismatch);
    subjects.push_back(f.subject);
  }
  EXPECT_EQ(subjects, (std::vector<std::string>{"usage counter 'pinned blobs'",
                                                "usage counter 'pinned bytes'",
                                                "usage counter 'ref entries'"}));
  EXPECT_EQ(found.findings[1].detail, "recorded " + std::to_string(right.pinned_bytes - 5000) +
                                          ", but the records add up to " +
                                          std::to_string(right.pinned_bytes));

  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_same_usage(store().usage(), right);
  m_store.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  expect_same_usage(store().usage(), right);
  expect_clean();
}

// --- last uses and the eviction order ---

std::string lru_key_of(RawIndex& raw, const Hash& hash) {
  for (const auto& key : raw.keys("lru")) {
    if (key.size() == 8 + hash.size() && key.substr(8) == key_of(hash)) {
      return key;
    }
  }
  ADD_FAILURE() << "no eviction order entry for " << to_hex(hash);
  return {};
}

TEST_F(FsckTest, BlobMissingFromTheEvictionOrderIsPutBack) {
  const auto good = put_good_blobs();
  damage_index([&](RawIndex& raw) { raw.erase("lru", lru_key_of(raw, good[2].hash)); });

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::eviction_order);
  EXPECT_EQ(found.subject, good[2].hex());
  EXPECT_EQ(found.detail, "is missing from the eviction order: GC can never evict it");

  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  expect_clean();
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
  EXPECT_FALSE(store().contains(good[2].hash)) << "still out of GC's reach";
}

TEST_F(FsckTest, BlobWithoutALastUseGetsOne) {
  const auto good = put_good_blobs();
  damage_index([&](RawIndex& raw) {
    raw.erase("lru", lru_key_of(raw, good[1].hash));
    raw.erase("atime", key_of(good[1].hash));
  });
  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.detail, "has no last use: GC can never evict it");
  EXPECT_TRUE(only_finding(must_fsck(Repair::yes)).repaired);
  expect_clean();
}

TEST_F(FsckTest, StaleEvictionOrderAndLastUseAreDropped) {
  const auto good = put_good_blobs();
  const Hash gone = digest_of(random_bytes(10, 32)).hash;
  damage_index([&](RawIndex& raw) {
    raw.put("lru", std::string(8, '\0') + key_of(gone), "");
    raw.put("atime", key_of(gone), std::string(8, '\0'));
  });
  const auto found = must_fsck(Repair::no);
  ASSERT_EQ(of_kind(found, FsckIssue::eviction_order).size(), 2U) << describe(found);
  EXPECT_EQ(found.findings.size(), 2U);
  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_clean();
  expect_readable(good);
}

TEST_F(FsckTest, UnreadableLastUseIsRewritten) {
  const auto good = put_good_blobs();
  damage_index([&](RawIndex& raw) { raw.put("atime", key_of(good[3].hash), "abc"); });
  ASSERT_FALSE(store().gc(GcOptions{0, DryRun::no})) << "GC read an unreadable last use";

  const auto found = only_finding(must_fsck(Repair::no));
  EXPECT_EQ(found.issue, FsckIssue::bad_record);
  EXPECT_EQ(found.detail, "last use is 3 bytes, not 8");

  // The old place in the order is stale once the last use is rewritten: dropped in the same run.
  EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
  expect_clean();
  ASSERT_TRUE(store().gc(GcOptions{0, DryRun::no}));
}

// --- data dirs written before the nix namespace ------------------------------------------------

// Usage format 2, as the versions before the nix namespace wrote it: its version byte and the
// eleven counters up to ref entries, little-endian.
std::string usage_format_2(const UsageDelta& d) {
  std::string out(1, '\x02');
  for (const std::int64_t v :
       {d.blobs, d.logical_bytes, d.stored_bytes, d.ac_entries, d.kv_entries, d.file_bytes,
        d.pinned_blobs, d.pinned_bytes, d.hits, d.misses, d.ref_entries}) {
    char bytes[sizeof v];
    std::memcpy(bytes, &v, sizeof v);
    out.append(bytes, sizeof v);
  }
  return out;
}

// A data dir as the version before nix left it: no nix table in the index, and its usage
// counters a format 2 value with a format 2 merge operand after it. It opens with its counters
// (nix entries zero: that version had none), fsck's recount agrees, and nix entries then count.
TEST_F(FsckTest, ADataDirWrittenBeforeTheNixNamespaceOpensWithItsCounters) {
  const auto good = put_good_blobs();
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, std::string(64, 'a'), good[0])));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef", good[1])));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ref, "main", good[2])));
  ASSERT_TRUE(ok(store().pin("release/app/1.0", {good[3].hash})));
  const Usage right = store().usage();
  ASSERT_GT(right.file_bytes, 0U);
  ASSERT_GT(right.pinned_bytes, 0U);
  damage_index([&](RawIndex& raw) {
    raw.drop_table("nix");
    const auto tables = raw.tables();
    ASSERT_EQ(std::count(tables.begin(), tables.end(), "nix"), 0);
    auto total = decode_usage(raw.get("meta", std::string(k_usage_key)));
    ASSERT_TRUE(total && total->complete);
    ASSERT_EQ(total->nix_entries, 0);
    UsageDelta later;
    later.kv_entries = 1;
    later.stored_bytes = 1000;
    later.hits = 3;
    UsageDelta earlier = *total;
    earlier.kv_entries -= later.kv_entries;
    earlier.stored_bytes -= later.stored_bytes;
    earlier.hits -= later.hits;
    raw.put("meta", k_usage_key, usage_format_2(earlier));
    raw.merge("meta", k_usage_key, usage_format_2(later));
  });
  std::vector<std::string> tables;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), (dir() / "index").string(), &tables)
          .ok());
  EXPECT_EQ(std::count(tables.begin(), tables.end(), "nix"), 1) << "the nix table is created";

  const Usage now = store().usage();
  expect_same_usage(now, right);
  EXPECT_EQ(now.nix_entries, 0U);
  EXPECT_EQ(now.file_bytes, right.file_bytes);
  EXPECT_EQ(now.pinned_blobs, right.pinned_blobs);
  EXPECT_EQ(now.pinned_bytes, right.pinned_bytes);
  EXPECT_EQ(now.hits, right.hits);
  expect_clean();
  EXPECT_EQ(store().ns_get(Namespace::kv, "ccache/ab/cdef").value().value, good[1]);
  EXPECT_EQ(store().ns_get(Namespace::ref, "main").value().value, good[2]);

  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, "narinfo/0f5c", good[0])));
  m_store.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_EQ(store().usage().nix_entries, 1U);
  expect_same_usage(store().usage(), [&] {
    Usage u = right;
    u.nix_entries = 1;
    return u;
  }());
  expect_clean();
}

// Every table of the index, damaged: each is reported, and repaired. The switch has no
// default, so a table added to INGOT_INDEX_TABLES does not compile here until it has a case,
// and a namespace added to INGOT_NAMESPACES is damaged here like the others.
TEST_F(FsckTest, EveryTableOfTheIndexIsChecked) {
  const auto good = put_good_blobs();
  for (const IndexTable table : k_index_tables) {
    SCOPED_TRACE(std::string(to_string(table)));
    const std::string name(to_string(table));
    std::string key = "\x01";
    std::string value = "?";
    switch (table) {
    case IndexTable::meta:
      key = "pinset/x"; // the rest of meta is opaque
      break;
    case IndexTable::blobs:
    case IndexTable::pins:
    case IndexTable::atime:
    case IndexTable::lru:
    case IndexTable::backrefs:
      break; // a key no record of these has
#define INGOT_TEST_NAMESPACE_CASE(ns) case IndexTable::ns:
      INGOT_NAMESPACES(INGOT_TEST_NAMESPACE_CASE)
#undef INGOT_TEST_NAMESPACE_CASE
      // An entry, counted, whose value then becomes unreadable.
      ASSERT_TRUE(ok(store().ns_put(*namespace_of(table), key, good[0])));
      break;
    }
    damage_index([&](RawIndex& raw) { raw.put(name, key, value); });
    const auto found = must_fsck(Repair::no);
    EXPECT_EQ(found.findings.size(), 1U) << describe(found);
    EXPECT_EQ(must_fsck(Repair::yes).unrepaired(), 0U);
    expect_clean();
  }
  expect_readable(good);
}

} // namespace
} // namespace ingot::cas::fsck_test
