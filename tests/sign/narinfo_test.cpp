#include "sign/narinfo.hpp"
#include "support/result_assertions.hpp"
#include "util/base64.hpp"
#include "util/hex.hpp"

#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::sign {
namespace {

using test::fails_with;
using test::ok;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// What nix 2.8's NarInfo::to_string writes for an input-addressed path pushed with
// `nix copy --to` (xz, the default): the nar named after its compressed bytes' sha256, the
// references sorted with the self-reference among them. The hashes are sha256s of fixed
// strings, so the nix32 text is valid (a sha256's first character is 0 or 1).
constexpr std::string_view k_hello_path =
    "/nix/store/9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1";
constexpr std::string_view k_hello_nar_hash =
    "sha256:1sbbn22dhw1l29gnnsaglh44m9vndyyjsmam0jqz12vpwx66yf3v";
constexpr std::string_view k_hello_sig =
    "cache.example.org-1:fwu35XgKNQ2l8ponJFaEzuAauNqr1r44s3OE12T1/"
    "RXZy38NLMGghXR/y72rtb3oLcUwlgfHCT5MOwB4FwrPDA==";
const std::string k_hello =
    "StorePath: /nix/store/9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1\n"
    "URL: nar/1vv8sr865kyxm5ddr60p5n4n947hiqmpk7134512z98v952xnain.nar.xz\n"
    "Compression: xz\n"
    "FileHash: sha256:1vv8sr865kyxm5ddr60p5n4n947hiqmpk7134512z98v952xnain\n"
    "FileSize: 50088\n"
    "NarHash: sha256:1sbbn22dhw1l29gnnsaglh44m9vndyyjsmam0jqz12vpwx66yf3v\n"
    "NarSize: 226552\n"
    "References: 8r51h62n591ljql8fh4npakqkpy479fn-glibc-2.35-163 "
    "9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1\n"
    "Deriver: b73c4k1mwwqwk4frz2n6jd5faz8akr8r-hello-2.12.1.drv\n"
    "Sig: " +
    std::string(k_hello_sig) + "\n";

// docs/nix-client-facts.md, "Signatures": a fingerprint, the key, and its signature.
constexpr std::string_view k_vector_message =
    "1;/nix/store/2ch9gbgm0wrs61vhx8cgxgn6260xp6ny-top;"
    "sha256:1w83i40ykdpfv3bny37bq3xpf64rq6rwrlnvvph64n5iyq33pfih;520;"
    "/nix/store/5qn9lblnzjgza2vb23kwaclrcxnska2z-dep";
constexpr std::string_view k_vector_key =
    "test-cache-1:UO0aIQALbNmiB0FTNm1c1QnxcCSLuhXo9oqO9+OZ5z0=";
constexpr std::string_view k_vector_sig = "test-cache-1:fwu35XgKNQ2l8ponJFaEzuAauNqr1r44s3OE12T1/"
                                          "RXZy38NLMGghXR/y72rtb3oLcUwlgfHCT5MOwB4FwrPDA==";
// The narinfo that fingerprint is of (the hash written in base16, as another tool might).
constexpr std::string_view k_vector_narinfo =
    "StorePath: /nix/store/2ch9gbgm0wrs61vhx8cgxgn6260xp6ny-top\n"
    "URL: nar/0kffy1b70hnawkdvq47dj4scagbz1x8mn0n6pf4fg7fjnl5361kf.nar.zst\n"
    "Compression: zstd\n"
    "NarHash: sha256:30ba3b06f6b15862e0dddbd2ccb3c1991877fbc0eb0c6fd7d8eeb6e9018903f1\n"
    "NarSize: 520\n"
    "References: 5qn9lblnzjgza2vb23kwaclrcxnska2z-dep\n"
    "Sig: test-cache-1:fwu35XgKNQ2l8ponJFaEzuAauNqr1r44s3OE12T1/"
    "RXZy38NLMGghXR/y72rtb3oLcUwlgfHCT5MOwB4FwrPDA==\n";

SecretKey make_key(const std::string& name) {
  auto key = generate_key(name);
  if (!key) {
    throw std::runtime_error(key.error().message);
  }
  return std::move(key).value();
}

PublicKey vector_key() {
  auto key = parse_nix_public_key(k_vector_key);
  if (!key) {
    throw std::runtime_error(key.error().message);
  }
  return std::move(key).value();
}

// `text` with its line `n` (from 1) replaced by `line` (no '\n'), or removed when empty.
std::string with_line(const std::string& text, int n, const std::string& line) {
  std::size_t start = 0;
  for (int i = 1; i < n; ++i) {
    start = text.find('\n', start) + 1;
  }
  const std::size_t end = text.find('\n', start) + 1;
  return text.substr(0, start) + (line.empty() ? "" : line + "\n") + text.substr(end);
}

// Expects `text` to be refused with a message that starts with `prefix`.
void expect_refused(const std::string& text, const std::string& prefix) {
  const auto parsed = parse_narinfo(text);
  ASSERT_TRUE(fails_with(parsed, Errc::invalid_argument)) << text;
  EXPECT_THAT(parsed.error().message, StartsWith(prefix)) << text;
  EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos);
}

