// resolve_blob, open_blob and add_blob_fields against a real store: which blob a route names,
// when an action result is a hit, and what a read of it sends.
#include "reapi.pb.h"
#include "server/blob_read.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

namespace reapi = build::bazel::remote::execution::v2;

class BlobReadTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
  }

  cas::Digest put(std::string_view bytes) { return test::must_put(*m_store, bytes); }

  // Stores `value` under an ac key and returns the route a GET of it parses to.
  Route ac_entry(std::string_view value) {
    const auto key = cas::digest_of("action " + std::to_string(m_next_key++)).hex();
    EXPECT_TRUE(m_store->ns_put(cas::Namespace::ac, key, put(value)));
    auto route = parse_route("/ac/" + key);
    EXPECT_TRUE(route);
    return *route;
  }

  static void set(reapi::Digest& out, const cas::Digest& d) {
    out.set_hash(d.hex());
    out.set_size_bytes(static_cast<std::int64_t>(d.size));
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  int m_next_key = 0;
};

TEST_F(BlobReadTest, ActionResultWithAllOutputsIsAHit) {
  const auto out = put("object file bytes");
  const auto log = put("compiler said nothing much");
  reapi::ActionResult result;
  auto* file = result.add_output_files();
  file->set_path("out/a.o");
  set(*file->mutable_digest(), out);
  set(*result.mutable_stdout_digest(), log);
  const auto route = ac_entry(result.SerializeAsString());

  auto hash = resolve_blob(*m_store, route);
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(*hash, cas::digest_of(result.SerializeAsString()).hash);
}

TEST_F(BlobReadTest, ActionResultMissingAnOutputFileIsAMissNamingIt) {
  const auto out = put("object file bytes");
  reapi::ActionResult result;
  auto* file = result.add_output_files();
  file->set_path("out/a.o");
  set(*file->mutable_digest(), out);
  const auto route = ac_entry(result.SerializeAsString());
  ASSERT_TRUE(m_store->remove(out.hash));

  auto info = resolve_blob(*m_store, route);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::not_found);
  EXPECT_NE(info.error().message.find(out.hex()), std::string::npos) << info.error().message;
}

TEST_F(BlobReadTest, ActionResultMissingStderrIsAMiss) {
  reapi::ActionResult result;
  set(*result.mutable_stderr_digest(), cas::digest_of("never uploaded"));
  const auto route = ac_entry(result.SerializeAsString());
  auto info = resolve_blob(*m_store, route);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::not_found);
}

TEST_F(BlobReadTest, ActionResultWhoseTreeLostAFileIsAMiss) {
  const auto kept = put("kept file");
  const auto lost = put("file that will be evicted");
  reapi::Tree tree;
  auto* f1 = tree.mutable_root()->add_files();
  f1->set_name("kept");
  set(*f1->mutable_digest(), kept);
  auto* f2 = tree.add_children()->add_files();
  f2->set_name("lost");
  set(*f2->mutable_digest(), lost);
  const auto tree_digest = put(tree.SerializeAsString());
  reapi::ActionResult result;
  auto* dir = result.add_output_directories();
  dir->set_path("out");
  set(*dir->mutable_tree_digest(), tree_digest);
  const auto route = ac_entry(result.SerializeAsString());

  ASSERT_TRUE(resolve_blob(*m_store, route)) << "complete tree must be a hit";
  ASSERT_TRUE(m_store->remove(lost.hash));
  auto info = resolve_blob(*m_store, route);
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find(lost.hex()), std::string::npos) << info.error().message;
}

TEST_F(BlobReadTest, InlineOutputContentsNeedNoBlob) {
  reapi::ActionResult result;
  auto* file = result.add_output_files();
  file->set_path("small");
  file->set_contents("inline bytes");
  set(*file->mutable_digest(), cas::digest_of("inline bytes")); // not stored: contents inline
  EXPECT_TRUE(resolve_blob(*m_store, ac_entry(result.SerializeAsString())));
}

TEST_F(BlobReadTest, OpaqueAcValuesAreServedAsTheyAre) {
  // ccache's layout=bazel stores its own format under /ac/; such bytes are not REAPI.
  EXPECT_TRUE(resolve_blob(*m_store, ac_entry("cCrS\x01\x02 not a protobuf at all")));
  EXPECT_TRUE(resolve_blob(*m_store, ac_entry(std::string(1000, '\xff'))));
}

