#include "sign/keys.hpp"
#include "support/files.hpp"
#include "support/result_assertions.hpp"
#include "support/temp_dir.hpp"
#include "util/base64.hpp"

#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::sign {
namespace {

namespace fs = std::filesystem;
using test::fails_with;
using test::ok;
using test::read_file;
using test::write_file;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string line(const std::string& text, int n) {
  std::size_t start = 0;
  for (int i = 0; i < n; ++i) {
    start = text.find('\n', start) + 1;
  }
  return text.substr(start, text.find('\n', start) - start);
}

class KeyFiles : public ::testing::Test {
protected:
  void SetUp() override {
    auto key = generate_key("cache.example.org-1");
    ASSERT_TRUE(ok(key));
    m_key.emplace(std::move(key).value());
    ASSERT_TRUE(ok(write_key_files(*m_key, m_dir.path())));
  }

  fs::path file(const std::string& suffix) const {
    return m_dir.path() / ("cache.example.org-1" + suffix);
  }

  test::TempDir m_dir;
  std::optional<SecretKey> m_key;
};

TEST(GenerateKey, GivesDistinctKeysAndIds) {
  auto a = generate_key("a");
  auto b = generate_key("b");
  ASSERT_TRUE(ok(a));
  ASSERT_TRUE(ok(b));
  EXPECT_EQ(a->public_key().name, "a");
  EXPECT_NE(a->public_key().key, b->public_key().key);
  EXPECT_NE(a->public_key().id, b->public_key().id);
}

TEST(GenerateKey, RefusesNamesThatAreNotPlainFileNames) {
  for (const std::string& name :
       std::vector<std::string>{"", "a/b", "../up", ".hidden", "-p", "two words", "ключ",
                                "name:colon", std::string(65, 'x')}) {
    EXPECT_TRUE(fails_with(generate_key(name), Errc::invalid_argument)) << "'" << name << "'";
  }
  EXPECT_TRUE(ok(generate_key(std::string(64, 'x'))));
  EXPECT_TRUE(ok(generate_key("Ingot_release.2024-1")));
}

TEST(SecretKey, SignaturesVerifyOnlyForTheirMessageAndKey) {
  auto key = generate_key("k");
  auto other = generate_key("other");
  ASSERT_TRUE(ok(key));
  ASSERT_TRUE(ok(other));
  const Signature sig = key->sign(as_bytes("release 1.0"));
  EXPECT_TRUE(verify(key->public_key(), as_bytes("release 1.0"), sig));
  EXPECT_FALSE(verify(key->public_key(), as_bytes("release 1.1"), sig));
  EXPECT_FALSE(verify(other->public_key(), as_bytes("release 1.0"), sig));
  Signature flipped = sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(verify(key->public_key(), as_bytes("release 1.0"), flipped));
  // The empty message is a message like any other.
  EXPECT_TRUE(verify(key->public_key(), {}, key->sign({})));
}

TEST(SecretKey, MovedKeyKeepsSigning) {
  auto made = generate_key("k");
  ASSERT_TRUE(ok(made));
  SecretKey key = std::move(made).value();
  auto second = generate_key("second");
  ASSERT_TRUE(ok(second));
  const PublicKey pub = key.public_key();
  *second = std::move(key);
  EXPECT_EQ(second->public_key().key, pub.key);
  EXPECT_TRUE(verify(pub, as_bytes("m"), second->sign(as_bytes("m"))));
}

TEST(PublicKey, IdHexIsTheLittleEndianNumberInUppercase) {
  PublicKey pub;
  pub.id = {0xb4, 0xa4, 0x37, 0x85, 0x10, 0xb1, 0x9a, 0x64};
  // A key minisign 0.11 made: its .pub says "minisign public key 649AB1108537A4B4" and its
  // base64 starts RWS0pDeFELGaZ = "Ed" b4 a4 37 85 10 b1 9a 64.
  EXPECT_EQ(pub.id_hex(), "649AB1108537A4B4");
  // Always 16 digits, as minisign 0.12 and later print it (0.11 drops leading zeros).
  pub.id = {0x06, 0x28, 0x10, 0xd3, 0x29, 0xbf, 0x89, 0x0b};
  EXPECT_EQ(pub.id_hex(), "0B89BF29D3102806");
}

TEST(PublicKey, MinisignTextRoundTrips) {
  auto key = generate_key("cache-1");
  ASSERT_TRUE(ok(key));
  const PublicKey& pub = key->public_key();
  const std::string text = pub.to_minisign();
  EXPECT_EQ(line(text, 0), "untrusted comment: ingot public key cache-1, key ID " + pub.id_hex());
  EXPECT_EQ(text.back(), '\n');
  const auto raw = base64_decode(line(text, 1));
  ASSERT_TRUE(raw.has_value());
  ASSERT_EQ(raw->size(), 42U);
  EXPECT_EQ(raw->substr(0, 2), "Ed");

  auto parsed = parse_public_key(text);
  ASSERT_TRUE(ok(parsed));
  EXPECT_EQ(parsed->name, "cache-1");
  EXPECT_EQ(parsed->id, pub.id);
  EXPECT_EQ(parsed->key, pub.key);

  // Just the base64 line, as minisign -P takes it: the same key, without a name.
  auto bare = parse_public_key(line(text, 1));
  ASSERT_TRUE(ok(bare));
  EXPECT_EQ(bare->name, "");
  EXPECT_EQ(bare->id, pub.id);
  EXPECT_EQ(bare->key, pub.key);
}

TEST(PublicKey, ParseRefusesWhatIsNotAnEd25519PublicKey) {
  EXPECT_TRUE(fails_with(parse_public_key(""), Errc::invalid_argument));
  EXPECT_TRUE(
      fails_with(parse_public_key("untrusted comment: x\nnot base64!\n"), Errc::invalid_argument));
  // A signature line has the right prefix but the wrong length.
  const std::string sig_line = base64_encode(as_bytes(std::string(74, 'E')));
  EXPECT_TRUE(fails_with(parse_public_key("untrusted comment: x\n" + sig_line + "\n"),
                         Errc::invalid_argument));
  // Right length, another algorithm.
  const std::string other_alg = base64_encode(as_bytes("Xy" + std::string(40, '\0')));
  const auto r = parse_public_key("untrusted comment: x\n" + other_alg + "\n");
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr("Ed25519"));
}

