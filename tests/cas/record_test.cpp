// The usage counters' encoding: every format a data dir may hold still decodes, with the
// counters it lacks at zero, and only the one whose missing counters are unknown is incomplete.
#include "cas/record.hpp"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

std::string usage_value(std::uint8_t version, std::initializer_list<std::int64_t> counters) {
  std::string out(1, static_cast<char>(version));
  for (const std::int64_t v : counters) {
    char bytes[sizeof v];
    std::memcpy(bytes, &v, sizeof v);
    out.append(bytes, sizeof v);
  }
  return out;
}

TEST(UsageRecord, ReadsBackAsWrittenWithEveryCounter) {
  UsageDelta d;
  d.blobs = 1;
  d.kv_entries = -2;
  d.misses = 9;
  d.ref_entries = 10;
  d.nix_entries = 11;
  const auto back = decode_usage(encode_usage(d));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->complete);
  EXPECT_EQ(back->blobs, 1);
  EXPECT_EQ(back->kv_entries, -2);
  EXPECT_EQ(back->misses, 9);
  EXPECT_EQ(back->ref_entries, 10);
  EXPECT_EQ(back->nix_entries, 11);
}

// What the versions before the nix namespace wrote: complete, as they had no nix entries.
TEST(UsageRecord, Format2DecodesCompleteWithNoNixEntries) {
  const auto d = decode_usage(usage_value(2, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->complete);
  EXPECT_EQ(d->blobs, 1);
  EXPECT_EQ(d->kv_entries, 5);
  EXPECT_EQ(d->file_bytes, 6);
  EXPECT_EQ(d->misses, 10);
  EXPECT_EQ(d->ref_entries, 11);
  EXPECT_EQ(d->nix_entries, 0);
  // A sum with it is complete too, and is written in the current format.
  UsageDelta nix;
  nix.nix_entries = 4;
  const auto sum = decode_usage(encode_usage(add(*d, nix)));
  ASSERT_TRUE(sum);
  EXPECT_TRUE(sum->complete);
  EXPECT_EQ(sum->ref_entries, 11);
  EXPECT_EQ(sum->nix_entries, 4);
}

// Format 1 lacks file bytes, which migrate() recounts: incomplete, and a sum with it too.
TEST(UsageRecord, Format1DecodesIncomplete) {
  const auto d = decode_usage(usage_value(1, {1, 2, 3, 4, 5}));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->complete);
  EXPECT_EQ(d->kv_entries, 5);
  EXPECT_EQ(d->file_bytes, 0);
  const auto sum = decode_usage(encode_usage(add(*d, UsageDelta{})));
  ASSERT_TRUE(sum);
  EXPECT_FALSE(sum->complete);
  EXPECT_EQ(sum->kv_entries, 5);
}

TEST(UsageRecord, AValueShorterThanItsFormatOrOfAnUnknownFormatIsUnreadable) {
  EXPECT_FALSE(decode_usage(""));
  EXPECT_FALSE(decode_usage(usage_value(0, {})));
  EXPECT_FALSE(decode_usage(usage_value(1, {1, 2, 3, 4})));
  EXPECT_FALSE(decode_usage(usage_value(2, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})));
  // The current format with format 2's counters only.
  EXPECT_FALSE(decode_usage(usage_value(3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})));
  EXPECT_FALSE(decode_usage(usage_value(4, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})));
}

TEST(UsageRecord, EachNamespaceHasItsOwnCounter) {
  UsageDelta d;
  for (const Namespace ns : k_namespaces) {
    entries_field(d, ns) += 1 + static_cast<std::int64_t>(ns);
  }
  EXPECT_EQ(d.ac_entries, 1);
  EXPECT_EQ(d.kv_entries, 2);
  EXPECT_EQ(d.ref_entries, 3);
  EXPECT_EQ(d.nix_entries, 4);
}

} // namespace
} // namespace ingot::cas