TEST(ParseNarinfo, ReadsEveryFieldNixWrites) {
  const auto info = parse_narinfo(k_hello);
  ASSERT_TRUE(ok(info));
  EXPECT_EQ(info->store_path, k_hello_path);
  EXPECT_EQ(info->url, "nar/1vv8sr865kyxm5ddr60p5n4n947hiqmpk7134512z98v952xnain.nar.xz");
  EXPECT_EQ(info->compression, "xz");
  EXPECT_EQ(info->file_hash, "sha256:1vv8sr865kyxm5ddr60p5n4n947hiqmpk7134512z98v952xnain");
  EXPECT_EQ(info->file_size, 50088U);
  EXPECT_EQ(info->nar_hash, k_hello_nar_hash);
  EXPECT_EQ(info->nar_size, 226552U);
  EXPECT_THAT(info->references, ElementsAre("8r51h62n591ljql8fh4npakqkpy479fn-glibc-2.35-163",
                                            "9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1"));
  EXPECT_EQ(info->deriver, "b73c4k1mwwqwk4frz2n6jd5faz8akr8r-hello-2.12.1.drv");
  EXPECT_EQ(info->system, "");
  EXPECT_THAT(info->sigs, ElementsAre(k_hello_sig));
  EXPECT_EQ(info->ca, "");
  EXPECT_TRUE(info->other.empty());
}

TEST(RenderNarinfo, WritesBackExactlyWhatNixWrote) {
  const auto info = parse_narinfo(k_hello);
  ASSERT_TRUE(ok(info));
  EXPECT_EQ(render_narinfo(*info, info->sigs), k_hello);
}

TEST(RenderNarinfo, WritesKeysInNixsOrderWhateverTheInputOrder) {
  const std::string shuffled =
      "CA: fixed:r:sha256:1sbbn22dhw1l29gnnsaglh44m9vndyyjsmam0jqz12vpwx"
      "66yf3v\n"
      "Sig: "
      "b:YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYg==\n"
      "System: x86_64-linux\n"
      "X-Extra: kept\n"
      "References: \n"
      "NarSize: 7\n"
      "Sig: "
      "a:YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYQ==\n"
      "NarHash: " +
      std::string(k_hello_nar_hash) +
      "\n"
      "URL: nar/x.nar\n"
      "StorePath: " +
      std::string(k_hello_path) + "\n";
  const auto info = parse_narinfo(shuffled);
  ASSERT_TRUE(ok(info));
  EXPECT_EQ(render_narinfo(*info, info->sigs),
            "StorePath: " + std::string(k_hello_path) +
                "\n"
                "URL: nar/x.nar\n"
                "NarHash: " +
                std::string(k_hello_nar_hash) +
                "\n"
                "NarSize: 7\n"
                "References: \n"
                "System: x86_64-linux\n"
                "Sig: "
                "b:"
                "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYm"
                "JiYg==\n"
                "Sig: "
                "a:"
                "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYW"
                "FhYQ==\n"
                "CA: fixed:r:sha256:1sbbn22dhw1l29gnnsaglh44m9vndyyjsmam0jqz12vpwx66yf3v\n"
                "X-Extra: kept\n");
}

