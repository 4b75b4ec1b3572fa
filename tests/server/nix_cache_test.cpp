// The Nix cache's records over a real store: what a narinfo PUT must satisfy, what a GET
// answers and signs, completeness, and closures.
#include "cas/digest.hpp"
#include "server/nix_cache.hpp"
#include "sign/narinfo.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_data.hpp"
#include "util/nix32.hpp"

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

std::string nix32_of_sha256(std::string_view bytes) {
  const auto digest = cas::digest_of(as_bytes(bytes));
  return nix32_encode(ByteView(digest.hash.data(), digest.hash.size()));
}

// A store path's hash part, different for each seed.
std::string hash32(std::uint64_t seed) {
  const auto bytes = test::random_bytes(20, seed);
  return nix32_encode(as_bytes(bytes));
}

struct Path {
  std::string hash32;
  std::string name;
  std::string nar;
  std::string base() const { return hash32 + "-" + name; }
  std::string store_path() const { return "/nix/store/" + base(); }
  std::string nar_url() const { return "nar/" + nix32_of_sha256(nar) + ".nar"; }
};

Path make_path(std::uint64_t seed, std::string name) {
  return {hash32(seed), std::move(name), test::random_bytes(1000 + seed, seed + 100)};
}

// As nix 2.8 writes it for compression=none (so FileHash is the NarHash).
std::string narinfo_of(const Path& p, const std::vector<const Path*>& refs,
                       std::string_view extra = {}) {
  std::string references;
  for (const auto* r : refs) {
    references += (references.empty() ? "" : " ") + r->base();
  }
  const auto hash = "sha256:" + nix32_of_sha256(p.nar);
  return "StorePath: " + p.store_path() + "\nURL: " + p.nar_url() +
         "\nCompression: none\nFileHash: " + hash + "\nFileSize: " + std::to_string(p.nar.size()) +
         "\nNarHash: " + hash + "\nNarSize: " + std::to_string(p.nar.size()) +
         "\nReferences: " + references + "\n" + std::string(extra);
}

class NixCacheTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
    auto key = sign::generate_key("cache-1");
    ASSERT_TRUE(key);
    m_keys.push_back(std::move(*key));
    m_cache = std::make_unique<NixCache>(*m_store, m_keys, 40);
  }

  cas::Digest put_nar(const Path& p) {
    const auto digest = test::must_put(*m_store, p.nar);
    EXPECT_TRUE(m_store->ns_put(cas::Namespace::nix, p.nar_url(), digest));
    return digest;
  }

  // Nar, then narinfo, as `nix copy --to` does.
  void push(const Path& p, const std::vector<const Path*>& refs = {}) {
    put_nar(p);
    ASSERT_TRUE(m_cache->put_narinfo(p.hash32, narinfo_of(p, refs)));
  }

  // The Sig values of a served narinfo, in order.
  static std::vector<std::string> sigs_of(std::string_view text) {
    auto info = sign::parse_narinfo(text);
    EXPECT_TRUE(info) << text;
    return info ? info->sigs : std::vector<std::string>{};
  }

  static bool signed_by(const sign::SecretKey& key, std::string_view text) {
    auto info = sign::parse_narinfo(text);
    if (!info) {
      return false;
    }
    const auto fingerprint = sign::narinfo_fingerprint(*info);
    for (const auto& sig : info->sigs) {
      if (sign::verify_nix_signature(key.public_key(), fingerprint, sig)) {
        return true;
      }
    }
    return false;
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  std::vector<sign::SecretKey> m_keys;
  std::unique_ptr<NixCache> m_cache;
};

