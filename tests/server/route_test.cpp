// parse_route: the one place client-supplied paths are checked. Every malformed target must
// be refused with invalid_argument (400) before anything reaches the store.
#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "server/auth.hpp"
#include "server/ops/ops.hpp"
#include "server/route.hpp"
#include "support/printers.hpp"
#include "util/hex.hpp"

#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ingot::server {

void PrintTo(RouteKind kind, std::ostream* os) {
  *os << to_string(kind);
}

namespace {

// sha256("hello")
constexpr std::string_view k_hex =
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'f') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return s;
}

// The error code of a target that must not parse, or a failure naming the route it became.
testing::AssertionResult refused_with(std::string_view target, Errc expected) {
  const auto r = parse_route(target);
  if (r) {
    return testing::AssertionFailure()
           << "'" << target << "' parsed as " << to_string(r->kind) << " key '" << r->key << "'";
  }
  if (r.error().code != expected) {
    return testing::AssertionFailure() << "'" << target << "' failed with "
                                       << to_string(r.error().code) << ": " << r.error().message;
  }
  if (r.error().message.empty()) {
    return testing::AssertionFailure() << "'" << target << "' failed with an empty message";
  }
  return testing::AssertionSuccess();
}

testing::AssertionResult malformed(std::string_view target) {
  return refused_with(target, Errc::invalid_argument);
}

TEST(RouteTest, CasTakesTheDigest) {
  const auto r = parse_route("/cas/" + std::string(k_hex));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, RouteKind::cas);
  EXPECT_EQ((cas::Digest{r->hash, 0}.hex()), k_hex);
  EXPECT_EQ(r->hash, cas::digest_of("hello").hash);
  EXPECT_TRUE(r->query.empty());
}

TEST(RouteTest, AcTakesTheKeyAsHashAndText) {
  const auto r = parse_route("/ac/" + std::string(k_hex));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, RouteKind::ac);
  EXPECT_EQ(r->key, k_hex);
  EXPECT_EQ(r->hash, cas::digest_of("hello").hash);
}

TEST(RouteTest, UppercaseOrShortOrLongDigestIsMalformed) {
  EXPECT_TRUE(malformed("/cas/" + upper(std::string(k_hex))));
  EXPECT_TRUE(malformed("/ac/" + upper(std::string(k_hex))));
  EXPECT_TRUE(malformed("/cas/" + std::string(k_hex.substr(0, 63))));
  EXPECT_TRUE(malformed("/cas/" + std::string(k_hex) + "0"));
  EXPECT_TRUE(malformed("/cas/" + std::string(k_hex.substr(0, 63)) + "g"));
  EXPECT_TRUE(malformed("/cas/"));
  EXPECT_TRUE(malformed("/ac/"));
  EXPECT_TRUE(malformed("/cas/" + std::string(k_hex) + "/"));
  EXPECT_TRUE(malformed("/cas/" + std::string(k_hex) + "/extra"));
  EXPECT_TRUE(malformed("/cas/../" + std::string(k_hex)));
}

TEST(RouteTest, RefNamesAreUtf8) {
  EXPECT_TRUE(parse_route("/v1/refs/caf%C3%A9"));
  for (const char* bad :
       {"/v1/refs/%F5", "/v1/refs/a%C3", "/v1/refs/%ED%A0%80", "/v1/refs/%C0%AF"}) {
    const auto r = parse_route(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
  }
}

TEST(RouteTest, QueryIsSplitOffAndKeptUndecoded) {
  const auto r = parse_route("/cas/" + std::string(k_hex) + "?a=1&b=%20");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, RouteKind::cas);
  EXPECT_EQ(r->query, "a=1&b=%20");

  const auto kv = parse_route("/kv/ccache/ab?x");
  ASSERT_TRUE(kv) << kv.error().message;
  EXPECT_EQ(kv->key, "ccache/ab");
  EXPECT_EQ(kv->query, "x");
}

TEST(RouteTest, KvKeysHaveAnyDepth) {
  for (const std::string key : {"a", "ccache/ab/cdef0123", "x/y/z/w/v/u", "with.dot/..x/x.."}) {
    const auto r = parse_route("/kv/" + key);
    ASSERT_TRUE(r) << key << ": " << r.error().message;
    EXPECT_EQ(r->kind, RouteKind::kv);
    EXPECT_EQ(r->key, key);
  }
}

