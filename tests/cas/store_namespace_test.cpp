// The namespaces (ac, kv, nix), and exact usage accounting.
#include "cas/store_fixture.hpp"

namespace ingot::cas {
namespace {

using namespace store_test;

// --- namespaces ------------------------------------------------------------------------------

const std::string k_ac_key = "a3f1c0d2e4b5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

TEST_F(StoreTest, NsPutRequiresTheValueBlob) {
  const Digest absent = digest_of("not uploaded");
  for (const Namespace ns : {Namespace::ac, Namespace::kv}) {
    SCOPED_TRACE(std::string(to_string(ns)));
    EXPECT_TRUE(fails_with(store().ns_put(ns, k_ac_key, absent), Errc::not_found));
    EXPECT_TRUE(fails_with(store().ns_get(ns, k_ac_key), Errc::not_found));
  }
  EXPECT_EQ(store().usage().ac_entries, 0U);
  EXPECT_EQ(store().usage().kv_entries, 0U);
}

// A digest names content and length together; the right hash with a wrong size is not the
// stored blob.
TEST_F(StoreTest, NsPutRejectsADigestWithTheWrongSize) {
  const Digest value = must_put("twelve bytes");
  Digest wrong_size = value;
  wrong_size.size += 1;
  EXPECT_FALSE(store().ns_put(Namespace::kv, "k", wrong_size));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "k"), Errc::not_found));
  EXPECT_EQ(store().usage().kv_entries, 0U);
}

// ARCHITECTURE.md: an entry whose referenced blob is gone is never served as a hit.
TEST_F(StoreTest, EntryWhoseValueBlobIsGoneIsNotAHit) {
  const Digest value = must_put(random_bytes(20'000, 42));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, value)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "k", value)));
  ASSERT_TRUE(ok(store().remove(value.hash)));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::ac, k_ac_key), Errc::not_found));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "k"), Errc::not_found));
}

TEST_F(StoreTest, NsGetReturnsTheStoredDigest) {
  const Digest value = must_put(random_bytes(10'000, 41));
  for (const Namespace ns : {Namespace::ac, Namespace::kv}) {
    SCOPED_TRACE(std::string(to_string(ns)));
    const std::int64_t before = now_unix_ms();
    ASSERT_TRUE(ok(store().ns_put(ns, k_ac_key, value)));
    const std::int64_t after = now_unix_ms();
    const auto entry = store().ns_get(ns, k_ac_key);
    ASSERT_TRUE(entry) << entry.error().message;
    EXPECT_EQ(entry->value, value);
    EXPECT_GE(entry->updated_unix_ms, before);
    EXPECT_LE(entry->updated_unix_ms, after);
  }
  EXPECT_EQ(store().usage().ac_entries, 1U);
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

TEST_F(StoreTest, KvIsLastWriterWins) {
  const Digest first = must_put("first value");
  const Digest second = must_put("second value");
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef0123", first)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef0123", second)));
  EXPECT_EQ(store().ns_get(Namespace::kv, "ccache/ab/cdef0123").value().value, second);
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ccache/ab/cdef0123", first)));
  EXPECT_EQ(store().ns_get(Namespace::kv, "ccache/ab/cdef0123").value().value, first);
  // Overwriting a key does not add an entry.
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

TEST_F(StoreTest, NsRemoveThenNotFound) {
  const Digest value = must_put("a value");
  for (const Namespace ns : {Namespace::ac, Namespace::kv}) {
    SCOPED_TRACE(std::string(to_string(ns)));
    ASSERT_TRUE(ok(store().ns_put(ns, k_ac_key, value)));
    ASSERT_TRUE(ok(store().ns_remove(ns, k_ac_key)));
    EXPECT_TRUE(fails_with(store().ns_get(ns, k_ac_key), Errc::not_found));
  }
  EXPECT_EQ(store().usage().ac_entries, 0U);
  EXPECT_EQ(store().usage().kv_entries, 0U);
  // The entry is gone, the blob it pointed at is not.
  EXPECT_TRUE(store().contains(value.hash));
}

TEST_F(StoreTest, AcAndKvAreSeparate) {
  const Digest ac_value = must_put("action result");
  const Digest kv_value = must_put("opaque bytes");
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, ac_value)));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, k_ac_key), Errc::not_found));

  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, k_ac_key, kv_value)));
  EXPECT_EQ(store().ns_get(Namespace::ac, k_ac_key).value().value, ac_value);
  EXPECT_EQ(store().ns_get(Namespace::kv, k_ac_key).value().value, kv_value);
  EXPECT_EQ(store().usage().ac_entries, 1U);
  EXPECT_EQ(store().usage().kv_entries, 1U);

  ASSERT_TRUE(ok(store().ns_remove(Namespace::kv, k_ac_key)));
  EXPECT_EQ(store().ns_get(Namespace::ac, k_ac_key).value().value, ac_value);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, k_ac_key), Errc::not_found));
}

