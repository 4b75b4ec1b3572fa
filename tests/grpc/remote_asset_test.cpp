// The Remote Asset API's Fetch and Push over a real gRPC channel: associations are refs.
#include "cas/digest.hpp"
#include "grpc_fixture.hpp"
#include "reapi.pb.h"
#include "util/base64.hpp"

namespace ingot::server {
namespace {

namespace asset = build::bazel::remote::asset::v1;
using Assets = GrpcFixture;

constexpr std::string_view k_artifact =
    "project/hello.bst/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

class AssetsWithATree : public GrpcFixture {
protected:
  void SetUp() override {
    GrpcFixture::SetUp();
    reapi::Directory root;
    auto* f = root.add_files();
    f->set_name("hello.txt");
    *f->mutable_digest() = digest(put("hello\n"));
    m_root = put(root.SerializeAsString());
  }

  static void qualify(google::protobuf::RepeatedPtrField<asset::Qualifier>& out,
                      std::vector<std::pair<std::string, std::string>> qualifiers) {
    for (auto& [name, value] : qualifiers) {
      auto* q = out.Add();
      q->set_name(name);
      q->set_value(value);
    }
  }

  cas::Digest m_root;
};

// BuildStream 1.6 probes with empty requests, and drops the server for the session on any
// answer but the ones it expects: INVALID_ARGUMENT for "the service exists", PERMISSION_DENIED
// for "you may not push", whether or not it sent credentials (it cannot send a token).
TEST_F(Assets, EmptyProbesAreAnsweredAsBuildStreamExpects) {
  asset::FetchDirectoryResponse fetched;
  EXPECT_EQ(m_fetch->FetchDirectory(call().get(), {}, &fetched).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  reapi::BatchReadBlobsResponse read;
  EXPECT_TRUE(m_cas->BatchReadBlobs(call().get(), {}, &read).ok());

  asset::PushDirectoryResponse pushed;
  const auto anonymous_push = m_push->PushDirectory(call().get(), {}, &pushed);
  EXPECT_EQ(anonymous_push.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(anonymous_push.error_message().find("push: false"), std::string::npos)
      << anonymous_push.error_message();
  reapi::BatchUpdateBlobsResponse updated;
  EXPECT_EQ(m_cas->BatchUpdateBlobs(call().get(), {}, &updated).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(m_cas->BatchUpdateBlobs(call(m_read_token).get(), {}, &updated).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  EXPECT_EQ(m_push->PushDirectory(call(m_write_token).get(), {}, &pushed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(m_cas->BatchUpdateBlobs(call(m_write_token).get(), {}, &updated).ok());
}

TEST_F(AssetsWithATree, ABuildStreamArtifactIsTheSameRefInBothProtocols) {
  asset::PushDirectoryRequest push;
  push.add_uris("urn:fdc:buildstream.build:2020:v1:" + std::string(k_artifact));
  *push.mutable_root_directory_digest() = digest(m_root);
  asset::PushDirectoryResponse pushed;
  const auto status = m_push->PushDirectory(call(m_write_token).get(), push, &pushed);
  ASSERT_TRUE(status.ok()) << status.error_message();

  auto entry = m_store->ns_get(cas::Namespace::ref, k_artifact);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->value, m_root);
  buildstream::v2::GetReferenceRequest get;
  get.set_key(std::string(k_artifact));
  buildstream::v2::GetReferenceResponse ref;
  ASSERT_TRUE(m_refs->GetReference(call().get(), get, &ref).ok());
  EXPECT_EQ(ref.digest().hash(), m_root.hex());

  asset::FetchDirectoryRequest fetch;
  fetch.add_uris("urn:fdc:buildstream.build:2020:v1:project/never/pushed");
  fetch.add_uris(push.uris(0));
  asset::FetchDirectoryResponse fetched;
  ASSERT_TRUE(m_fetch->FetchDirectory(call().get(), fetch, &fetched).ok());
  EXPECT_EQ(fetched.uri(), push.uris(0));
  EXPECT_EQ(fetched.root_directory_digest().hash(), m_root.hex());
}

TEST_F(AssetsWithATree, QualifiersArePartOfTheNameInAnyOrder) {
  const auto blob = put("a downloaded archive");
  asset::PushBlobRequest push;
  push.add_uris("https://example.org/archive.tar.gz");
  qualify(*push.mutable_qualifiers(), {{"checksum.sri", "sha256-abc"}, {"resource_type", "tar"}});
  *push.mutable_blob_digest() = digest(blob);
  asset::PushBlobResponse pushed;
  ASSERT_TRUE(m_push->PushBlob(call(m_write_token).get(), push, &pushed).ok());

  asset::FetchBlobRequest fetch;
  fetch.add_uris(push.uris(0));
  qualify(*fetch.mutable_qualifiers(), {{"resource_type", "tar"}, {"checksum.sri", "sha256-abc"}});
  asset::FetchBlobResponse fetched;
  ASSERT_TRUE(m_fetch->FetchBlob(call().get(), fetch, &fetched).ok());
  EXPECT_EQ(fetched.blob_digest().hash(), blob.hex());
  EXPECT_EQ(fetched.status().code(), 0);

  asset::FetchBlobRequest other;
  other.add_uris(push.uris(0));
  qualify(*other.mutable_qualifiers(), {{"resource_type", "zip"}});
  EXPECT_EQ(m_fetch->FetchBlob(call().get(), other, &fetched).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(AssetsWithATree, PushesNeedTheWriteScopeAndWholeContent) {
  asset::PushDirectoryRequest push;
  push.add_uris("https://example.org/tree");
  *push.mutable_root_directory_digest() = digest(m_root);
  asset::PushDirectoryResponse pushed;
  EXPECT_EQ(m_push->PushDirectory(call().get(), push, &pushed).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(m_push->PushDirectory(call(m_read_token).get(), push, &pushed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  *push.mutable_root_directory_digest() = digest(cas::digest_of(std::string_view("not stored")));
  const auto missing = m_push->PushDirectory(call(m_write_token).get(), push, &pushed);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(missing.error_message().find("upload it"), std::string::npos)
      << missing.error_message();
  asset::FetchDirectoryRequest fetch;
  fetch.add_uris(push.uris(0));
  asset::FetchDirectoryResponse fetched;
  EXPECT_EQ(m_fetch->FetchDirectory(call().get(), fetch, &fetched).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

std::string sri(const cas::Digest& d) {
  return "sha256-" + base64_encode(d.hash);
}

// checksum.sri names content: a blob with that SHA-256 is the answer for any URI (Bazel's
// --experimental_remote_downloader then needs no upstream at all), and a checksum Ingot cannot
// check is refused, not ignored.
TEST_F(AssetsWithATree, FetchBlobFindsTheChecksumsContentForAnyUri) {
  const auto blob = put("an archive someone uploaded before");
  asset::FetchBlobRequest fetch;
  fetch.add_uris("https://example.invalid/gone.tar.gz");
  fetch.add_uris("https://mirror.example.invalid/gone.tar.gz");
  qualify(*fetch.mutable_qualifiers(),
          {{"checksum.sri", "sha384-AAAA " + sri(blob)}, {"bazel.canonical_id", "gone"}});
  asset::FetchBlobResponse fetched;
  const auto status = m_fetch->FetchBlob(call().get(), fetch, &fetched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(fetched.blob_digest().hash(), blob.hex());
  EXPECT_EQ(fetched.blob_digest().size_bytes(), static_cast<std::int64_t>(blob.size));
  EXPECT_EQ(fetched.uri(), fetch.uris(0));

  // Not stored, and no mirror is configured: nothing to fetch it from.
  fetch.mutable_qualifiers(0)->set_value(sri(cas::digest_of(std::string_view("never stored"))));
  const auto missing = m_fetch->FetchBlob(call().get(), fetch, &fetched);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(missing.error_message().find("--mirror"), std::string::npos) << missing.error_message();

  for (const std::string bad : {"sha384-AAAA", "sha256-c2hvcnQ=", "sha256-!!"}) {
    fetch.mutable_qualifiers(0)->set_value(bad);
    const auto refused = m_fetch->FetchBlob(call().get(), fetch, &fetched);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(refused.error_message().find("checksum.sri"), std::string::npos)
        << refused.error_message();
  }
}

// A mirror whose upstream refuses connections: which URIs go to it, and what a failed fetch
// says. tests/integration/bazel.sh fetches through a live one.
class AssetsThroughAMirror : public AssetsWithATree {
protected:
  void configure(ServerOptions& options) override {
    MirrorSpec tools;
    tools.name = "tools";
    tools.url = "http://127.0.0.1:1/files/";
    options.mirrors.push_back(tools);
  }
};

TEST_F(AssetsThroughAMirror, FetchBlobAsksTheMirrorForUrisBelowItsUpstream) {
  asset::FetchBlobRequest fetch;
  fetch.add_uris("http://127.0.0.1:1/files/tool-1.0.tar.gz");
  asset::FetchBlobResponse fetched;
  const auto failed = m_fetch->FetchBlob(call().get(), fetch, &fetched);
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(failed.error_message().find("http://127.0.0.1:1/files/tool-1.0.tar.gz"),
            std::string::npos)
      << failed.error_message();

  // Not below the upstream's URL: never fetched.
  for (const char* uri :
       {"http://127.0.0.1:1/other/tool-1.0.tar.gz", "http://127.0.0.1:1/filesX/tool-1.0.tar.gz",
        "http://127.0.0.1:1/files@evil.example/tool-1.0.tar.gz",
        "http://127.0.0.1:10/files/tool-1.0.tar.gz", "HTTP://127.0.0.1:1/files/tool-1.0.tar.gz"}) {
    fetch.set_uris(0, uri);
    const auto status = m_fetch->FetchBlob(call().get(), fetch, &fetched);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << uri;
    EXPECT_NE(status.error_message().find("none is below a configured upstream"), std::string::npos)
        << uri << ": " << status.error_message();
  }
  // Below it, but not a path the mirror serves.
  for (const char* uri :
       {"http://127.0.0.1:1/files/a/../../etc/passwd", "http://127.0.0.1:1/files/%2e%2e/x",
        "http://127.0.0.1:1/files/a//b", "http://127.0.0.1:1/files/tool.tar.gz?token=x",
        "http://127.0.0.1:1/files/tool.tar.gz#top"}) {
    fetch.set_uris(0, uri);
    EXPECT_EQ(m_fetch->FetchBlob(call().get(), fetch, &fetched).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << uri;
  }
  // The checksum's content is stored: the upstream is not needed.
  const auto blob = put("tool-1.0.tar.gz, stored before");
  fetch.set_uris(0, "http://127.0.0.1:1/files/tool-1.0.tar.gz");
  qualify(*fetch.mutable_qualifiers(), {{"checksum.sri", sri(blob)}});
  const auto hit = m_fetch->FetchBlob(call().get(), fetch, &fetched);
  ASSERT_TRUE(hit.ok()) << hit.error_message();
  EXPECT_EQ(fetched.blob_digest().hash(), blob.hex());
  // One URI the mirror refuses does not fail the others.
  fetch.set_uris(0, "http://127.0.0.1:1/files/tool-1.0.tar.gz?dl=1");
  fetch.add_uris("http://127.0.0.1:1/files/tool-1.0.tar.gz");
  const auto mixed = m_fetch->FetchBlob(call().get(), fetch, &fetched);
  ASSERT_TRUE(mixed.ok()) << mixed.error_message();
  EXPECT_EQ(fetched.blob_digest().hash(), blob.hex());
  // Without the checksum both are tried: the refused one and the unreachable upstream are
  // both named, and the call is UNAVAILABLE (the upstream may come back).
  fetch.clear_qualifiers();
  const auto both = m_fetch->FetchBlob(call().get(), fetch, &fetched);
  EXPECT_EQ(both.error_code(), grpc::StatusCode::UNAVAILABLE) << both.error_message();
  EXPECT_NE(both.error_message().find("?dl=1"), std::string::npos) << both.error_message();
}

} // namespace
} // namespace ingot::server
