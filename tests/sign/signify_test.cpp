#include "cas/digest.hpp"
#include "sign/signify.hpp"
#include "support/command.hpp"
#include "support/files.hpp"
#include "support/result_assertions.hpp"
#include "support/temp_dir.hpp"
#include "util/base64.hpp"

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

SecretKey make_key(const std::string& name) {
  auto key = generate_key(name);
  if (!key) {
    throw std::runtime_error(key.error().message);
  }
  return std::move(key).value();
}

// The line signify -C checks ("SHA256 (name) = hex"), as `sha256 -r`-less BSD tools write it.
std::string checksum_line(const std::string& name, std::string_view content) {
  return "SHA256 (" + name + ") = " + cas::digest_of(content).hex() + "\n";
}

TEST(SignifyFormat, EmbedsTheMessageAfterCommentAndSignature) {
  const SecretKey key = make_key("release-1");
  const std::string message = "line one\nline two, no newline at the end";
  const std::string file = signify_sign_embedded(key, message);
  const std::string comment = "untrusted comment: verify with release-1.pub\n";
  ASSERT_TRUE(file.starts_with(comment)) << file;
  const std::size_t end = file.find('\n', comment.size());
  const auto signature = base64_decode(file.substr(comment.size(), end - comment.size()));
  ASSERT_TRUE(signature.has_value());
  ASSERT_EQ(signature->size(), 2U + 8U + 64U);
  EXPECT_EQ(signature->substr(0, 10), "Ed" + std::string(as_chars(key.public_key().id)));
  EXPECT_EQ(file.substr(end + 1), message);
  auto r = signify_verify_embedded(key.public_key(), file);
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(*r, message);
  // An empty message is still a signed statement.
  r = signify_verify_embedded(key.public_key(), signify_sign_embedded(key, ""));
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(*r, "");
}

TEST(SignifyFormat, RefusesEditsOtherKeysAndMalformedFiles) {
  const SecretKey key = make_key("release-1");
  const SecretKey other = make_key("other");
  const std::string file = signify_sign_embedded(key, "SHA256 (a) = 00\n");
  EXPECT_TRUE(fails_with(signify_verify_embedded(key.public_key(), file + "SHA256 (b) = 11\n"),
                         Errc::corrupt));
  const auto r = signify_verify_embedded(other.public_key(), file);
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr(key.public_key().id_hex()));

  const std::size_t second = file.find('\n') + 1;
  for (const std::string& bad : std::vector<std::string>{
           "", "untrusted comment: x", "untrusted comment: \n" + file.substr(second),
           "comment: x\n" + file.substr(second), file.substr(0, second) + "RWQ=\nmsg",
           file.substr(0, file.find('\n', second))}) {
    EXPECT_TRUE(fails_with(signify_verify_embedded(key.public_key(), bad), Errc::invalid_argument))
        << bad;
  }
}

// Against the real signify: `signify -C` checks the files our signed list names.
class SignifyTool : public ::testing::Test {
protected:
  void SetUp() override {
    if (!test::on_path("signify-openbsd")) {
      GTEST_SKIP() << "signify-openbsd is not installed; run scripts/deps.sh test";
    }
    ASSERT_TRUE(ok(write_key_files(m_key, m_dir.path())));
    write_file(m_dir.path() / "a.txt", "artifact a\n");
    m_message = checksum_line("a.txt", "artifact a\n");
    write_file(sig_file(), signify_sign_embedded(m_key, m_message));
  }

  fs::path sig_file() const { return m_dir.path() / "SHA256.sig"; }

  test::CommandResult signify_check(const std::string& pub = "release-1.pub") {
    return run_command(m_dir.path(), "signify-openbsd -C -p " + pub + " -x SHA256.sig");
  }

  test::TempDir m_dir;
  SecretKey m_key = make_key("release-1");
  std::string m_message;
};

TEST_F(SignifyTool, ChecksOurSignedChecksums) {
  const auto r = signify_check();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Signature Verified\n"));
  EXPECT_THAT(r.output, HasSubstr("a.txt: OK\n"));
  auto ours = signify_verify_embedded(m_key.public_key(), read_file(sig_file()));
  ASSERT_TRUE(ok(ours));
  EXPECT_EQ(*ours, m_message);
}

TEST_F(SignifyTool, ChangedFileFailsTheChecksumNotTheSignature) {
  write_file(m_dir.path() / "a.txt", "artifact A\n");
  const auto r = signify_check();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("a.txt: FAIL"));
  // The signed list is intact, so signify_verify_embedded accepts it; what it returns no longer
  // matches the file, which is how a caller comparing checksums finds the change.
  auto ours = signify_verify_embedded(m_key.public_key(), read_file(sig_file()));
  ASSERT_TRUE(ok(ours));
  EXPECT_NE(*ours, checksum_line("a.txt", read_file(m_dir.path() / "a.txt")));
}

TEST_F(SignifyTool, EditedMessageFailsInBoth) {
  // The attacker's edit: the list now matches their a.txt.
  write_file(m_dir.path() / "a.txt", "artifact A\n");
  std::string edited = read_file(sig_file());
  edited.replace(edited.find(m_message), m_message.size(), checksum_line("a.txt", "artifact A\n"));
  write_file(sig_file(), edited);
  const auto r = signify_check();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("signature verification failed"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("a.txt: OK")));
  EXPECT_TRUE(fails_with(signify_verify_embedded(m_key.public_key(), edited), Errc::corrupt));
}

TEST_F(SignifyTool, AnotherKeyFailsInBoth) {
  const SecretKey other = make_key("other");
  ASSERT_TRUE(ok(write_key_files(other, m_dir.path())));
  const auto r = signify_check("other.pub");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("checked against wrong key"));
  EXPECT_TRUE(fails_with(signify_verify_embedded(other.public_key(), read_file(sig_file())),
                         Errc::invalid_argument));
}

TEST_F(SignifyTool, WeVerifyWhatSignifySigns) {
  const auto gen = run_command(m_dir.path(), "signify-openbsd -G -n -p k.pub -s k.sec");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const std::string message = checksum_line("a.txt", "artifact a\n") + "free text\n";
  write_file(m_dir.path() / "msg", message);
  const auto sign = run_command(m_dir.path(), "signify-openbsd -S -e -s k.sec -m msg -x msg.sig");
  ASSERT_EQ(sign.exit_code, 0) << sign.output;

  auto pub = load_public_key(m_dir.path() / "k.pub");
  ASSERT_TRUE(ok(pub));
  const std::string signed_file = read_file(m_dir.path() / "msg.sig");
  auto r = signify_verify_embedded(*pub, signed_file);
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(*r, message);
  EXPECT_TRUE(
      fails_with(signify_verify_embedded(m_key.public_key(), signed_file), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(signify_verify_embedded(*pub, signed_file + "x"), Errc::corrupt));
}

} // namespace
} // namespace ingot::sign