// Keys that are prefixes of one another are different keys (kv keys nest like paths).
TEST_F(StoreTest, KeysThatShareAPrefixAreIndependent) {
  const Digest v1 = must_put("v1");
  const Digest v2 = must_put("v2");
  const Digest v3 = must_put("v3");
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "a", v1)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "ab", v2)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "a/b", v3)));
  EXPECT_EQ(store().ns_get(Namespace::kv, "a").value().value, v1);
  EXPECT_EQ(store().ns_get(Namespace::kv, "ab").value().value, v2);
  EXPECT_EQ(store().ns_get(Namespace::kv, "a/b").value().value, v3);
  ASSERT_TRUE(ok(store().ns_remove(Namespace::kv, "a")));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "a"), Errc::not_found));
  EXPECT_EQ(store().ns_get(Namespace::kv, "ab").value().value, v2);
  EXPECT_EQ(store().ns_get(Namespace::kv, "a/b").value().value, v3);
  EXPECT_EQ(store().usage().kv_entries, 2U);
}

TEST_F(StoreTest, KeysUpToTheLimitAreAccepted) {
  const Digest value = must_put("v");
  const std::string longest(k_max_key_size, 'k');
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, longest, value)));
  EXPECT_EQ(store().ns_get(Namespace::kv, longest).value().value, value);

  const std::string too_long(k_max_key_size + 1, 'k');
  EXPECT_TRUE(fails_with(store().ns_put(Namespace::kv, too_long, value), Errc::invalid_argument));
  EXPECT_FALSE(store().ns_get(Namespace::kv, too_long).has_value());
  EXPECT_EQ(store().usage().kv_entries, 1U);
}

// ARCHITECTURE.md: identical bytes are stored once whatever key they arrive under.
TEST_F(StoreTest, IdenticalValuesUnderDifferentKeysAreStoredOnce) {
  const std::string value = compressible_text(50'000, 51);
  const Digest d = must_put(value);
  const Usage after_first = store().usage();
  for (int i = 0; i < 5; ++i) {
    const std::string key = "key-" + std::to_string(i);
    // Each client uploads the value again before pointing its key at it.
    EXPECT_EQ(must_put(value), d);
    ASSERT_TRUE(ok(store().ns_put(Namespace::kv, key, d)));
    ASSERT_TRUE(ok(store().ns_put(Namespace::ac, digest_of(key).hex(), d)));
  }
  const Usage after = store().usage();
  EXPECT_EQ(after.blobs, after_first.blobs);
  EXPECT_EQ(after.logical_bytes, after_first.logical_bytes);
  EXPECT_EQ(after.stored_bytes, after_first.stored_bytes);
  EXPECT_EQ(after.kv_entries, 5U);
  EXPECT_EQ(after.ac_entries, 5U);
  EXPECT_EQ(blob_files_of(data_dir(), d).size(), must_stat(d).is_inline ? 0U : 1U);
}

// --- nix ---------------------------------------------------------------------------------------

// Nix binary-cache records: keys as a binary cache's paths, each the digest of a stored blob.
const std::string k_narinfo_key = "narinfo/0f5cmr6bcv4wvz1bqg7imj4bjcn8gq5j";

TEST_F(StoreTest, NixIsItsOwnNamespaceAndLastWriterWins) {
  const Digest first = must_put("StorePath: /nix/store/first");
  const Digest second = must_put("StorePath: /nix/store/second");
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, k_narinfo_key, first)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, k_narinfo_key, second)));
  EXPECT_EQ(store().ns_get(Namespace::nix, k_narinfo_key).value().value, second);
  // The same key in kv is another entry.
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, k_narinfo_key), Errc::not_found));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, k_narinfo_key, first)));
  EXPECT_EQ(store().ns_get(Namespace::nix, k_narinfo_key).value().value, second);
  const Usage usage = store().usage();
  EXPECT_EQ(usage.nix_entries, 1U); // overwriting a key does not add an entry
  EXPECT_EQ(usage.kv_entries, 1U);
}

TEST_F(StoreTest, NixEntriesAreCountedListedAndSurviveReopen) {
  const Digest narinfo = must_put("StorePath: /nix/store/0f5cmr6bcv4wvz1bqg7imj4bjcn8gq5j-hello");
  const Digest nar = must_put(random_bytes(20'000, 71));
  const Digest listing = must_put(R"({"version":1,"root":{"type":"regular"}})");
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, k_narinfo_key, narinfo)));
  ASSERT_TRUE(ok(store().ns_put(
      Namespace::nix, "nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz", nar)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, "ls/0f5cmr6bcv4wvz1bqg7imj4bjcn8gq5j", listing)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, "log/x.drv", listing)));
  ASSERT_TRUE(ok(store().ns_remove(Namespace::nix, "log/x.drv")));
  EXPECT_TRUE(fails_with(store().ns_remove(Namespace::nix, "log/x.drv"), Errc::not_found));
  EXPECT_EQ(store().usage().nix_entries, 3U);
  EXPECT_EQ(store().usage().kv_entries, 0U);
  EXPECT_EQ(store().ns_list(Namespace::nix, "narinfo/", 10).value().size(), 1U);
  EXPECT_EQ(store().ns_list(Namespace::nix, "", 10).value().size(), 3U);

  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(store().usage().nix_entries, 3U);
  EXPECT_EQ(store().ns_get(Namespace::nix, k_narinfo_key).value().value, narinfo);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::nix, "log/x.drv"), Errc::not_found));

  // An entry goes with its value blob.
  ASSERT_TRUE(ok(store().remove(nar.hash)));
  EXPECT_EQ(store().usage().nix_entries, 2U);
  ASSERT_NO_FATAL_FAILURE(reopen());
  EXPECT_EQ(store().usage().nix_entries, 2U);
}