TEST(RenderNarinfo, WritesTheSigsGivenNotTheParsedOnes) {
  auto info = parse_narinfo(k_hello);
  ASSERT_TRUE(ok(info));
  const std::vector<std::string> sigs{"k-2:CCCC", "k-1:DDDD"};
  const std::string text = render_narinfo(*info, sigs);
  EXPECT_EQ(text, with_line(k_hello, 10, "Sig: k-2:CCCC\nSig: k-1:DDDD"));
  EXPECT_EQ(render_narinfo(*info, {}), with_line(k_hello, 10, ""));
}

TEST(RenderNarinfo, KeepsTheTrailingSpaceOfAnEmptyReferenceList) {
  const auto info = parse_narinfo(with_line(k_hello, 8, "References: "));
  ASSERT_TRUE(ok(info));
  EXPECT_TRUE(info->references.empty());
  const std::string text = render_narinfo(*info, info->sigs);
  EXPECT_THAT(text, HasSubstr("\nReferences: \nDeriver: "));
  EXPECT_EQ(text, with_line(k_hello, 8, "References: "));
}

TEST(RenderNarinfo, OmitsOptionalFieldsThatAreAbsent) {
  Narinfo info;
  info.store_path = k_hello_path;
  info.url = "nar/abc.nar";
  info.nar_hash = k_hello_nar_hash;
  info.nar_size = 1;
  EXPECT_EQ(render_narinfo(info, {}),
            "StorePath: " + std::string(k_hello_path) + "\nURL: nar/abc.nar\nNarHash: " +
                std::string(k_hello_nar_hash) + "\nNarSize: 1\nReferences: \n");
  // A FileSize of 0 is still a FileSize.
  info.file_size = 0;
  EXPECT_THAT(render_narinfo(info, {}), HasSubstr("\nFileSize: 0\nNarHash: "));
}

