// Where the client connects and with which token: the server URL forms it accepts, the ones it
// refuses (with a message saying what is wrong), and which of flags, environment and token files
// wins when several are given.
#include "client/options.hpp"
#include "support/printers.hpp"
#include "support/result_assertions.hpp"
#include "support/temp_dir.hpp"

#include <array>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

namespace fs = std::filesystem;
using test::fails_with;
using test::ok;
using ::testing::HasSubstr;

// --- parse_server_url ----------------------------------------------------------------------

TEST(ParseServerUrl, TakesHostAndPortFromAnHttpUrl) {
  auto address = parse_server_url("http://cache.example:9000");
  ASSERT_TRUE(ok(address));
  EXPECT_EQ(address->host, "cache.example");
  EXPECT_EQ(address->port, "9000");
  EXPECT_EQ(address->base, "");
}

TEST(ParseServerUrl, TakesHostAndPortWithoutAScheme) {
  auto address = parse_server_url("10.1.2.3:8080");
  ASSERT_TRUE(ok(address));
  EXPECT_EQ(address->host, "10.1.2.3");
  EXPECT_EQ(address->port, "8080");
  EXPECT_EQ(address->base, "");
}

TEST(ParseServerUrl, TakesABracketedIpv6Address) {
  auto address = parse_server_url("[::1]:8080");
  ASSERT_TRUE(ok(address));
  EXPECT_EQ(address->host, "::1");
  EXPECT_EQ(address->port, "8080");

  auto with_scheme = parse_server_url("http://[fd00::7]:81/");
  ASSERT_TRUE(ok(with_scheme));
  EXPECT_EQ(with_scheme->host, "fd00::7");
  EXPECT_EQ(with_scheme->port, "81");
}

TEST(ParseServerUrl, KeepsABasePathWithoutItsTrailingSlash) {
  auto address = parse_server_url("http://h:1/ingot/");
  ASSERT_TRUE(ok(address));
  EXPECT_EQ(address->host, "h");
  EXPECT_EQ(address->port, "1");
  EXPECT_EQ(address->base, "/ingot");

  auto root = parse_server_url("http://h:1/");
  ASSERT_TRUE(ok(root));
  EXPECT_EQ(root->base, "");
}

TEST(ParseServerUrl, DefaultsToPort80) {
  auto address = parse_server_url("http://cache.example");
  ASSERT_TRUE(ok(address));
  EXPECT_EQ(address->host, "cache.example");
  EXPECT_EQ(address->port, "80");

  auto with_base = parse_server_url("http://cache.example/ingot");
  ASSERT_TRUE(ok(with_base));
  EXPECT_EQ(with_base->port, "80");
  EXPECT_EQ(with_base->base, "/ingot");
}

TEST(ParseServerUrl, AcceptsTheHighestPort) {
  auto address = parse_server_url("h:65535");
  ASSERT_TRUE(ok(address));
  EXPECT_EQ(address->port, "65535");
}

TEST(ParseServerUrl, HttpsIsTlsWithPort443ByDefault) {
  auto address = parse_server_url("https://cache.example/ingot");
  ASSERT_TRUE(ok(address));
  EXPECT_TRUE(address->tls);
  EXPECT_EQ(address->host, "cache.example");
  EXPECT_EQ(address->port, "443");
  EXPECT_EQ(address->base, "/ingot");
  auto with_port = parse_server_url("https://127.0.0.1:8443");
  ASSERT_TRUE(ok(with_port));
  EXPECT_TRUE(with_port->tls);
  EXPECT_EQ(with_port->port, "8443");
  EXPECT_FALSE(parse_server_url("http://cache.example")->tls);
  EXPECT_FALSE(parse_server_url("cache.example:80")->tls);
}

TEST(ParseServerUrl, RefusesOtherSchemes) {
  auto address = parse_server_url("ftp://cache.example:21");
  ASSERT_TRUE(fails_with(address, Errc::invalid_argument));
  EXPECT_THAT(address.error().message, HasSubstr("ftp://cache.example:21"));
  EXPECT_THAT(address.error().message, HasSubstr("only http:// and https://"));
}