TEST_F(BlobReadTest, KvEntryResolvesToItsValue) {
  const auto value = put("kv value");
  ASSERT_TRUE(m_store->ns_put(cas::Namespace::kv, "dir/key", value));
  auto route = parse_route("/kv/dir/key");
  ASSERT_TRUE(route);
  auto hash = resolve_blob(*m_store, *route);
  ASSERT_TRUE(hash);
  EXPECT_EQ(*hash, value.hash);
}

TEST_F(BlobReadTest, AKvEntryWhoseValueIsGoneIsAMiss) {
  const auto value = put("kv value that will be evicted");
  ASSERT_TRUE(m_store->ns_put(cas::Namespace::kv, "dir/gone", value));
  ASSERT_TRUE(m_store->remove(value.hash));
  auto route = parse_route("/kv/dir/gone");
  ASSERT_TRUE(route);
  auto hash = resolve_blob(*m_store, *route);
  auto blob = hash ? open_blob(*m_store, *hash, {}) : Result<BlobResponse>(hash.error());
  ASSERT_FALSE(blob);
  EXPECT_EQ(blob.error().code, Errc::not_found);
}

TEST_F(BlobReadTest, AWholeBlobIsSentWithItsFields) {
  const auto d = put("plain bytes, stored raw");
  auto blob = open_blob(*m_store, d.hash, {});
  ASSERT_TRUE(blob) << blob.error().message;
  EXPECT_EQ(blob->status, 200u);
  EXPECT_EQ(blob->digest, d);
  EXPECT_EQ(blob->reader->length(), d.size);

  std::string head;
  ResponseHead response(head, 11, blob->status);
  add_blob_fields(response, *blob);
  response.finish(blob->reader->length(), true);
  EXPECT_EQ(head, "HTTP/1.1 200 OK\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  "Accept-Ranges: bytes\r\n"
                  "ETag: \"" +
                      d.hex() +
                      "\"\r\n"
                      "Vary: Accept-Encoding\r\n"
                      "Content-Length: 23\r\n\r\n");
}

TEST_F(BlobReadTest, AMissingBlobIsNotFound) {
  auto blob = open_blob(*m_store, cas::digest_of("never stored").hash, {});
  ASSERT_FALSE(blob);
  EXPECT_EQ(blob.error().code, Errc::not_found);
}

TEST_F(BlobReadTest, RangeAndZstdPlans) {
  std::string text;
  for (int i = 0; i < 5000; ++i) {
    text += "line " + std::to_string(i % 7) + "\n";
  }
  const auto d = put(text);
  auto info = m_store->stat(d.hash);
  ASSERT_TRUE(info);
  ASSERT_EQ(info->codec, cas::Codec::zstd) << "repetitive text is stored compressed";

  auto zstd = open_blob(*m_store, d.hash, {"", "gzip, zstd"});
  ASSERT_TRUE(zstd);
  EXPECT_EQ(zstd->status, 200u);
  EXPECT_TRUE(zstd->zstd);
  EXPECT_EQ(zstd->reader->length(), info->stored_size);
  std::string head;
  ResponseHead zstd_head(head, 11, zstd->status);
  add_blob_fields(zstd_head, *zstd);
  EXPECT_NE(head.find("\r\nContent-Encoding: zstd\r\n"), std::string::npos) << head;

  auto plain = open_blob(*m_store, d.hash, {"", "gzip"});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->zstd);
  EXPECT_EQ(plain->reader->length(), text.size()) << "decoded for a client without zstd";

  auto ranged = open_blob(*m_store, d.hash, {"bytes=6-9", "zstd"});
  ASSERT_TRUE(ranged);
  EXPECT_EQ(ranged->status, 206u);
  EXPECT_FALSE(ranged->zstd) << "a range is of the decoded bytes";
  std::string got(4, '\0');
  auto n = ranged->reader->read({reinterpret_cast<std::uint8_t*>(got.data()), got.size()});
  ASSERT_TRUE(n);
  EXPECT_EQ(got, text.substr(6, 4));
  ResponseHead ranged_head(head, 11, ranged->status);
  add_blob_fields(ranged_head, *ranged);
  EXPECT_NE(head.find("\r\nContent-Range: bytes 6-9/" + std::to_string(text.size()) + "\r\n"),
            std::string::npos)
      << head;

  auto past = open_blob(*m_store, d.hash, {"bytes=999999-", ""});
  ASSERT_TRUE(past);
  EXPECT_EQ(past->status, 416u);
  EXPECT_EQ(past->digest.size, text.size()) << "a 416 names the size";
  EXPECT_FALSE(past->reader);
}

} // namespace
} // namespace ingot::server