// --- usage -----------------------------------------------------------------------------------

TEST_F(StoreTest, UsageIsExactAfterMixedOperationsAndAcrossReopen) {
  const Usage base = store().usage();
  Usage expected = base;
  const auto add = [&](const Digest& d) {
    expected.blobs += 1;
    expected.logical_bytes += d.size;
    expected.stored_bytes += must_stat(d).stored_size;
  };
  const auto subtract = [&](const Digest& d) {
    expected.blobs -= 1;
    expected.logical_bytes -= d.size;
    expected.stored_bytes -= must_stat(d).stored_size;
  };

  const std::string raw_file = random_bytes(20'000, 61);
  const std::string zstd_file = compressible_text(80'000, 62);
  const std::string raw_inline = random_bytes(700, 63);
  const std::string zstd_inline = compressible_text(3500, 64);
  const std::string doomed = random_bytes(9000, 65);

  const Digest a = must_put(raw_file);
  add(a);
  const Digest b = must_put(zstd_file);
  add(b);
  const Digest c = must_put(raw_inline);
  add(c);
  const Digest e = must_put(doomed);
  add(e);
  // Duplicates, by both write paths, change nothing.
  EXPECT_EQ(must_put(raw_file), a);
  EXPECT_EQ(write_in_chunks(store(), zstd_file, 3333).value(), b);
  EXPECT_EQ(must_put(raw_inline), c);
  const Digest f = must_put(zstd_inline);
  add(f);
  expect_same_usage(store().usage(), expected);

  subtract(e);
  ASSERT_TRUE(ok(store().remove(e.hash)));
  subtract(c);
  ASSERT_TRUE(ok(store().remove(c.hash)));
  // A second remove of the same blob must not count it out twice.
  (void)store().remove(c.hash);
  EXPECT_FALSE(store().contains(c.hash));
  expect_same_usage(store().usage(), expected);

  // A failed write counts for nothing.
  EXPECT_FALSE(store().put(as_bytes(random_bytes(5000, 66)), digest_of(random_bytes(5000, 67))));

  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, a)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, digest_of("k2").hex(), b)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::ac, k_ac_key, b))); // overwrite
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "x", a)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "y", f)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::kv, "z", f)));
  ASSERT_TRUE(ok(store().ns_remove(Namespace::kv, "y")));
  (void)store().ns_remove(Namespace::kv, "y");
  (void)store().ns_remove(Namespace::kv, "never-there");
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, "nar/a.nar", a)));
  ASSERT_TRUE(ok(store().ns_put(Namespace::nix, "narinfo/b", b)));
  expected.ac_entries = base.ac_entries + 2;
  expected.kv_entries = base.kv_entries + 2;
  expected.nix_entries = base.nix_entries + 2;
  expect_same_usage(store().usage(), expected);

  // Re-adding a removed blob counts it again, once.
  EXPECT_EQ(must_put(raw_inline), c);
  add(c);
  expect_same_usage(store().usage(), expected);

  ASSERT_NO_FATAL_FAILURE(reopen());
  expect_same_usage(store().usage(), expected);
  EXPECT_EQ(store().ns_get(Namespace::ac, k_ac_key).value().value, b);
  EXPECT_EQ(store().ns_get(Namespace::kv, "z").value().value, f);
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "y"), Errc::not_found));
  EXPECT_TRUE(store().get(b.hash).value() == zstd_file);
  EXPECT_FALSE(store().contains(e.hash));

  // And keeps counting right after the reopen.
  subtract(a);
  expected.kv_entries -= 1; // "x" and "nar/a.nar" named a: entries go with their value blob
  expected.nix_entries -= 1;
  ASSERT_TRUE(ok(store().remove(a.hash)));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::kv, "x"), Errc::not_found));
  EXPECT_TRUE(fails_with(store().ns_get(Namespace::nix, "nar/a.nar"), Errc::not_found));
  expect_same_usage(store().usage(), expected);
  ASSERT_NO_FATAL_FAILURE(reopen());
  expect_same_usage(store().usage(), expected);
}

} // namespace
} // namespace ingot::cas