TEST(RouteTest, KvKeyIsPercentDecoded) {
  const auto r = parse_route("/kv/a%20b/%41%2f%7e");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->key, "a b/A/~");
}

TEST(RouteTest, KvTraversalIsMalformed) {
  EXPECT_TRUE(malformed("/kv/a/../b"));
  EXPECT_TRUE(malformed("/kv/../etc/passwd"));
  EXPECT_TRUE(malformed("/kv/.."));
  EXPECT_TRUE(malformed("/kv/."));
  EXPECT_TRUE(malformed("/kv/a/./b"));
  EXPECT_TRUE(malformed("/kv/a/.."));
  // The same, hidden behind percent-escapes: checked after decoding.
  EXPECT_TRUE(malformed("/kv/a/%2e%2e/b"));
  EXPECT_TRUE(malformed("/kv/a/%2E%2E/b"));
  EXPECT_TRUE(malformed("/kv/a%2f..%2fb"));
  EXPECT_TRUE(malformed("/kv/%2e"));
}

TEST(RouteTest, KvEmptySegmentsAreMalformed) {
  EXPECT_TRUE(malformed("/kv/"));
  EXPECT_TRUE(malformed("/kv//a"));
  EXPECT_TRUE(malformed("/kv/a//b"));
  EXPECT_TRUE(malformed("/kv/a%2f%2fb"));
  EXPECT_TRUE(malformed("/kv/%2fa"));
}

TEST(RouteTest, KvMalformedEscapesAreMalformed) {
  EXPECT_TRUE(malformed("/kv/a%"));
  EXPECT_TRUE(malformed("/kv/a%4"));
  EXPECT_TRUE(malformed("/kv/a%zz"));
  EXPECT_TRUE(malformed("/kv/a%g1b"));
  EXPECT_TRUE(malformed("/kv/%"));
}

TEST(RouteTest, KvControlCharactersAreMalformed) {
  EXPECT_TRUE(malformed("/kv/a%00b"));
  EXPECT_TRUE(malformed("/kv/a%0ab"));
  EXPECT_TRUE(malformed("/kv/a%0db"));
  EXPECT_TRUE(malformed("/kv/a%7fb"));
  EXPECT_TRUE(malformed(std::string("/kv/a\tb")));
  EXPECT_TRUE(malformed(std::string("/kv/a\0b", 7)));
}

TEST(RouteTest, KvKeyLengthIsBounded) {
  const std::string longest(cas::k_max_key_size, 'k');
  const auto ok = parse_route("/kv/" + longest);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->key, longest);
  EXPECT_TRUE(malformed("/kv/" + longest + "k"));
  // Escapes count after decoding: 1025 decoded bytes from a target well under k_max_target.
  std::string escaped;
  for (std::size_t i = 0; i < cas::k_max_key_size / 2 + 1; ++i) {
    escaped += "%41b";
  }
  EXPECT_TRUE(malformed("/kv/" + escaped));
}

TEST(RouteTest, TargetLengthIsBounded) {
  const std::string prefix = "/kv/";
  std::string target = prefix;
  while (target.size() < k_max_target) {
    target += "abcdefg/";
  }
  target.resize(k_max_target + 1, 'x');
  EXPECT_TRUE(malformed(target));
  EXPECT_TRUE(malformed("/nothing/" + std::string(k_max_target, 'x')));
  // The bound is on the whole target, query included.
  EXPECT_TRUE(malformed("/healthz?" + std::string(k_max_target, 'q')));
}

TEST(RouteTest, TargetMustBeAnAbsolutePath) {
  EXPECT_TRUE(malformed(""));
  EXPECT_TRUE(malformed("*"));
  EXPECT_TRUE(malformed("cas/" + std::string(k_hex)));
  EXPECT_TRUE(malformed("?x=1"));
}

TEST(RouteTest, FixedRoutes) {
  const std::pair<std::string_view, RouteKind> cases[] = {
      {"/v1/blobs:findMissing", RouteKind::find_missing},
      {"/v1/blobs:batchRead", RouteKind::batch_read},
      {"/v1/blobs:batchUpdate", RouteKind::batch_update},
      {"/v1/stats", RouteKind::stats},
      {"/metrics", RouteKind::metrics},
      {"/healthz", RouteKind::healthz},
      {"/v1/gc", RouteKind::gc},
      {"/v1/refs", RouteKind::refs},
      {"/v1/keys", RouteKind::keys},
      {"/v1/audit", RouteKind::audit},
  };
  for (const auto& [target, kind] : cases) {
    const auto r = parse_route(target);
    ASSERT_TRUE(r) << target << ": " << r.error().message;
    EXPECT_EQ(r->kind, kind) << target;
    const auto with_query = parse_route(std::string(target) + "?pretty=1");
    ASSERT_TRUE(with_query) << target;
    EXPECT_EQ(with_query->kind, kind);
    EXPECT_EQ(with_query->query, "pretty=1");
  }
}