TEST(ParseNarinfo, NormalizesEveryHashSpellingToNix32) {
  const std::string hex = "7b386f4ce7778bf0b10455552dbd6f76a74a08a44f696b5f123470d884b06be9";
  std::string upper = hex;
  for (auto& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  const auto bytes = from_hex(hex);
  ASSERT_TRUE(bytes.has_value());
  const std::string b64 = base64_encode(*bytes);
  for (const std::string& spelling :
       std::vector<std::string>{std::string(k_hello_nar_hash), "sha256:" + hex, "sha256:" + upper,
                                "sha256:" + b64, "sha256-" + b64}) {
    const auto info = parse_narinfo(
        with_line(with_line(k_hello, 6, "NarHash: " + spelling), 4, "FileHash: " + spelling));
    ASSERT_TRUE(ok(info)) << spelling;
    EXPECT_EQ(info->nar_hash, k_hello_nar_hash) << spelling;
    EXPECT_EQ(info->file_hash, k_hello_nar_hash) << spelling;
  }
}

TEST(ParseNarinfo, KeepsUnknownKeysInOrder) {
  const auto info = parse_narinfo(k_hello + "X-Ingot-Uploaded: 2024-06-01\nZ: \nA.b_c-d: x: y\n");
  ASSERT_TRUE(ok(info));
  ASSERT_EQ(info->other.size(), 3U);
  EXPECT_EQ(info->other[0],
            std::make_pair(std::string("X-Ingot-Uploaded"), std::string("2024-06-01")));
  EXPECT_EQ(info->other[1], std::make_pair(std::string("Z"), std::string("")));
  EXPECT_EQ(info->other[2], std::make_pair(std::string("A.b_c-d"), std::string("x: y")));
  EXPECT_EQ(render_narinfo(*info, info->sigs),
            k_hello + "X-Ingot-Uploaded: 2024-06-01\nZ: \nA.b_c-d: x: y\n");
}

TEST(ParseNarinfo, ReadsOldNixsUnknownDeriverAsNone) {
  const auto info = parse_narinfo(with_line(k_hello, 9, "Deriver: unknown-deriver"));
  ASSERT_TRUE(ok(info));
  EXPECT_EQ(info->deriver, "");
}

TEST(ParseNarinfo, RefusesCarriageReturns) {
  std::string crlf;
  for (const char c : k_hello) {
    if (c == '\n') {
      crlf += '\r';
    }
    crlf += c;
  }
  expect_refused(crlf, "line 1: carriage return");
  expect_refused(with_line(k_hello, 5, "FileSize: 50088\r"), "line 5: carriage return");
  expect_refused(with_line(k_hello, 3, "Compression: x\rz"), "line 3: carriage return");
}

TEST(ParseNarinfo, RefusesATextWithoutTheFinalNewline) {
  expect_refused(k_hello.substr(0, k_hello.size() - 1), "line 10: no newline");
}

TEST(ParseNarinfo, RefusesEmptyLines) {
  expect_refused(with_line(k_hello, 3, "Compression: xz\n"), "line 4: empty line");
  expect_refused("\n" + k_hello, "line 1: empty line");
  expect_refused(k_hello + "\n", "line 11: empty line");
}

TEST(ParseNarinfo, RefusesLinesThatAreNotKeyColonSpaceValue) {
  for (const std::string& line :
       std::vector<std::string>{"Compression:xz", "Compression xz", "Compression",
                                "Compression:", ": xz", " Compression: xz", "Compr ession: xz",
                                "Comp\xc3\xa9: xz", std::string("Compression\0: xz", 16)}) {
    SCOPED_TRACE(line);
    const auto parsed = parse_narinfo(with_line(k_hello, 3, line));
    ASSERT_TRUE(fails_with(parsed, Errc::invalid_argument));
    EXPECT_THAT(parsed.error().message, StartsWith("line 3: "));
  }
}

TEST(ParseNarinfo, RefusesMissingRequiredFields) {
  expect_refused(with_line(k_hello, 1, ""), "the narinfo has no StorePath line");
  expect_refused(with_line(k_hello, 2, ""), "the narinfo has no URL line");
  expect_refused(with_line(k_hello, 6, ""), "the narinfo has no NarHash line");
  expect_refused(with_line(k_hello, 7, ""), "the narinfo has no NarSize line");
  expect_refused("", "the narinfo has no StorePath line");
  // The optional ones may go.
  std::string minimal = k_hello;
  for (const int line : {10, 9, 8, 5, 4, 3}) {
    minimal = with_line(minimal, line, "");
  }
  const auto info = parse_narinfo(minimal);
  ASSERT_TRUE(ok(info)) << minimal;
  EXPECT_EQ(info->compression, "");
  EXPECT_EQ(info->file_hash, "");
  EXPECT_FALSE(info->file_size.has_value());
  EXPECT_TRUE(info->references.empty());
}

TEST(ParseNarinfo, RefusesSizesThatAreNotPositiveNumbers) {
  expect_refused(with_line(k_hello, 7, "NarSize: 0"), "line 7: NarSize is 0");
  for (const std::string& size : std::vector<std::string>{"", "-1", "+1", "1k", " 1", "1 ", "0x10",
                                                          "18446744073709551616", "1e3"}) {
    expect_refused(with_line(k_hello, 7, "NarSize: " + size), "line 7: NarSize is");
    expect_refused(with_line(k_hello, 5, "FileSize: " + size), "line 5: FileSize is");
  }
  const auto max = parse_narinfo(with_line(k_hello, 7, "NarSize: 18446744073709551615"));
  ASSERT_TRUE(ok(max));
  EXPECT_EQ(max->nar_size, 18446744073709551615U);
}

TEST(ParseNarinfo, RefusesAKnownKeyTwiceButAcceptsManySigs) {
  expect_refused(with_line(k_hello, 3, "Compression: xz\nCompression: xz"),
                 "line 4: Compression appears twice");
  expect_refused(k_hello + "StorePath: " + std::string(k_hello_path) + "\n",
                 "line 11: StorePath appears twice");
  expect_refused(with_line(k_hello, 8, "References: \nReferences: "),
                 "line 9: References appears twice");
  expect_refused(k_hello + "X-A: 1\nX-A: 1\n", "line 12: X-A appears twice");
  const auto info = parse_narinfo(
      k_hello +
      "Sig: "
      "k-2:Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjYw=="
      "\nSig: " +
      std::string(k_hello_sig) + "\n");
  ASSERT_TRUE(ok(info));
  EXPECT_THAT(info->sigs, ElementsAre(k_hello_sig,
                                      "k-2:"
                                      "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
                                      "Y2NjY2NjY2NjY2NjY2NjY2NjYw==",
                                      k_hello_sig));
}

TEST(ParseNarinfo, RefusesHashesThatAreNotSha256) {
  const std::string nix32 = "1sbbn22dhw1l29gnnsaglh44m9vndyyjsmam0jqz12vpwx66yf3v";
  for (const std::string& hash : std::vector<std::string>{
           "", nix32, "sha256:", "sha256:" + nix32.substr(1), "sha256:" + nix32 + "0",
           "sha256:2" + nix32.substr(1), // bits past the 256th
           "sha256:e" + nix32.substr(1), // not in the alphabet
           "sha1:9m1skbnr5i43n3yypvda5s65vhfwdx5a", "md5:" + nix32, "SHA256:" + nix32,
           "sha256 :" + nix32, "sha256-" + nix32,
           "sha256:7b386f4ce7778bf0b10455552dbd6f76a74a08a44f696b5f123470d884b06bex",
           "sha256:ezhvTOd3i/CxBFVVLb1vdqdKCKRPaWtfEjRw2ISwa+k",  // unpadded base64
           "sha256-ezhvTOd3i_CxBFVVLb1vdqdKCKRPaWtfEjRw2ISwa-k=", // base64url
           "sha512-ezhvTOd3i/CxBFVVLb1vdqdKCKRPaWtfEjRw2ISwa+k="}) {
    expect_refused(with_line(k_hello, 6, "NarHash: " + hash), "line 6: NarHash is");
    expect_refused(with_line(k_hello, 4, "FileHash: " + hash), "line 4: FileHash is");
  }
}

TEST(ParseNarinfo, RefusesStorePathsThatAreNotStorePaths) {
  const std::string hash = "9m1skbnr5i43n3yypvda5s65vhfwdx5a";
  for (const std::string& path : std::vector<std::string>{
           "", "9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello", "nix/store/" + hash + "-hello",
           "/" + hash + "-hello", "/nix/store/" + hash, "/nix/store/" + hash + "-",
           "/nix/store/" + hash + "_hello", "/nix/store/" + hash.substr(1) + "-hello",
           "/nix/store/e" + hash.substr(1) + "-hello", "/nix/store/" + hash + "-.hidden",
           "/nix/store/" + hash + "-a b", "/nix/store/" + hash + "-a/b",
           "/nix/store//" + hash + "-hello", "/nix/store/" + hash + "-" + std::string(212, 'a')}) {
    expect_refused(with_line(k_hello, 1, "StorePath: " + path),
                   path.empty() ? "line 1: StorePath is empty" : "line 1: StorePath is not");
  }
  const auto other_dir = parse_narinfo(
      with_line(k_hello, 1, "StorePath: /gnu/store/" + hash + "-" + std::string(211, 'a')));
  ASSERT_TRUE(ok(other_dir));
  EXPECT_EQ(store_dir(other_dir->store_path), "/gnu/store");
}

TEST(ParseNarinfo, RefusesReferencesAndDeriversThatAreNotBaseNames) {
  const std::string ref = "8r51h62n591ljql8fh4npakqkpy479fn-glibc-2.35-163";
  for (const std::string& refs :
       std::vector<std::string>{" ", " " + ref, ref + " ", ref + "  " + ref, "/nix/store/" + ref,
                                ref + " 8r51h62n591ljql8fh4npakqkpy479f-short", ref + ",x"}) {
    expect_refused(with_line(k_hello, 8, "References: " + refs), "line 8: reference");
  }
  const auto parsed = parse_narinfo(with_line(k_hello, 8, "References: " + ref + " bad"));
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message,
            "line 8: reference 2 is not a store path base name (<32 nix32 chars>-<name>)");
  for (const std::string& deriver :
       std::vector<std::string>{"/nix/store/" + ref, "hello.drv", ref + " "}) {
    expect_refused(with_line(k_hello, 9, "Deriver: " + deriver), "line 9: Deriver is not");
  }
}

