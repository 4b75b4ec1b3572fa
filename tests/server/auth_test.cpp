// Tokens and scopes: the tokens file round trip, what is kept on disk, and the Authenticator's
// answers for every form of Authorization header.
#include "cas/digest.hpp"
#include "server/auth.hpp"
#include "support/files.hpp"
#include "support/printers.hpp"
#include "support/temp_dir.hpp"
#include "util/base64.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::TempDir;

std::string basic(std::string_view user, std::string_view password) {
  return "Basic " + base64_encode(as_bytes(std::string(user) + ":" + std::string(password)));
}

// A token created in `dir`, with its secret.
struct Created {
  std::string secret;
  TokenRecord record;
};

Created create(const fs::path& dir, const std::string& name, Scopes scopes) {
  auto r = TokenFile(dir).create(name, scopes);
  if (!r) {
    ADD_FAILURE() << "create " << name << ": " << r.error().message;
    return {};
  }
  return {r->first, r->second};
}

// --- scopes ---------------------------------------------------------------------------------

TEST(ScopesTest, ParsesEachScope) {
  const std::pair<std::string_view, Scopes> cases[] = {
      {"read", k_scope_read},
      {"write", k_scope_write},
      {"sign", k_scope_sign},
      {"admin", k_scope_admin},
      {"read,write", k_scope_read | k_scope_write},
      {"write,read", k_scope_read | k_scope_write},
      {"read,write,sign,admin", k_scope_read | k_scope_write | k_scope_sign | k_scope_admin},
      {"read,read", k_scope_read},
  };
  for (const auto& [text, scopes] : cases) {
    const auto r = parse_scopes(text);
    ASSERT_TRUE(r) << text << ": " << r.error().message;
    EXPECT_EQ(*r, scopes) << text;
  }
}

TEST(ScopesTest, RefusesUnknownOrEmptyScopes) {
  for (const std::string_view text :
       {"", ",", "read,", ",read", "read,,write", "bogus", "read,bogus", "read write", "READ"}) {
    const auto r = parse_scopes(text);
    ASSERT_FALSE(r) << "'" << text << "' parsed as " << *r;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << text;
    EXPECT_NE(r.error().message.find("read, write, sign, admin"), std::string::npos)
        << "the message should list the valid scopes: " << r.error().message;
  }
}

TEST(ScopesTest, RoundTripsThroughText) {
  for (Scopes s = 1; s < 16; ++s) {
    const auto text = scopes_to_string(s);
    const auto back = parse_scopes(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, s) << text;
  }
  EXPECT_EQ(scopes_to_string(k_scope_write | k_scope_read), "read,write");
}

TEST(ScopesTest, GrantsNeedEveryScope) {
  EXPECT_TRUE(grants(k_scope_read, k_scope_read));
  EXPECT_FALSE(grants(k_scope_read, k_scope_write));
  EXPECT_FALSE(grants(k_scope_write, k_scope_read));
  EXPECT_FALSE(grants(k_scope_read, k_scope_read | k_scope_write));
  EXPECT_TRUE(grants(k_scope_read | k_scope_write, k_scope_write));
  EXPECT_FALSE(grants(k_scope_read | k_scope_write, k_scope_admin));
  EXPECT_FALSE(grants(k_scope_read | k_scope_write | k_scope_sign, k_scope_admin));
  EXPECT_FALSE(grants(0, k_scope_read));
  // Nothing needed: granted to anyone, anonymous included.
  EXPECT_TRUE(grants(0, 0));
}

TEST(ScopesTest, AdminImpliesEveryScope) {
  for (Scopes needed = 0; needed < 16; ++needed) {
    EXPECT_TRUE(grants(k_scope_admin, needed)) << scopes_to_string(needed);
  }
}

// --- the tokens file ------------------------------------------------------------------------

