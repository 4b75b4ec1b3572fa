// The last GC report as kept in the index: read back as it was written, and a value this
// version cannot read is none rather than a wrong report.
#include "cas/gc_report.hpp"

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

TEST(GcReport, AReportReadsBackAsWritten) {
  GcReport report;
  report.target = 1000;
  report.before = 5000;
  report.after = 900;
  report.target_reached = true;
  report.cas = {7, 4000};
  report.ac = {1, 100};
  report.kv = {2, 200};
  report.ref = {3, 300};
  report.nix = {4, 400};
  report.oldest_survivor_age_s = 42;
  report.duration_s = 1.5;
  report.finished_unix_s = 1'700'000'000;
  const auto back = decode_report(encode_report(report));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->target, 1000U);
  EXPECT_EQ(back->before, 5000U);
  EXPECT_EQ(back->after, 900U);
  EXPECT_TRUE(back->target_reached);
  EXPECT_EQ(back->cas.entries, 7U);
  EXPECT_EQ(back->cas.bytes, 4000U);
  EXPECT_EQ(back->ac.bytes, 100U);
  EXPECT_EQ(back->kv.entries, 2U);
  EXPECT_EQ(back->ref.bytes, 300U);
  EXPECT_EQ(back->nix.entries, 4U);
  EXPECT_EQ(back->nix.bytes, 400U);
  EXPECT_EQ(back->oldest_survivor_age_s, 42);
  EXPECT_DOUBLE_EQ(back->duration_s, 1.5);
  EXPECT_EQ(back->finished_unix_s, 1'700'000'000);
}

TEST(GcReport, AnEmptyOrderHasNoOldestSurvivor) {
  const auto back = decode_report(encode_report(GcReport{}));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->oldest_survivor_age_s);
  EXPECT_FALSE(back->target_reached);
}

// The last report of a data dir written before the nix namespace: fifteen numbers.
TEST(GcReport, AReportWrittenBeforeNixReadsWithNoneEvictedFromIt) {
  const auto back =
      decode_report("1000 5000 900 7 4000 1 100 2 200 3 300 42 1500000 1700000000 1 ");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->target, 1000U);
  EXPECT_EQ(back->ref.entries, 3U);
  EXPECT_EQ(back->ref.bytes, 300U);
  EXPECT_EQ(back->oldest_survivor_age_s, 42);
  EXPECT_DOUBLE_EQ(back->duration_s, 1.5);
  EXPECT_EQ(back->finished_unix_s, 1'700'000'000);
  EXPECT_TRUE(back->target_reached);
  EXPECT_EQ(back->nix.entries, 0U);
  EXPECT_EQ(back->nix.bytes, 0U);
}

TEST(GcReport, AnUnreadableValueIsNoReport) {
  EXPECT_FALSE(decode_report(""));
  EXPECT_FALSE(decode_report("1 2 3"));
  EXPECT_FALSE(decode_report("a b c d e f g h i j k l m n o"));
}

TEST(GcReport, EachNamespaceHasItsOwnBucket) {
  GcReport report;
  ++bucket(report, Namespace::ac).entries;
  bucket(report, Namespace::kv).bytes += 5;
  ++bucket(report, Namespace::ref).entries;
  bucket(report, Namespace::nix).bytes += 7;
  EXPECT_EQ(report.ac.entries, 1U);
  EXPECT_EQ(report.nix.bytes, 7U);
  EXPECT_EQ(report.kv.bytes, 5U);
  EXPECT_EQ(report.ref.entries, 1U);
  EXPECT_EQ(report.cas.entries, 0U);
}

} // namespace
} // namespace ingot::cas