TEST(ParseNarinfo, RefusesEmptyValuesThatWouldReadAsAbsent) {
  expect_refused(with_line(k_hello, 2, "URL: "), "line 2: URL is empty");
  expect_refused(with_line(k_hello, 3, "Compression: "), "line 3: Compression is empty");
  expect_refused(with_line(k_hello, 9, "Deriver: "), "line 9: Deriver is empty");
  expect_refused(with_line(k_hello, 10, "Sig: "), "line 10: Sig is empty");
  expect_refused(with_line(k_hello, 10, "Sig: nocolon"), "line 10: Sig is not");
  expect_refused(with_line(k_hello, 10, "Sig: :AAAA"), "line 10: Sig is not");
  // nix 2.8 fails a whole substitution on a trusted-name Sig that is not 64 bytes.
  expect_refused(with_line(k_hello, 10, "Sig: cache-1:AAAA"), "line 10: Sig is not");
  expect_refused(k_hello + "CA: \n", "line 11: CA is empty");
  expect_refused(k_hello + "System: \n", "line 11: System is empty");
}

TEST(StorePathNames, SplitAndCheckAsNixDoes) {
  EXPECT_EQ(store_dir(k_hello_path), "/nix/store");
  EXPECT_EQ(store_dir("no-slash"), "");
  EXPECT_EQ(hash_part(k_hello_path), "9m1skbnr5i43n3yypvda5s65vhfwdx5a");
  EXPECT_EQ(hash_part("9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1"),
            "9m1skbnr5i43n3yypvda5s65vhfwdx5a");
  EXPECT_EQ(hash_part("9m1skbnr5i43n3yypvda5s65vhfwdx5a"), "");
  EXPECT_EQ(hash_part("9m1skbnr5i43n3yypvda5s65vhfwdx5e-x"), "");
  EXPECT_EQ(hash_part("short-x"), "");
  EXPECT_EQ(hash_part(""), "");

  const std::string hash = "9m1skbnr5i43n3yypvda5s65vhfwdx5a-";
  EXPECT_TRUE(is_store_base_name(hash + "a"));
  EXPECT_TRUE(is_store_base_name(hash + "AZaz09+-._?="));
  EXPECT_TRUE(is_store_base_name(hash + std::string(211, 'x')));
  EXPECT_FALSE(is_store_base_name(hash + std::string(212, 'x')));
  EXPECT_FALSE(is_store_base_name(hash));
  EXPECT_FALSE(is_store_base_name(hash + ".a"));
  EXPECT_FALSE(is_store_base_name(hash + "a/b"));
  EXPECT_FALSE(is_store_base_name(hash + "a:b"));
  EXPECT_FALSE(is_store_base_name(hash + "\xc3\xa9"));
  EXPECT_FALSE(is_store_base_name("/nix/store/" + hash + "a"));
  EXPECT_FALSE(is_store_base_name("A" + hash.substr(1) + "a"));
}