TEST(TokenFileTest, CreateListRevokeRoundTrip) {
  TempDir dir;
  const auto ci = create(dir.path(), "ci", k_scope_read | k_scope_write);
  const auto dev = create(dir.path(), "dev", k_scope_read);
  ASSERT_FALSE(ci.secret.empty());
  ASSERT_FALSE(dev.secret.empty());
  EXPECT_NE(ci.secret, dev.secret);
  EXPECT_NE(ci.record.id, dev.record.id);

  auto listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "ci");
  EXPECT_EQ((*listed)[0].scopes, k_scope_read | k_scope_write);
  EXPECT_EQ((*listed)[0].id, ci.record.id);
  EXPECT_EQ((*listed)[0].hash_hex, ci.record.hash_hex);
  EXPECT_EQ((*listed)[0].created_unix_s, ci.record.created_unix_s);
  EXPECT_GT((*listed)[0].created_unix_s, 1'600'000'000);
  EXPECT_EQ((*listed)[1].name, "dev");
  EXPECT_EQ((*listed)[1].scopes, k_scope_read);

  auto revoked = TokenFile(dir.path()).revoke("ci");
  ASSERT_TRUE(revoked) << revoked.error().message;
  EXPECT_EQ(revoked->id, ci.record.id);
  listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "dev");

  revoked = TokenFile(dir.path()).revoke(dev.record.id);
  ASSERT_TRUE(revoked) << revoked.error().message;
  EXPECT_EQ(revoked->name, "dev");
  listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST(TokenFileTest, ListWithoutAFileIsEmpty) {
  TempDir dir;
  const auto listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_TRUE(listed->empty());
}

TEST(TokenFileTest, OnlyTheHashIsStored) {
  TempDir dir;
  const auto t = create(dir.path(), "ci", k_scope_write);
  ASSERT_TRUE(t.secret.starts_with("ingot_")) << t.secret;
  // 256 random bits: at least 43 base64url characters after the prefix.
  EXPECT_GE(t.secret.size(), 6u + 43u);
  EXPECT_EQ(t.record.hash_hex, cas::digest_of(t.secret).hex());
  EXPECT_EQ(t.record.id, t.record.hash_hex.substr(0, 12));

  const auto text = read_file(dir.path() / "tokens");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find(t.secret), std::string::npos) << text;
  EXPECT_EQ(text.find(t.secret.substr(6)), std::string::npos) << "the secret part is on disk";
  EXPECT_EQ(text.find(t.secret.substr(6, 16)), std::string::npos)
      << "part of the secret is on disk";
  EXPECT_NE(text.find(t.record.hash_hex), std::string::npos) << text;
  EXPECT_NE(text.find("\"ci\""), std::string::npos) << text;

  // Nothing else in the data dir holds the secret either.
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    if (entry.is_regular_file()) {
      EXPECT_EQ(read_file(entry.path()).find(t.secret.substr(6)), std::string::npos)
          << entry.path();
    }
  }
}

TEST(TokenFileTest, TokensFileIsPrivate) {
  TempDir dir;
  create(dir.path(), "ci", k_scope_read);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "tokens").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u)
      << "tokens is readable by others: " << std::oct << (st.st_mode & 0777);
}

TEST(TokenFileTest, RevokeUnknownIsNotFound) {
  TempDir dir;
  create(dir.path(), "ci", k_scope_read);
  const auto r = TokenFile(dir.path()).revoke("nobody");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("nobody"), std::string::npos) << r.error().message;
  const auto listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u);
}

TEST(TokenFileTest, AmbiguousNameMustBeRevokedById) {
  TempDir dir;
  const auto a = create(dir.path(), "laptop", k_scope_read);
  const auto b = create(dir.path(), "laptop", k_scope_read | k_scope_write);
  const auto by_name = TokenFile(dir.path()).revoke("laptop");
  ASSERT_FALSE(by_name);
  EXPECT_EQ(by_name.error().code, Errc::invalid_argument);
  auto listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 2u) << "a refused revoke must not remove anything";

  const auto by_id = TokenFile(dir.path()).revoke(b.record.id);
  ASSERT_TRUE(by_id) << by_id.error().message;
  listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, a.record.id);
}

