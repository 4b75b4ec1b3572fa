#include "sign/minisign.hpp"
#include "support/command.hpp"
#include "support/files.hpp"
#include "support/result_assertions.hpp"
#include "support/temp_dir.hpp"
#include "util/base64.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::sign {
namespace {

namespace fs = std::filesystem;
using test::fails_with;
using test::ok;
using test::read_file;
using test::run_command;
using test::write_file;
using ::testing::HasSubstr;

constexpr std::string_view k_sums = "0123abcd  ingot-1.0.tar.zst\n4567ef01  ingot-1.0.sbom\n";
constexpr std::string_view k_comment = "project:ingot\tversion:1.0\ttimestamp:1700000000";

SecretKey make_key(const std::string& name) {
  auto key = generate_key(name);
  if (!key) {
    throw std::runtime_error(key.error().message);
  }
  return std::move(key).value();
}

// minisign prints key IDs as id_hex() does, 16 digits, since 0.12; 0.11 (Debian 12) drops
// leading zeros. `text` must show `id_hex` right after `before` in one of those spellings.
::testing::AssertionResult shows_key_id(const std::string& text, const std::string& before,
                                        const std::string& id_hex) {
  const std::string unpadded =
      id_hex.substr(std::min(id_hex.find_first_not_of('0'), std::size_t{15}));
  for (const std::string& spelling : {id_hex, unpadded}) {
    if (text.find(before + spelling + "\n") != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no \"" << before << id_hex << "\" in: " << text;
}

std::string replace_line(const std::string& text, int n, const std::string& with) {
  std::size_t start = 0;
  for (int i = 0; i < n; ++i) {
    start = text.find('\n', start) + 1;
  }
  return text.substr(0, start) + with + text.substr(text.find('\n', start));
}

// Ingot's own checks, no minisign needed.
class MinisignFormat : public ::testing::Test {
protected:
  SecretKey m_key = make_key("release-1");
  std::string m_sig = minisign_sign(m_key, as_bytes(k_sums), k_comment);
};

TEST_F(MinisignFormat, WritesFourLinesWithThePrehashedAlgorithm) {
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < m_sig.size();) {
    const std::size_t end = m_sig.find('\n', at);
    ASSERT_NE(end, std::string::npos) << "every line ends with a newline";
    lines.push_back(m_sig.substr(at, end - at));
    at = end + 1;
  }
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[0], "untrusted comment: signature from ingot secret key release-1");
  const auto signature = base64_decode(lines[1]);
  ASSERT_TRUE(signature.has_value());
  ASSERT_EQ(signature->size(), 2U + 8U + 64U);
  EXPECT_EQ(signature->substr(0, 2), "ED");
  EXPECT_EQ(signature->substr(2, 8), as_chars(m_key.public_key().id));
  EXPECT_EQ(lines[2], "trusted comment: " + std::string(k_comment));
  const auto global = base64_decode(lines[3]);
  ASSERT_TRUE(global.has_value());
  EXPECT_EQ(global->size(), 64U);

  auto verified = minisign_verify(m_key.public_key(), as_bytes(k_sums), m_sig);
  ASSERT_TRUE(ok(verified));
  EXPECT_EQ(verified->trusted_comment, k_comment);
  EXPECT_EQ(verified->key_id, m_key.public_key().id);
}

TEST_F(MinisignFormat, RefusesChangedDataCommentAndOtherKeys) {
  EXPECT_TRUE(fails_with(minisign_verify(m_key.public_key(), as_bytes("other data"), m_sig),
                         Errc::corrupt));
  EXPECT_TRUE(fails_with(
      minisign_verify(m_key.public_key(), as_bytes(k_sums),
                      replace_line(m_sig, 2, "trusted comment: project:ingot\tversion:6.6")),
      Errc::corrupt));
  const SecretKey other = make_key("other");
  const auto r = minisign_verify(other.public_key(), as_bytes(k_sums), m_sig);
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr(m_key.public_key().id_hex()));
  EXPECT_THAT(r.error().message, HasSubstr(other.public_key().id_hex()));
}

TEST_F(MinisignFormat, RefusesMalformedFiles) {
  const PublicKey& pub = m_key.public_key();
  for (const std::string& bad :
       {std::string(), std::string("hello\n"), replace_line(m_sig, 0, "comment: x"),
        replace_line(m_sig, 1, "RWQ="), replace_line(m_sig, 2, "comment: x"),
        replace_line(m_sig, 3, "not base64"), m_sig.substr(0, m_sig.find("trusted comment:"))}) {
    EXPECT_TRUE(fails_with(minisign_verify(pub, as_bytes(k_sums), bad), Errc::invalid_argument))
        << bad;
  }
}

TEST_F(MinisignFormat, TrustedCommentMustBeOnePrintableLine) {
  EXPECT_THROW((void)minisign_sign(m_key, as_bytes(k_sums), "two\nlines"), std::invalid_argument);
  EXPECT_THROW((void)minisign_sign(m_key, as_bytes(k_sums), "cr\r"), std::invalid_argument);
  EXPECT_THROW((void)minisign_sign(m_key, as_bytes(k_sums), std::string(8174, 'x')),
               std::invalid_argument);
  const std::string longest(8173, 'x');
  auto r = minisign_verify(m_key.public_key(), as_bytes(k_sums),
                           minisign_sign(m_key, as_bytes(k_sums), longest));
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->trusted_comment, longest);
}