TEST_F(NixCacheTest, CacheInfoNamesTheStoreAndThePriority) {
  NixCache cache(*m_store, {}, 30);
  EXPECT_EQ(cache.cache_info(), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n");
}

TEST_F(NixCacheTest, ANarinfoIsServedSignedByTheServerAndReadableOnceItsPutReturns) {
  const auto p = make_path(1, "hello-2.12");
  const auto nar = put_nar(p);
  ASSERT_TRUE(m_cache->put_narinfo(p.hash32, narinfo_of(p, {&p})));
  auto got = m_cache->get_narinfo(p.hash32);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->nar, nar);
  EXPECT_TRUE(signed_by(m_keys[0], got->text)) << got->text;
  EXPECT_NE(got->text.find("StorePath: " + p.store_path() + "\n"), std::string::npos);
  EXPECT_NE(got->text.find("References: " + p.base() + "\n"), std::string::npos);
}

TEST_F(NixCacheTest, EveryConfiguredKeySignsAndTheClientsSignaturesAreKeptAfterThem) {
  auto retired = sign::generate_key("cache-0");
  auto client = sign::generate_key("builder-1");
  ASSERT_TRUE(retired && client);
  m_keys.push_back(std::move(*retired));
  NixCache cache(*m_store, m_keys, 40);
  const auto p = make_path(2, "dep");
  put_nar(p);
  auto info = sign::parse_narinfo(narinfo_of(p, {}));
  ASSERT_TRUE(info);
  const auto client_sig = sign::nix_signature(*client, sign::narinfo_fingerprint(*info));
  ASSERT_TRUE(cache.put_narinfo(p.hash32, narinfo_of(p, {}, "Sig: " + client_sig + "\n")));
  auto got = cache.get_narinfo(p.hash32);
  ASSERT_TRUE(got) << got.error().message;
  const auto sigs = sigs_of(got->text);
  ASSERT_EQ(sigs.size(), 3u) << got->text;
  EXPECT_TRUE(sigs[0].starts_with("cache-1:"));
  EXPECT_TRUE(sigs[1].starts_with("cache-0:"));
  EXPECT_EQ(sigs[2], client_sig);
  EXPECT_TRUE(signed_by(m_keys[1], got->text));
}

TEST_F(NixCacheTest, ANewKeySignsWhatIsAlreadyStored) {
  const auto p = make_path(3, "top");
  push(p);
  auto rotated = sign::generate_key("cache-2");
  ASSERT_TRUE(rotated);
  std::vector<sign::SecretKey> keys;
  keys.push_back(std::move(*rotated));
  NixCache after(*m_store, keys, 40);
  auto got = after.get_narinfo(p.hash32);
  ASSERT_TRUE(got);
  EXPECT_TRUE(signed_by(keys[0], got->text));
  EXPECT_FALSE(signed_by(m_keys[0], got->text));
}

TEST_F(NixCacheTest, WithoutKeysANarinfoIsServedWithTheClientsSignaturesOnly) {
  NixCache unsigned_cache(*m_store, {}, 40);
  const auto p = make_path(4, "x");
  put_nar(p);
  ASSERT_TRUE(unsigned_cache.put_narinfo(p.hash32, narinfo_of(p, {})));
  auto got = unsigned_cache.get_narinfo(p.hash32);
  ASSERT_TRUE(got);
  EXPECT_TRUE(sigs_of(got->text).empty()) << got->text;
}