TEST(TokenFileTest, NameMustNotBeEmptyOrHuge) {
  TempDir dir;
  auto r = TokenFile(dir.path()).create("", k_scope_read);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  r = TokenFile(dir.path()).create(std::string(129, 'n'), k_scope_read);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_TRUE(TokenFile(dir.path()).create(std::string(128, 'n'), k_scope_read));
}

TEST(TokenFileTest, UnreadableFileIsReportedAndNotClobbered) {
  TempDir dir;
  create(dir.path(), "ci", k_scope_read);
  {
    std::ofstream out(dir.path() / "tokens", std::ios::app);
    out << "this is not json\n";
  }
  const auto before = read_file(dir.path() / "tokens");
  const auto listed = TokenFile(dir.path()).list();
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Errc::corrupt);
  EXPECT_NE(listed.error().message.find(":2"), std::string::npos)
      << "the message should name the line: " << listed.error().message;
  EXPECT_FALSE(TokenFile(dir.path()).create("other", k_scope_read));
  EXPECT_FALSE(TokenFile(dir.path()).revoke("ci"));
  EXPECT_EQ(read_file(dir.path() / "tokens"), before);
}

TEST(TokenFileTest, ConcurrentCreatesAreAllKept) {
  TempDir dir;
  constexpr int k_threads = 4;
  constexpr int k_each = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&dir, t] {
      for (int i = 0; i < k_each; ++i) {
        EXPECT_TRUE(TokenFile(dir.path())
                        .create("t" + std::to_string(t) + "-" + std::to_string(i), k_scope_read));
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const auto listed = TokenFile(dir.path()).list();
  ASSERT_TRUE(listed) << listed.error().message;
  std::set<std::string> names;
  for (const auto& r : *listed) {
    names.insert(r.name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(k_threads * k_each));
}

// --- the Authenticator ----------------------------------------------------------------------

TEST(AuthenticatorTest, NoCredentialsIsAnonymous) {
  TempDir dir;
  for (const Scopes anonymous : {Scopes{0}, Scopes{k_scope_read}, k_scope_read | k_scope_write}) {
    Authenticator auth(dir.path(), anonymous);
    EXPECT_EQ(auth.anonymous(), anonymous);
    const auto id = auth.authenticate("");
    ASSERT_TRUE(id) << id.error().message;
    EXPECT_EQ(id->scopes, anonymous);
    EXPECT_FALSE(id->presented);
    EXPECT_TRUE(id->name.empty());
  }
}

TEST(AuthenticatorTest, AcceptsBearer) {
  TempDir dir;
  const auto t = create(dir.path(), "ci", k_scope_read | k_scope_write);
  Authenticator auth(dir.path(), 0);
  const auto id = auth.authenticate("Bearer " + t.secret);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->scopes, k_scope_read | k_scope_write);
  EXPECT_TRUE(id->presented);
  EXPECT_EQ(id->name, "ci");
}

TEST(AuthenticatorTest, AcceptsTheTokenAsBasicPassword) {
  TempDir dir;
  const auto t = create(dir.path(), "ccache", k_scope_read | k_scope_write);
  Authenticator auth(dir.path(), 0);
  // ccache and Nix send user:password from the URL; the user name is not checked.
  for (const std::string_view user : {"user", "", "anything at all"}) {
    const auto id = auth.authenticate(basic(user, t.secret));
    ASSERT_TRUE(id) << "user '" << user << "': " << id.error().message;
    EXPECT_EQ(id->scopes, k_scope_read | k_scope_write);
    EXPECT_TRUE(id->presented);
    EXPECT_EQ(id->name, "ccache");
  }
}

TEST(AuthenticatorTest, SchemeIsCaseInsensitive) {
  // RFC 9110 11.1: "It uses a case-insensitive token to identify the authentication scheme".
  TempDir dir;
  const auto t = create(dir.path(), "ci", k_scope_read);
  Authenticator auth(dir.path(), 0);
  EXPECT_TRUE(auth.authenticate("bearer " + t.secret));
  EXPECT_TRUE(auth.authenticate("BEARER " + t.secret));
  EXPECT_TRUE(auth.authenticate("basic " + basic("u", t.secret).substr(6)));
}

TEST(AuthenticatorTest, RejectsUnknownTokens) {
  TempDir dir;
  const auto t = create(dir.path(), "ci", k_scope_admin);
  Authenticator auth(dir.path(), k_scope_read);
  const std::string refused[] = {
      "Bearer ingot_" + std::string(43, 'A'), "Bearer " + t.secret + "x",
      "Bearer " + t.secret.substr(0, t.secret.size() - 1),
      "Bearer " + t.secret.substr(6), // without the prefix
      "Bearer ",
      // Knowing what is stored on disk must not be enough.
      "Bearer " + t.record.hash_hex, "Bearer " + t.record.id, basic("user", "wrong"),
      basic(t.secret, ""), // the token as the user name
  };
  for (const auto& header : refused) {
    const auto id = auth.authenticate(header);
    ASSERT_FALSE(id) << header << " was accepted";
    EXPECT_EQ(id.error().code, Errc::unauthorized) << header;
    EXPECT_FALSE(id.error().message.empty());
    // Error messages end up in response bodies and logs: never echo the secret.
    EXPECT_EQ(id.error().message.find(t.secret), std::string::npos);
  }
}

TEST(AuthenticatorTest, RejectsMalformedHeaders) {
  TempDir dir;
  const auto t = create(dir.path(), "ci", k_scope_read);
  Authenticator auth(dir.path(), k_scope_read);
  const std::string refused[] = {
      t.secret,                                     // no scheme
      "Token " + t.secret,                          // unknown scheme
      "Digest username=\"x\"",                      // unsupported scheme
      "Basic",                                      // no credentials
      "Basic !!!!",                                 // not base64
      "Basic " + base64_encode(as_bytes(t.secret)), // no colon
      "Bearer",                                     // no token
  };
  for (const auto& header : refused) {
    const auto id = auth.authenticate(header);
    ASSERT_FALSE(id) << "'" << header << "' was accepted";
    EXPECT_EQ(id.error().code, Errc::unauthorized) << header;
  }
}

TEST(AuthenticatorTest, SeesTokensCreatedBeforeItsFirstRequest) {
  TempDir dir;
  Authenticator auth(dir.path(), 0); // before the tokens file exists
  const auto t = create(dir.path(), "late", k_scope_read);
  const auto id = auth.authenticate("Bearer " + t.secret);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->name, "late");
}