TEST(PublicKey, NixFormIsNameColonBase64OfTheKey) {
  auto key = generate_key("cache.example.org-1");
  ASSERT_TRUE(ok(key));
  const std::string nix = key->public_key().to_nix();
  EXPECT_THAT(nix, MatchesRegex("cache\\.example\\.org-1:[A-Za-z0-9+/]{43}="));
  const auto raw = base64_decode(nix.substr(nix.find(':') + 1));
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, std::string(as_chars(key->public_key().key)));
}

TEST_F(KeyFiles, WritesSecretOwnerOnlyAndBothPublicForms) {
  EXPECT_EQ(mode_of(file(".key")), 0600U);
  EXPECT_EQ(line(read_file(file(".key")), 0), "ingot secret key v1 cache.example.org-1");
  EXPECT_EQ(read_file(file(".pub")), m_key->public_key().to_minisign());
  EXPECT_EQ(read_file(file(".nix.pub")), m_key->public_key().to_nix() + "\n");
  // Public halves are for everyone (as far as the umask allows).
  EXPECT_EQ(mode_of(file(".pub")) & 0600U, 0600U);
  EXPECT_EQ(test::files_under(m_dir.path()).size(), 3U);
}

TEST_F(KeyFiles, SecondKeyWithTheSameNameFailsAndLeavesTheFirst) {
  const std::string secret = read_file(file(".key"));
  const std::string pub = read_file(file(".pub"));
  auto again = generate_key("cache.example.org-1");
  ASSERT_TRUE(ok(again));
  const auto r = write_key_files(*again, m_dir.path());
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr(file(".key").string() + " already exists"));
  EXPECT_EQ(read_file(file(".key")), secret);
  EXPECT_EQ(read_file(file(".pub")), pub);
  EXPECT_EQ(mode_of(file(".key")), 0600U);
}

TEST(WriteKeyFiles, FailureToPublishLeavesTheNameFree) {
  test::TempDir dir;
  auto key = generate_key("k");
  ASSERT_TRUE(ok(key));
  // k.pub goes through k.pub.tmp; a directory in its way makes publishing fail.
  fs::create_directory(dir.path() / "k.pub.tmp");
  EXPECT_FALSE(ok(write_key_files(*key, dir.path())));
  EXPECT_FALSE(fs::exists(dir.path() / "k.key"));
  fs::remove(dir.path() / "k.pub.tmp");
  EXPECT_TRUE(ok(write_key_files(*key, dir.path())));
}