TEST_F(NixCacheTest, ANarinfoWhoseNarIsNotStoredIsAConflictAndNothingIsStored) {
  const auto p = make_path(5, "x");
  auto r = m_cache->put_narinfo(p.hash32, narinfo_of(p, {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::conflict);
  EXPECT_NE(r.error().message.find(p.nar_url()), std::string::npos) << r.error().message;
  EXPECT_EQ(m_cache->get_narinfo(p.hash32).error().code, Errc::not_found);
}

TEST_F(NixCacheTest, AReferenceWithoutANarinfoIsAConflictAndTheSelfReferenceIsNot) {
  const auto dep = make_path(6, "dep");
  const auto top = make_path(7, "top");
  put_nar(dep);
  put_nar(top);
  auto r = m_cache->put_narinfo(top.hash32, narinfo_of(top, {&dep, &top}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::conflict);
  EXPECT_NE(r.error().message.find(dep.base()), std::string::npos) << r.error().message;
  EXPECT_EQ(m_cache->get_narinfo(top.hash32).error().code, Errc::not_found);
  ASSERT_TRUE(m_cache->put_narinfo(dep.hash32, narinfo_of(dep, {&dep})));
  EXPECT_TRUE(m_cache->put_narinfo(top.hash32, narinfo_of(top, {&dep, &top})));
  EXPECT_TRUE(m_cache->get_narinfo(top.hash32));
}

TEST_F(NixCacheTest, ClientMistakesAreInvalidArguments) {
  const auto p = make_path(8, "x");
  put_nar(p);
  const auto other = hash32(99);
  for (const auto& [what, hash, text] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"another path's hash", other, narinfo_of(p, {})},
           {"CRLF", p.hash32, "StorePath: " + p.store_path() + "\r\n"},
           {"no NarSize", p.hash32,
            "StorePath: " + p.store_path() + "\nURL: " + p.nar_url() +
                "\nNarHash: sha256:" + nix32_of_sha256(p.nar) + "\nReferences: \n"},
           {"URL outside nar/", p.hash32,
            "StorePath: " + p.store_path() + "\nURL: ../etc/passwd\nNarHash: sha256:" +
                nix32_of_sha256(p.nar) + "\nNarSize: 5\nReferences: \n"},
           {"another store", p.hash32,
            "StorePath: /gnu/store/" + p.base() + "\nURL: " + p.nar_url() +
                "\nNarHash: sha256:" + nix32_of_sha256(p.nar) + "\nNarSize: 5\nReferences: \n"},
       }) {
    auto r = m_cache->put_narinfo(hash, text);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << what << ": " << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << what;
  }
  EXPECT_EQ(m_cache->get_narinfo(p.hash32).error().code, Errc::not_found);
  EXPECT_EQ(m_cache->get_narinfo(other).error().code, Errc::not_found);
}

TEST_F(NixCacheTest, ANarinfoIsAMissOnceItsNarIsGoneAndAHitWhenTheNarIsBack) {
  const auto p = make_path(9, "x");
  const auto nar = put_nar(p);
  ASSERT_TRUE(m_cache->put_narinfo(p.hash32, narinfo_of(p, {})));
  ASSERT_TRUE(m_cache->get_narinfo(p.hash32));
  ASSERT_TRUE(m_store->remove(nar.hash));
  auto gone = m_cache->get_narinfo(p.hash32);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
  EXPECT_NE(gone.error().message.find("no longer stored"), std::string::npos);
  put_nar(p); // the next `nix copy --to` uploads it again
  EXPECT_TRUE(m_cache->get_narinfo(p.hash32));
}

TEST_F(NixCacheTest, TwoPathsMayShareOneNar) {
  auto a = make_path(10, "a");
  auto b = make_path(11, "b");
  b.nar = a.nar;
  push(a);
  ASSERT_TRUE(m_cache->put_narinfo(b.hash32, narinfo_of(b, {}))); // HEAD nar said 200: no PUT
  EXPECT_EQ(m_cache->get_narinfo(a.hash32)->nar, m_cache->get_narinfo(b.hash32)->nar);
}

TEST_F(NixCacheTest, AClosureIsEveryNarinfoAndNarItReaches) {
  const auto c = make_path(12, "c");
  const auto b = make_path(13, "b");
  const auto a = make_path(14, "a");
  push(c, {&c});
  push(b, {&c});
  push(a, {&b, &c, &a});
  auto blobs = m_cache->closure(a.hash32);
  ASSERT_TRUE(blobs) << blobs.error().message;
  EXPECT_EQ(blobs->size(), 6u);
  for (const auto* p : {&a, &b, &c}) {
    const auto nar = cas::digest_of(as_bytes(p->nar)).hash;
    EXPECT_NE(std::find(blobs->begin(), blobs->end(), nar), blobs->end()) << p->name;
  }
  ASSERT_TRUE(m_store->remove(cas::digest_of(as_bytes(c.nar)).hash));
  auto broken = m_cache->closure(a.hash32);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, Errc::not_found);
  EXPECT_NE(broken.error().message.find(c.hash32), std::string::npos) << broken.error().message;
}