TEST(AuthenticatorTest, RevokedTokenIsRejected) {
  TempDir dir;
  const auto keep = create(dir.path(), "keep", k_scope_read);
  const auto gone = create(dir.path(), "gone", k_scope_read | k_scope_write);
  {
    Authenticator auth(dir.path(), 0);
    ASSERT_TRUE(auth.authenticate("Bearer " + gone.secret));
  }
  ASSERT_TRUE(TokenFile(dir.path()).revoke("gone"));
  // A fresh Authenticator reads the file as it is now (the running server's once-a-second
  // reload is covered by tests/integration/auth.sh).
  Authenticator auth(dir.path(), 0);
  auto id = auth.authenticate("Bearer " + gone.secret);
  ASSERT_FALSE(id) << "a revoked token was accepted";
  EXPECT_EQ(id.error().code, Errc::unauthorized);
  id = auth.authenticate(basic("u", gone.secret));
  ASSERT_FALSE(id) << "a revoked token was accepted as a Basic password";
  EXPECT_EQ(id.error().code, Errc::unauthorized);
  EXPECT_TRUE(auth.authenticate("Bearer " + keep.secret));
}

TEST(AuthenticatorTest, ARememberedTokenIsCheckedAgainOnceTheTableChanges) {
  TempDir dir;
  const auto gone = create(dir.path(), "gone", k_scope_read);
  Authenticator auth(dir.path(), 0);
  Authenticator::Remembered connection;
  ASSERT_TRUE(auth.authenticate("Bearer " + gone.secret, connection));
  auto again = auth.authenticate("Bearer " + gone.secret, connection);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->name, "gone");
  EXPECT_EQ(again->scopes, k_scope_read);

  ASSERT_TRUE(TokenFile(dir.path()).revoke("gone"));
  // A token the table does not know yet makes the server read the file again at once; that
  // reload is what a revocation waits for.
  const auto later = create(dir.path(), "later", k_scope_read);
  Authenticator::Remembered other;
  ASSERT_TRUE(auth.authenticate("Bearer " + later.secret, other));
  auto revoked = auth.authenticate("Bearer " + gone.secret, connection);
  ASSERT_FALSE(revoked) << "a remembered token outlived its revocation";
  EXPECT_EQ(revoked.error().code, Errc::unauthorized);
}