TEST(NarinfoFingerprint, IsTheFactsVectorForItsNarinfo) {
  const auto info = parse_narinfo(k_vector_narinfo);
  ASSERT_TRUE(ok(info));
  EXPECT_EQ(narinfo_fingerprint(*info), k_vector_message);
}

TEST(NarinfoFingerprint, SortsFullReferencePathsAndKeepsTheSelfReference) {
  auto info = parse_narinfo(k_hello);
  ASSERT_TRUE(ok(info));
  // Given out of order, and once twice: nix signs a sorted set.
  info->references = {"9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1",
                      "8r51h62n591ljql8fh4npakqkpy479fn-glibc-2.35-163",
                      "9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1"};
  EXPECT_EQ(narinfo_fingerprint(*info),
            "1;/nix/store/9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1;"
            "sha256:1sbbn22dhw1l29gnnsaglh44m9vndyyjsmam0jqz12vpwx66yf3v;226552;"
            "/nix/store/8r51h62n591ljql8fh4npakqkpy479fn-glibc-2.35-163,"
            "/nix/store/9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1");
  info->references.clear();
  EXPECT_EQ(narinfo_fingerprint(*info),
            "1;/nix/store/9m1skbnr5i43n3yypvda5s65vhfwdx5a-hello-2.12.1;"
            "sha256:1sbbn22dhw1l29gnnsaglh44m9vndyyjsmam0jqz12vpwx66yf3v;226552;");
}

TEST(NixSignature, VerifiesTheFactsVector) {
  const PublicKey key = vector_key();
  EXPECT_EQ(key.name, "test-cache-1");
  EXPECT_EQ(key.to_nix(), k_vector_key);
  EXPECT_TRUE(verify_nix_signature(key, k_vector_message, k_vector_sig));

  // And through the narinfo it signs, with the NarHash in base16 there.
  const auto info = parse_narinfo(k_vector_narinfo);
  ASSERT_TRUE(ok(info));
  ASSERT_EQ(info->sigs.size(), 1U);
  EXPECT_TRUE(verify_nix_signature(key, narinfo_fingerprint(*info), info->sigs[0]));
}