TEST_F(NixCacheTest, AMalformedClientSignatureIsRefused) {
  const auto p = make_path(15, "x");
  put_nar(p);
  // nix fails a whole substitution on a trusted-name Sig that is not 64 bytes.
  auto r = m_cache->put_narinfo(p.hash32, narinfo_of(p, {}, "Sig: cache-1:AAAA\n"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(m_cache->get_narinfo(p.hash32).error().code, Errc::not_found);
}

TEST_F(NixCacheTest, AClientSignatureUnderTheServersKeyNameIsNotServed) {
  const auto p = make_path(16, "x");
  put_nar(p);
  auto impostor = sign::generate_key("cache-1"); // the server's key name, another key
  ASSERT_TRUE(impostor);
  auto info = sign::parse_narinfo(narinfo_of(p, {}));
  ASSERT_TRUE(info);
  const auto forged = sign::nix_signature(*impostor, sign::narinfo_fingerprint(*info));
  ASSERT_TRUE(m_cache->put_narinfo(p.hash32, narinfo_of(p, {}, "Sig: " + forged + "\n")));
  auto got = m_cache->get_narinfo(p.hash32);
  ASSERT_TRUE(got);
  const auto sigs = sigs_of(got->text);
  ASSERT_EQ(sigs.size(), 1u) << got->text;
  EXPECT_NE(sigs[0], forged);
  EXPECT_TRUE(signed_by(m_keys[0], got->text));
}

TEST_F(NixCacheTest, APathCachedWholeIsNotReplacedWithOtherBytes) {
  auto p = make_path(17, "x");
  push(p);
  EXPECT_TRUE(m_cache->put_narinfo(p.hash32, narinfo_of(p, {}))) << "the same again is fine";
  const auto first = m_cache->get_narinfo(p.hash32)->nar;
  auto other = p;
  other.nar = test::random_bytes(700, 1234);
  put_nar(other);
  auto r = m_cache->put_narinfo(p.hash32, narinfo_of(other, {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::conflict);
  EXPECT_EQ(m_cache->get_narinfo(p.hash32)->nar, first);
  // Once its nar is gone it is not served, and a new upload may take its place.
  ASSERT_TRUE(m_store->remove(first.hash));
  ASSERT_TRUE(m_cache->put_narinfo(p.hash32, narinfo_of(other, {})));
  EXPECT_EQ(m_cache->get_narinfo(p.hash32)->nar, cas::digest_of(other.nar));
}

TEST_F(NixCacheTest, ACachedPathsReferencesCannotBeChangedEither) {
  const auto dep = make_path(18, "dep");
  const auto top = make_path(19, "top");
  push(dep);
  push(top, {&dep});
  // Same NarHash, no references: substituters would register top without dep.
  auto r = m_cache->put_narinfo(top.hash32, narinfo_of(top, {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::conflict);
  auto got = m_cache->get_narinfo(top.hash32);
  ASSERT_TRUE(got);
  EXPECT_NE(got->text.find("References: " + dep.base() + "\n"), std::string::npos) << got->text;
}

TEST_F(NixCacheTest, ANarinfoOverAMebibyteIsTooLarge) {
  const auto p = make_path(20, "x");
  put_nar(p);
  std::string big = narinfo_of(p, {});
  while (big.size() <= (1u << 20)) {
    big += "X-Padding-" + std::to_string(big.size()) + ": " + std::string(1000, 'p') + "\n";
  }
  auto r = m_cache->put_narinfo(p.hash32, big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_EQ(m_cache->get_narinfo(p.hash32).error().code, Errc::not_found);
}

} // namespace
} // namespace ingot::server