// Against the real minisign: what it accepts and refuses of ours, and the other way round.
class MinisignTool : public ::testing::Test {
protected:
  void SetUp() override {
    if (!test::on_path("minisign")) {
      GTEST_SKIP() << "minisign is not installed; run scripts/deps.sh test";
    }
    ASSERT_TRUE(ok(write_key_files(m_key, m_dir.path())));
    write_file(m_dir.path() / "SHA256SUMS", k_sums);
    write_file(m_dir.path() / "SHA256SUMS.minisig",
               minisign_sign(m_key, as_bytes(k_sums), k_comment));
  }

  test::CommandResult minisign_verify_cli(const std::string& pub = "release-1.pub") {
    return run_command(m_dir.path(), "minisign -Vm SHA256SUMS -p " + pub);
  }

  test::TempDir m_dir;
  SecretKey m_key = make_key("release-1");
};

TEST_F(MinisignTool, VerifiesOurSignatureAndShowsTheTrustedComment) {
  const auto r = minisign_verify_cli();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Signature and comment signature verified"));
  EXPECT_THAT(r.output, HasSubstr("Trusted comment: " + std::string(k_comment) + "\n"));
  // -H: minisign insists on a prehashed ("ED") signature.
  const auto hashed = run_command(m_dir.path(), "minisign -VHm SHA256SUMS -p release-1.pub");
  EXPECT_EQ(hashed.exit_code, 0) << hashed.output;
}

TEST_F(MinisignTool, ChangedFileFailsInBoth) {
  write_file(m_dir.path() / "SHA256SUMS", std::string(k_sums) + "89abcdef  evil.sh\n");
  const auto r = minisign_verify_cli();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Signature verification failed"));
  EXPECT_TRUE(fails_with(minisign_verify(m_key.public_key(),
                                         as_bytes(read_file(m_dir.path() / "SHA256SUMS")),
                                         read_file(m_dir.path() / "SHA256SUMS.minisig")),
                         Errc::corrupt));
}

TEST_F(MinisignTool, EditedTrustedCommentFailsInBoth) {
  const fs::path sig = m_dir.path() / "SHA256SUMS.minisig";
  write_file(sig, replace_line(read_file(sig), 2, "trusted comment: project:ingot\tversion:9.9"));
  const auto r = minisign_verify_cli();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Comment signature verification failed"));
  EXPECT_TRUE(fails_with(minisign_verify(m_key.public_key(), as_bytes(k_sums), read_file(sig)),
                         Errc::corrupt));
}

TEST_F(MinisignTool, AnotherKeyFailsInBothAndBothNameTheKeyIds) {
  const SecretKey other = make_key("other");
  ASSERT_TRUE(ok(write_key_files(other, m_dir.path())));
  const auto r = minisign_verify_cli("other.pub");
  EXPECT_NE(r.exit_code, 0) << r.output;
  // minisign prints both IDs the way id_hex() spells them.
  EXPECT_TRUE(shows_key_id(r.output, "SHA256SUMS.minisig is ", m_key.public_key().id_hex()));
  EXPECT_TRUE(shows_key_id(r.output, "public key is ", other.public_key().id_hex()));
  EXPECT_TRUE(fails_with(minisign_verify(other.public_key(), as_bytes(k_sums),
                                         read_file(m_dir.path() / "SHA256SUMS.minisig")),
                         Errc::invalid_argument));
}

TEST_F(MinisignTool, WeVerifyWhatMinisignSigns) {
  const auto gen = run_command(m_dir.path(), "minisign -G -W -p mk.pub -s mk.key");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  auto pub = load_public_key(m_dir.path() / "mk.pub");
  ASSERT_TRUE(ok(pub));
  EXPECT_EQ(pub->name, "mk");
  // minisign names the key in its comment the way id_hex() does.
  EXPECT_TRUE(shows_key_id(read_file(m_dir.path() / "mk.pub"),
                           "untrusted comment: minisign public key ", pub->id_hex()));

  write_file(m_dir.path() / "data.bin", "artifact bytes\n");
  const auto sign =
      run_command(m_dir.path(), "minisign -S -s mk.key -m data.bin -t 'made by minisign'");
  ASSERT_EQ(sign.exit_code, 0) << sign.output;
  auto r = minisign_verify(*pub, as_bytes("artifact bytes\n"),
                           read_file(m_dir.path() / "data.bin.minisig"));
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->trusted_comment, "made by minisign");
  EXPECT_TRUE(fails_with(minisign_verify(*pub, as_bytes("artifact bytes?\n"),
                                         read_file(m_dir.path() / "data.bin.minisig")),
                         Errc::corrupt));

  // The legacy "Ed" form signs the data itself.
  const auto legacy =
      run_command(m_dir.path(), "minisign -S -l -s mk.key -m data.bin -x legacy.minisig -t legacy");
  ASSERT_EQ(legacy.exit_code, 0) << legacy.output;
  const std::string legacy_sig = read_file(m_dir.path() / "legacy.minisig");
  r = minisign_verify(*pub, as_bytes("artifact bytes\n"), legacy_sig);
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->trusted_comment, "legacy");
  EXPECT_TRUE(
      fails_with(minisign_verify(*pub, as_bytes("artifact bytes?\n"), legacy_sig), Errc::corrupt));
}

} // namespace
} // namespace ingot::sign