TEST(ParseServerUrl, RefusesAnEmptyHost) {
  for (const char* url : {"http://:8080", ":8080", "", "http://", "[]:8080"}) {
    auto address = parse_server_url(url);
    ASSERT_TRUE(fails_with(address, Errc::invalid_argument)) << "url '" << url << "'";
    EXPECT_THAT(address.error().message, HasSubstr("no host")) << "url '" << url << "'";
  }
}

TEST(ParseServerUrl, RefusesPortsOutOfRangeOrNotNumbers) {
  for (const char* url :
       {"http://h:0", "http://h:65536", "http://h:abc", "h:", "h:99999999999", "h:-1", "h:8o"}) {
    auto address = parse_server_url(url);
    ASSERT_TRUE(fails_with(address, Errc::invalid_argument)) << "url '" << url << "'";
    EXPECT_THAT(address.error().message, HasSubstr("port must be a number from 1 to 65535"))
        << "url '" << url << "'";
    EXPECT_THAT(address.error().message, HasSubstr(url));
  }
}

TEST(ParseServerUrl, RefusesAnUnclosedIpv6Bracket) {
  auto address = parse_server_url("[::1:8080");
  ASSERT_TRUE(fails_with(address, Errc::invalid_argument));
  EXPECT_THAT(address.error().message, HasSubstr("unclosed '['"));
}

// --- resolve_options -----------------------------------------------------------------------

// What the user typed, one flag at a time.
CredentialFlags server_flag(std::string url) {
  CredentialFlags flags;
  flags.server = std::move(url);
  return flags;
}
CredentialFlags token_flag(std::string token) {
  CredentialFlags flags;
  flags.token = std::move(token);
  return flags;
}
CredentialFlags token_file_flag(const fs::path& path) {
  CredentialFlags flags;
  flags.token_file = path.string();
  return flags;
}

// The variables resolve_options reads: each test starts with none set, and the process's own
// values come back afterwards.
constexpr std::array<const char*, 3> k_variables{"INGOT_SERVER", "INGOT_TOKEN", "INGOT_TOKEN_FILE"};

class ResolveOptions : public ::testing::Test {
protected:
  void SetUp() override {
    for (std::size_t i = 0; i < k_variables.size(); ++i) {
      if (const char* v = std::getenv(k_variables[i]); v != nullptr) {
        m_saved[i] = v;
      }
      ::unsetenv(k_variables[i]);
    }
  }

  void TearDown() override {
    for (std::size_t i = 0; i < k_variables.size(); ++i) {
      if (m_saved[i]) {
        ::setenv(k_variables[i], m_saved[i]->c_str(), 1);
      } else {
        ::unsetenv(k_variables[i]);
      }
    }
  }

  fs::path token_file(const std::string& name, const std::string& content) {
    const auto path = m_tmp.path() / name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path;
  }

  test::TempDir m_tmp;
  std::array<std::optional<std::string>, k_variables.size()> m_saved;
};

TEST_F(ResolveOptions, UsesTheDefaultsWhenNothingIsGiven) {
  ClientOptions defaults;
  defaults.server = "http://defaults.example:1234";
  auto options = resolve_options({}, defaults);
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->server, "http://defaults.example:1234");
  EXPECT_EQ(options->token, "");
}

TEST_F(ResolveOptions, TakesTheServerFromTheEnvironment) {
  ::setenv("INGOT_SERVER", "http://env.example:7000", 1);
  auto options = resolve_options({});
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->server, "http://env.example:7000");
}

TEST_F(ResolveOptions, ServerFlagBeatsTheEnvironment) {
  ::setenv("INGOT_SERVER", "http://env.example:7000", 1);
  auto options = resolve_options(server_flag("http://flag.example:7001"));
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->server, "http://flag.example:7001");
}