TEST(RouteTest, RefsTakeAValidatedNameOfAnyDepth) {
  const auto listing = parse_route("/v1/refs/?prefix=app/");
  ASSERT_TRUE(listing);
  EXPECT_EQ(listing->kind, RouteKind::refs);
  EXPECT_EQ(listing->key, ""); // the listing
  EXPECT_EQ(listing->query, "prefix=app/");
  const auto named = parse_route("/v1/refs/app/release%201.4");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->kind, RouteKind::refs);
  EXPECT_EQ(named->key, "app/release 1.4");
  EXPECT_TRUE(refused_with("/v1/refs/app/../x", Errc::invalid_argument));
  EXPECT_TRUE(refused_with("/v1/refs/a//b", Errc::invalid_argument));
  EXPECT_TRUE(refused_with("/v1/refs/a%00b", Errc::invalid_argument));
}

TEST(RouteTest, ReleasesTakeProjectVersionAndFile) {
  for (const auto* key : {"acme", "acme/1.4.0", "acme/1.4.0/SHA256SUMS", "acme/1.4.0/bin/tool"}) {
    const auto r = parse_route(std::string("/v1/releases/") + key);
    ASSERT_TRUE(r) << key << ": " << r.error().message;
    EXPECT_EQ(r->kind, RouteKind::releases);
    EXPECT_EQ(r->key, key);
  }
  const auto yank = parse_route("/v1/releases/acme/1.4.0:yank");
  ASSERT_TRUE(yank);
  EXPECT_EQ(yank->kind, RouteKind::release_yank);
  EXPECT_EQ(yank->key, "acme/1.4.0");
  EXPECT_TRUE(refused_with("/v1/releases/acme/../x", Errc::invalid_argument));
  EXPECT_TRUE(refused_with("/v1/releases/acme//1.0", Errc::invalid_argument));
}

TEST(RouteTest, QueryParamsArePercentDecoded) {
  EXPECT_EQ(query_param("prefix=release%201.0/&x=1", "prefix"), "release 1.0/");
  EXPECT_EQ(query_param("a=1&dry_run=1", "dry_run"), "1");
  EXPECT_EQ(query_param("dry_run", "dry_run"), "");
  EXPECT_EQ(query_param("prefix=%zz", "prefix"), "");
  EXPECT_EQ(query_param("prefixes=a", "prefix"), "");
}

TEST(RouteTest, TreesTakeAFullDigest) {
  const auto r = parse_route("/v1/trees/" + std::string(k_hex) + "/5");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, RouteKind::trees);
  EXPECT_EQ(r->digest.hex(), k_hex);
  EXPECT_EQ(r->digest.size, 5u);
  EXPECT_TRUE(refused_with("/v1/trees/" + std::string(k_hex), Errc::invalid_argument));
  EXPECT_TRUE(refused_with("/v1/trees/" + std::string(k_hex) + "/", Errc::invalid_argument));
  EXPECT_TRUE(refused_with("/v1/trees/" + std::string(k_hex) + "/-1", Errc::invalid_argument));
  EXPECT_TRUE(refused_with("/v1/trees/" + std::string(k_hex) + "/5x", Errc::invalid_argument));
  EXPECT_TRUE(
      refused_with("/v1/trees/" + upper(std::string(k_hex)) + "/5", Errc::invalid_argument));
}

// The page a browser gets: "/" alone, with or without a query; every other path stays a 404.
TEST(RouteTest, StatusPageIsExactlyTheRoot) {
  const auto r = parse_route("/");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, RouteKind::status_page);
  EXPECT_EQ(r->key, "");
  const auto with_query = parse_route("/?refresh=1");
  ASSERT_TRUE(with_query);
  EXPECT_EQ(with_query->kind, RouteKind::status_page);
  EXPECT_EQ(with_query->query, "refresh=1");
  for (const std::string_view other : {"//", "/index.html", "/%2F", "/."}) {
    const auto o = parse_route(other);
    EXPECT_TRUE(!o || o->kind != RouteKind::status_page) << other;
  }
  EXPECT_TRUE(refused_with("//", Errc::not_found));
  EXPECT_TRUE(refused_with("/index.html", Errc::not_found));
  EXPECT_EQ(to_string(RouteKind::status_page), "status page");
}