TEST_F(KeyFiles, LoadedSecretKeySignsForTheWrittenPublicKey) {
  auto loaded = load_secret_key(file(".key"));
  ASSERT_TRUE(ok(loaded));
  EXPECT_EQ(loaded->public_key().name, "cache.example.org-1");
  EXPECT_EQ(loaded->public_key().id, m_key->public_key().id);
  EXPECT_EQ(loaded->public_key().key, m_key->public_key().key);

  auto pub = load_public_key(file(".pub"));
  ASSERT_TRUE(ok(pub));
  EXPECT_EQ(pub->name, "cache.example.org-1");
  EXPECT_EQ(pub->id, m_key->public_key().id);
  EXPECT_TRUE(verify(*pub, as_bytes("narinfo"), loaded->sign(as_bytes("narinfo"))));
  EXPECT_FALSE(verify(*pub, as_bytes("narinfo!"), loaded->sign(as_bytes("narinfo"))));
}

TEST_F(KeyFiles, SecretKeyOthersCanReadIsRefusedWithTheFix) {
  for (const unsigned mode : {0644U, 0640U, 0604U, 0620U, 0601U}) {
    ASSERT_EQ(::chmod(file(".key").c_str(), mode), 0);
    const auto r = load_secret_key(file(".key"));
    ASSERT_TRUE(fails_with(r, Errc::unauthorized)) << std::oct << mode;
    EXPECT_THAT(r.error().message, HasSubstr("signing key " + file(".key").string()));
    EXPECT_THAT(r.error().message, HasSubstr("chmod 600 " + file(".key").string()));
  }
  ASSERT_EQ(::chmod(file(".key").c_str(), 0644), 0);
  EXPECT_THAT(load_secret_key(file(".key")).error().message,
              HasSubstr("is readable by others (mode 0644)"));
  ASSERT_EQ(::chmod(file(".key").c_str(), 0400), 0);
  EXPECT_TRUE(ok(load_secret_key(file(".key"))));
}

TEST_F(KeyFiles, DamagedSecretKeyIsRefused) {
  const std::string good = read_file(file(".key"));
  const std::size_t b64 = good.find('\n') + 1;
  // Of the base64 line (74 bytes: "Ed", ID, seed, public half), char 20 lies in the seed and
  // char 80 in the public half.
  for (const std::size_t at : {b64 + 20, b64 + 80}) {
    std::string bad = good;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    write_file(file(".key"), bad);
    const auto r = load_secret_key(file(".key"));
    ASSERT_TRUE(fails_with(r, Errc::corrupt)) << "changed char " << at - b64;
    EXPECT_THAT(r.error().message, HasSubstr(file(".key").string() + " is damaged"));
  }
  for (const std::string& bad : {good.substr(0, good.size() / 2), std::string("Ed\n"),
                                 "untrusted comment: x\n" + good.substr(b64), good + "more\n"}) {
    write_file(file(".key"), bad);
    EXPECT_TRUE(fails_with(load_secret_key(file(".key")), Errc::corrupt)) << bad;
  }
  write_file(file(".key"), good);
  EXPECT_TRUE(ok(load_secret_key(file(".key"))));
}

TEST_F(KeyFiles, MissingSecretKeyIsNotFound) {
  EXPECT_TRUE(fails_with(load_secret_key(m_dir.path() / "nope.key"), Errc::not_found));
  EXPECT_TRUE(fails_with(load_public_key(m_dir.path() / "nope.pub"), Errc::not_found));
}

TEST(LoadPublicKey, NamesAKeyWithoutANameAfterItsFile) {
  test::TempDir dir;
  auto key = generate_key("k");
  ASSERT_TRUE(ok(key));
  PublicKey nameless = key->public_key();
  nameless.name.clear();
  write_file(dir.path() / "upstream-2.pub", nameless.to_minisign());
  EXPECT_EQ(line(nameless.to_minisign(), 0),
            "untrusted comment: minisign public key " + nameless.id_hex());
  auto loaded = load_public_key(dir.path() / "upstream-2.pub");
  ASSERT_TRUE(ok(loaded));
  EXPECT_EQ(loaded->name, "upstream-2");
  EXPECT_EQ(loaded->key, nameless.key);

  write_file(dir.path() / "junk.pub", "hello\n");
  const auto junk = load_public_key(dir.path() / "junk.pub");
  ASSERT_TRUE(fails_with(junk, Errc::invalid_argument));
  EXPECT_THAT(junk.error().message, HasSubstr((dir.path() / "junk.pub").string()));
}

} // namespace
} // namespace ingot::sign