TEST_F(ResolveOptions, RefusesAMalformedServerFromTheEnvironment) {
  ::setenv("INGOT_SERVER", "ftp://env.example", 1);
  auto options = resolve_options({});
  ASSERT_TRUE(fails_with(options, Errc::invalid_argument));
  EXPECT_THAT(options.error().message, HasSubstr("ftp://env.example"));
}

TEST_F(ResolveOptions, TokenFlagBeatsEveryOtherSource) {
  ::setenv("INGOT_TOKEN", "from-env", 1);
  ::setenv("INGOT_TOKEN_FILE", token_file("env-file", "from-env-file\n").c_str(), 1);
  auto flags = token_flag("from-flag");
  flags.token_file = token_file("flag-file", "from-flag-file\n").string();
  auto options = resolve_options(flags);
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->token, "from-flag");
}

TEST_F(ResolveOptions, TokenFileFlagBeatsTheEnvironment) {
  ::setenv("INGOT_TOKEN", "from-env", 1);
  ::setenv("INGOT_TOKEN_FILE", token_file("env-file", "from-env-file\n").c_str(), 1);
  auto options = resolve_options(token_file_flag(token_file("flag-file", "from-flag-file\n")));
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->token, "from-flag-file");
}

TEST_F(ResolveOptions, TokenVariableBeatsTokenFileVariable) {
  ::setenv("INGOT_TOKEN", "from-env", 1);
  ::setenv("INGOT_TOKEN_FILE", token_file("env-file", "from-env-file\n").c_str(), 1);
  auto options = resolve_options({});
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->token, "from-env");
}

TEST_F(ResolveOptions, ReadsTheTokenFileVariableLast) {
  ::setenv("INGOT_TOKEN_FILE", token_file("env-file", "from-env-file\n").c_str(), 1);
  auto options = resolve_options({});
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->token, "from-env-file");
}

TEST_F(ResolveOptions, StripsTheTokenFilesTrailingNewline) {
  for (const char* content : {"secret\n", "secret\r\n", "secret", "secret\n\n"}) {
    auto options = resolve_options(token_file_flag(token_file("token", content)));
    ASSERT_TRUE(ok(options));
    EXPECT_EQ(options->token, "secret") << "file holding '" << content << "'";
  }
}

TEST_F(ResolveOptions, AnEmptyTokenFileIsAnErrorNamingIt) {
  const auto path = token_file("empty-token", "\n");
  auto options = resolve_options(token_file_flag(path));
  ASSERT_TRUE(fails_with(options, Errc::invalid_argument));
  EXPECT_THAT(options.error().message, HasSubstr(path.string()));
  EXPECT_THAT(options.error().message, HasSubstr("empty"));
}

TEST_F(ResolveOptions, AMissingTokenFileIsAnErrorNamingIt) {
  // A token file that was asked for and is not there must not fall back to anonymous access,
  // nor to a token from the environment.
  ::setenv("INGOT_TOKEN", "from-env", 1);
  const auto path = m_tmp.path() / "no-such-token";
  auto options = resolve_options(token_file_flag(path));
  ASSERT_TRUE(fails_with(options, Errc::not_found));
  EXPECT_THAT(options.error().message, HasSubstr(path.string()));
}

TEST_F(ResolveOptions, AMissingTokenFileFromTheEnvironmentIsAnErrorNamingIt) {
  const auto path = m_tmp.path() / "no-such-token";
  ::setenv("INGOT_TOKEN_FILE", path.c_str(), 1);
  auto options = resolve_options({});
  ASSERT_TRUE(fails_with(options, Errc::not_found));
  EXPECT_THAT(options.error().message, HasSubstr(path.string()));
}

TEST_F(ResolveOptions, KeepsTheOtherDefaults) {
  ClientOptions defaults;
  defaults.max_attempts = 2;
  defaults.parallelism = 3;
  auto options = resolve_options(token_flag("t"), defaults);
  ASSERT_TRUE(ok(options));
  EXPECT_EQ(options->max_attempts, 2u);
  EXPECT_EQ(options->parallelism, 3u);
}

} // namespace
} // namespace ingot::client