TEST(RouteTest, UnknownRoutesAreNotFound) {
  EXPECT_TRUE(refused_with("/nothing", Errc::not_found));
  EXPECT_TRUE(refused_with("/cas", Errc::not_found));
  EXPECT_TRUE(refused_with("/kv", Errc::not_found));
  EXPECT_TRUE(refused_with("/healthz/", Errc::not_found));
  EXPECT_TRUE(refused_with("/v1/blobs:findmissing", Errc::not_found));
  EXPECT_TRUE(refused_with("/v1/stats/x", Errc::not_found));
  EXPECT_TRUE(refused_with("/CAS/" + std::string(k_hex), Errc::not_found));
}

// --- the Nix binary cache ----------------------------------------------------------------------

// A store path's hash part and a nar's file hash, in nix32 (docs/nix-client-facts.md).
constexpr std::string_view k_hash32 = "2ch9gbgm0wrs61vhx8cgxgn6260xp6ny";
constexpr std::string_view k_file32 = "1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih";
constexpr std::string_view k_file_hex =
    "30ba3b06f6b15862e0dddbd2ccb3c1991877fbc0eb0c6fd7d8eeb6e9018903f1";

TEST(RouteTest, NixCacheInfoAndNarinfos) {
  EXPECT_EQ(parse_route("/nix/nix-cache-info")->kind, RouteKind::nix_cache_info);
  auto r = parse_route("/nix/" + std::string(k_hash32) + ".narinfo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, RouteKind::nix_narinfo);
  EXPECT_EQ(r->hash32, k_hash32);
  EXPECT_EQ(r->key, std::string(k_hash32) + ".narinfo");
  EXPECT_TRUE(malformed("/nix/short.narinfo"));
  EXPECT_TRUE(malformed("/nix/" + upper(std::string(k_hash32)) + ".narinfo"));
  // 'e', 'o', 'u' and 't' are not nix32.
  EXPECT_TRUE(malformed("/nix/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo"));
}

TEST(RouteTest, NixNarsCarryTheirFileHashWhenTheirNameDoes) {
  for (const std::string ext : {".nar", ".nar.xz", ".nar.zst", ".nar.bz2"}) {
    auto r = parse_route("/nix/nar/" + std::string(k_file32) + ext);
    ASSERT_TRUE(r) << ext;
    EXPECT_EQ(r->kind, RouteKind::nix);
    EXPECT_EQ(r->key, "nar/" + std::string(k_file32) + ext);
    EXPECT_TRUE(r->hash_named) << ext;
    EXPECT_EQ(to_hex(r->hash), k_file_hex) << ext;
  }
  auto other = parse_route("/nix/nar/some-file.nar.xz");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->kind, RouteKind::nix);
  EXPECT_FALSE(other->hash_named);
  auto no_dot = parse_route("/nix/nar/" + std::string(k_file32) + ".narx");
  ASSERT_TRUE(no_dot);
  EXPECT_FALSE(no_dot->hash_named);
}

TEST(RouteTest, NixListingsLogsAndRealisations) {
  for (const auto& path : std::vector<std::string>{
           std::string(k_hash32) + ".ls", "log/" + std::string(k_hash32) + "-hello-2.12.drv",
           "realisations/sha256:" + std::string(k_file32) + "!out.doi"}) {
    auto r = parse_route("/nix/" + path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->kind, RouteKind::nix) << path;
    EXPECT_EQ(r->key, path);
    EXPECT_FALSE(r->hash_named);
  }
}

TEST(RouteTest, NixPathsAreSingleSegmentsOfNixsCharacters) {
  EXPECT_TRUE(malformed("/nix/nar/../../etc/passwd"));
  EXPECT_TRUE(malformed("/nix/nar/.hidden"));
  EXPECT_TRUE(malformed("/nix/nar/a%2fb"));
  EXPECT_TRUE(malformed("/nix/nar/a b"));
  EXPECT_TRUE(malformed("/nix/nar/"));
  EXPECT_TRUE(malformed("/nix/log/%00"));
  EXPECT_TRUE(malformed("/nix/nar/" + std::string(300, 'a')));
  EXPECT_TRUE(refused_with("/nix/log/not-a-drv", Errc::not_found));
  EXPECT_TRUE(refused_with("/nix/etc/passwd", Errc::not_found));
  EXPECT_TRUE(refused_with("/nix/", Errc::not_found));
  EXPECT_TRUE(refused_with("/nix/realisations/x.json", Errc::not_found));
}