TEST(NixSignature, RefusesAnythingButTheSignedFingerprintUnderItsKeyName) {
  const PublicKey key = vector_key();
  std::string message(k_vector_message);
  message.back() = 'x';
  EXPECT_FALSE(verify_nix_signature(key, message, k_vector_sig));
  EXPECT_FALSE(verify_nix_signature(key, std::string(k_vector_message) + ",", k_vector_sig));
  // The same bytes under another key name are another key's signature (nix looks keys up
  // by name).
  const std::string sig(k_vector_sig);
  const std::string b64 = sig.substr(sig.find(':') + 1);
  EXPECT_FALSE(verify_nix_signature(key, k_vector_message, "test-cache-2:" + b64));
  EXPECT_FALSE(verify_nix_signature(key, k_vector_message, b64));
  EXPECT_FALSE(verify_nix_signature(key, k_vector_message, "test-cache-1:"));
  EXPECT_FALSE(verify_nix_signature(key, k_vector_message, "test-cache-1:" + b64.substr(4)));
  std::string flipped = sig;
  flipped[20] = flipped[20] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_nix_signature(key, k_vector_message, flipped));
  PublicKey renamed = key;
  renamed.name = "test-cache-2";
  EXPECT_FALSE(verify_nix_signature(renamed, k_vector_message, k_vector_sig));
}

TEST(NixSignature, SignsWhatVerifies) {
  const SecretKey key = make_key("cache.example.org-1");
  auto info = parse_narinfo(k_hello);
  ASSERT_TRUE(ok(info));
  const std::string fingerprint = narinfo_fingerprint(*info);
  const std::string sig = nix_signature(key, fingerprint);
  ASSERT_THAT(sig, StartsWith("cache.example.org-1:"));
  EXPECT_EQ(sig.size(), std::string("cache.example.org-1:").size() + 88);
  EXPECT_TRUE(verify_nix_signature(key.public_key(), fingerprint, sig));

  // Through the text a client reads: the Sig line verifies against the parsed narinfo.
  const std::vector<std::string> sigs{sig};
  const auto reread = parse_narinfo(render_narinfo(*info, sigs));
  ASSERT_TRUE(ok(reread));
  ASSERT_EQ(reread->sigs.size(), 1U);
  EXPECT_TRUE(
      verify_nix_signature(key.public_key(), narinfo_fingerprint(*reread), reread->sigs[0]));
  // The public key as nix.conf would list it reads back to the same key.
  const auto listed = parse_nix_public_key(key.public_key().to_nix());
  ASSERT_TRUE(ok(listed));
  EXPECT_TRUE(verify_nix_signature(*listed, fingerprint, sig));

  // Another NarSize or reference set is another fingerprint.
  info->nar_size += 1;
  EXPECT_FALSE(verify_nix_signature(key.public_key(), narinfo_fingerprint(*info), sig));
  info->nar_size -= 1;
  info->references.pop_back();
  EXPECT_FALSE(verify_nix_signature(key.public_key(), narinfo_fingerprint(*info), sig));
  // Unsigned fields may change.
  info->references = reread->references;
  info->url = "nar/other.nar";
  info->deriver.clear();
  EXPECT_TRUE(verify_nix_signature(key.public_key(), narinfo_fingerprint(*info), sig));
}

TEST(ParseNixPublicKey, RefusesWhatIsNotNameColonBase64Of32Bytes) {
  const std::string b64 = "UO0aIQALbNmiB0FTNm1c1QnxcCSLuhXo9oqO9+OZ5z0=";
  EXPECT_TRUE(ok(parse_nix_public_key("k:" + b64)));
  for (const std::string& text :
       std::vector<std::string>{std::string(""), b64, ":" + b64, "k:" + b64.substr(4),
                                "k:" + b64 + "AAAA", "k: " + b64}) {
    EXPECT_TRUE(fails_with(parse_nix_public_key(text), Errc::invalid_argument)) << text;
  }
}

} // namespace
} // namespace ingot::sign