TEST(AuthenticatorTest, AConnectionThatSwitchesTokensGetsEachTokensScopes) {
  TempDir dir;
  const auto r = create(dir.path(), "r", k_scope_read);
  const auto w = create(dir.path(), "w", k_scope_write);
  Authenticator auth(dir.path(), 0);
  Authenticator::Remembered connection;
  auto first = auth.authenticate("Bearer " + r.secret, connection);
  auto second = auth.authenticate("Bearer " + w.secret, connection);
  auto anonymous = auth.authenticate("", connection);
  auto unknown = auth.authenticate("Bearer ingot_not_a_token", connection);
  ASSERT_TRUE(first && second && anonymous);
  EXPECT_EQ(first->scopes, k_scope_read);
  EXPECT_EQ(second->scopes, k_scope_write);
  EXPECT_FALSE(anonymous->presented);
  EXPECT_EQ(anonymous->scopes, 0u);
  EXPECT_FALSE(unknown);
  auto back = auth.authenticate("Bearer " + r.secret, connection);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, "r");
}

TEST(AuthenticatorTest, TokenScopesDoNotMixUp) {
  TempDir dir;
  const auto r = create(dir.path(), "r", k_scope_read);
  const auto w = create(dir.path(), "w", k_scope_write);
  const auto a = create(dir.path(), "a", k_scope_admin);
  Authenticator auth(dir.path(), 0);
  const auto ir = auth.authenticate("Bearer " + r.secret);
  const auto iw = auth.authenticate("Bearer " + w.secret);
  const auto ia = auth.authenticate(basic("x", a.secret));
  ASSERT_TRUE(ir && iw && ia);
  EXPECT_EQ(ir->scopes, Scopes{k_scope_read});
  EXPECT_EQ(iw->scopes, Scopes{k_scope_write});
  EXPECT_EQ(ia->scopes, Scopes{k_scope_admin});
  EXPECT_FALSE(grants(ir->scopes, k_scope_write));
  EXPECT_TRUE(grants(ia->scopes, k_scope_write));
}

TEST(AuthenticatorTest, CorruptTokensFileLocksNoAnonymousOut) {
  TempDir dir;
  {
    std::ofstream out(dir.path() / "tokens");
    out << "{broken\n";
  }
  Authenticator auth(dir.path(), k_scope_read);
  const auto anon = auth.authenticate("");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->scopes, Scopes{k_scope_read});
  const auto id = auth.authenticate("Bearer ingot_whatever");
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, Errc::unauthorized);
}

} // namespace
} // namespace ingot::server