TEST(RouteTest, NixPinsTakeAHashPart) {
  auto r = parse_route("/v1/nix/pins/" + std::string(k_hash32));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, RouteKind::nix_pins);
  EXPECT_EQ(r->hash32, k_hash32);
  EXPECT_TRUE(malformed("/v1/nix/pins/" + std::string(k_hash32) + "-name"));
  EXPECT_TRUE(malformed("/v1/nix/pins/"));
}

TEST(RouteTest, KindsHaveDistinctNames) {
  const RouteKind kinds[] = {RouteKind::cas,
                             RouteKind::ac,
                             RouteKind::kv,
                             RouteKind::find_missing,
                             RouteKind::batch_read,
                             RouteKind::batch_update,
                             RouteKind::stats,
                             RouteKind::metrics,
                             RouteKind::healthz,
                             RouteKind::gc,
                             RouteKind::refs,
                             RouteKind::trees,
                             RouteKind::releases,
                             RouteKind::release_yank,
                             RouteKind::keys,
                             RouteKind::audit,
                             RouteKind::nix_cache_info,
                             RouteKind::nix_narinfo,
                             RouteKind::nix,
                             RouteKind::nix_pins,
                             RouteKind::status_page};
  for (std::size_t i = 0; i < std::size(kinds); ++i) {
    EXPECT_NE(to_string(kinds[i]), "unknown");
    for (std::size_t j = i + 1; j < std::size(kinds); ++j) {
      EXPECT_NE(to_string(kinds[i]), to_string(kinds[j]));
    }
  }
}

TEST(RouteTest, MirrorPathsAreCheckedAndDotSegmentsDropped) {
  auto r = parse_route("/mirror/deb/./pool/main/a_1%3a2.0_all.deb?sha256=ab");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, RouteKind::mirror);
  EXPECT_EQ(r->mirror, "deb");
  EXPECT_EQ(r->key, "pool/main/a_1:2.0_all.deb");   // decoded: the entry's name
  EXPECT_EQ(r->raw, "pool/main/a_1%3A2.0_all.deb"); // what the upstream is asked: one spelling
  auto plus = parse_route("/mirror/deb/a+b%2Bc%2e");
  ASSERT_TRUE(plus) << plus.error().message;
  EXPECT_EQ(plus->key, "a+b+c.");
  EXPECT_EQ(plus->raw, "a%2Bb%2Bc."); // never the client's own spelling
  EXPECT_EQ(r->query, "sha256=ab");
  for (const char* bad :
       {"/mirror/deb/a/../b", "/mirror/deb/a//b", "/mirror/deb/a%2Fb", "/mirror/deb/a%5cb",
        "/mirror/deb/a\\b", "/mirror/deb/", "/mirror/deb", "/mirror/d%20b/x", "/mirror//x",
        "/mirror/deb/%2e%2e/x", "/mirror/deb/a%00b", "/mirror/deb/\xff.deb", "/mirror/deb/a%FF",
        "/mirror/deb/..;/etc/passwd", "/mirror/deb/a/..x", "/mirror/./x", "/mirror/deb@../x"}) {
    auto refused = parse_route(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, Errc::invalid_argument) << bad;
  }
}

TEST(RouteTest, RepositoryIndexesAreTheMutableMirrorPaths) {
  for (const char* path : {"dists/bookworm/InRelease", "./Release", "Release.gpg",
                           "dists/x/main/binary-amd64/Packages.xz", "Sources.gz",
                           "core/os/x86_64/core.db", "simple/index.json", "repodata/repomd.xml",
                           "dists/x/main/i18n/Translation-en", "dists/x/main/Contents-amd64.gz"}) {
    EXPECT_TRUE(is_mutable_path(path)) << path;
  }
  for (const char* path : {"pool/main/a/a_1.0_all.deb", "Release.txt", "x/Packages-notes/a.deb",
                           "core/os/x86_64/a-1.0.pkg.tar.zst", "repodata/abc-primary.xml.gz"}) {
    EXPECT_FALSE(is_mutable_path(path)) << path;
  }
}

} // namespace
} // namespace ingot::server
