// Capabilities, ContentAddressableStorage and ActionCache over a real gRPC channel.
#include "cas/digest.hpp"
#include "grpc_fixture.hpp"
#include "reapi.pb.h"
#include "support/command.hpp"

namespace ingot::server {
namespace {

using Cache = GrpcFixture;

TEST_F(Cache, CapabilitiesTellWritersTheyMayUpdateAndKeepBatchesUnderTheMessageLimit) {
  reapi::ServerCapabilities caps;
  ASSERT_TRUE(m_caps->GetCapabilities(call(m_write_token).get(), {}, &caps).ok());
  const auto& cache = caps.cache_capabilities();
  ASSERT_EQ(cache.digest_functions_size(), 1);
  EXPECT_EQ(cache.digest_functions(0), reapi::DigestFunction::SHA256);
  EXPECT_TRUE(cache.action_cache_update_capabilities().update_enabled());
  EXPECT_GT(cache.max_batch_total_size_bytes(), 0);
  EXPECT_LT(cache.max_batch_total_size_bytes(), 4 << 20);
  EXPECT_EQ(caps.high_api_version().major(), 2);
  ASSERT_EQ(cache.supported_compressors_size(), 1);
  EXPECT_EQ(cache.supported_compressors(0), reapi::Compressor::ZSTD);

  reapi::ServerCapabilities anonymous;
  ASSERT_TRUE(m_caps->GetCapabilities(call().get(), {}, &anonymous).ok());
  EXPECT_FALSE(anonymous.cache_capabilities().action_cache_update_capabilities().update_enabled());
}

TEST_F(Cache, AnUnknownTokenIsUnauthenticatedAndSaysHowToSendOne) {
  reapi::ServerCapabilities caps;
  const auto status = m_caps->GetCapabilities(call("not-a-token").get(), {}, &caps);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("authorization: Bearer TOKEN"), std::string::npos)
      << status.error_message();
}

TEST_F(Cache, FindMissingBlobsNamesOnlyWhatIsNotStored) {
  const auto stored = put("stored");
  const auto absent = cas::digest_of(std::string_view("absent"));
  reapi::FindMissingBlobsRequest request;
  *request.add_blob_digests() = digest(stored);
  *request.add_blob_digests() = digest(absent);
  reapi::FindMissingBlobsResponse response;
  ASSERT_TRUE(m_cas->FindMissingBlobs(call().get(), request, &response).ok());
  ASSERT_EQ(response.missing_blob_digests_size(), 1);
  EXPECT_EQ(response.missing_blob_digests(0).hash(), absent.hex());

  request.mutable_blob_digests(0)->set_hash("ABC");
  const auto status = m_cas->FindMissingBlobs(call().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("'ABC'"), std::string::npos) << status.error_message();
}

TEST_F(Cache, BatchUpdateNeedsTheWriteScope) {
  reapi::BatchUpdateBlobsRequest request;
  auto* blob = request.add_requests();
  *blob->mutable_digest() = digest(cas::digest_of(std::string_view("x")));
  blob->set_data("x");
  reapi::BatchUpdateBlobsResponse response;
  EXPECT_EQ(m_cas->BatchUpdateBlobs(call().get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(m_cas->BatchUpdateBlobs(call(m_read_token).get(), request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(m_store->contains(cas::digest_of(std::string_view("x")).hash));
}

TEST_F(Cache, BatchUpdateAnswersEachBlobAloneAndStoresTheGoodOnes) {
  const auto good = cas::digest_of(std::string_view("good"));
  const auto lying = cas::digest_of(std::string_view("what the digest says"));
  reapi::BatchUpdateBlobsRequest request;
  auto add = [&request](const reapi::Digest& d, std::string data) {
    auto* r = request.add_requests();
    *r->mutable_digest() = d;
    r->set_data(std::move(data));
  };
  add(digest(good), "good");
  add(digest(lying), std::string("something else else!!").substr(0, lying.size));
  add(digest(cas::empty_digest()), "");
  reapi::Digest malformed;
  malformed.set_hash("nothex");
  add(malformed, "");
  reapi::BatchUpdateBlobsResponse response;
  ASSERT_TRUE(m_cas->BatchUpdateBlobs(call(m_write_token).get(), request, &response).ok());
  ASSERT_EQ(response.responses_size(), 4);
  EXPECT_EQ(response.responses(0).status().code(), 0);
  EXPECT_EQ(response.responses(1).status().code(), grpc::StatusCode::INVALID_ARGUMENT)
      << response.responses(1).status().message();
  EXPECT_EQ(response.responses(2).status().code(), 0);
  EXPECT_EQ(response.responses(3).status().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.responses(1).digest().hash(), lying.hex());
  EXPECT_TRUE(m_store->contains(good.hash));
  EXPECT_FALSE(m_store->contains(lying.hash));
}

TEST_F(Cache, BatchUpdateOverTheAdvertisedTotalIsRefusedWhole) {
  reapi::ServerCapabilities caps;
  ASSERT_TRUE(m_caps->GetCapabilities(call().get(), {}, &caps).ok());
  const auto limit =
      static_cast<std::size_t>(caps.cache_capabilities().max_batch_total_size_bytes());
  reapi::BatchUpdateBlobsRequest request;
  for (int i = 0; i < 2; ++i) {
    const std::string data(limit / 2 + 1, static_cast<char>('a' + i));
    auto* r = request.add_requests();
    *r->mutable_digest() = digest(cas::digest_of(std::string_view(data)));
    r->set_data(data);
  }
  reapi::BatchUpdateBlobsResponse response;
  const auto status = m_cas->BatchUpdateBlobs(call(m_write_token).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("max_batch_total_size_bytes"), std::string::npos);
}

TEST_F(Cache, BatchReadReturnsEachBlobOrItsOwnError) {
  const auto stored = put("stored bytes");
  const auto absent = cas::digest_of(std::string_view("absent"));
  reapi::BatchReadBlobsRequest request;
  *request.add_digests() = digest(stored);
  *request.add_digests() = digest(absent);
  *request.add_digests() = digest(cas::empty_digest());
  reapi::BatchReadBlobsResponse response;
  ASSERT_TRUE(m_cas->BatchReadBlobs(call().get(), request, &response).ok());
  ASSERT_EQ(response.responses_size(), 3);
  EXPECT_EQ(response.responses(0).status().code(), 0);
  EXPECT_EQ(response.responses(0).data(), "stored bytes");
  EXPECT_EQ(response.responses(1).status().code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(response.responses(1).digest().hash(), absent.hex());
  EXPECT_EQ(response.responses(2).status().code(), 0);
  EXPECT_EQ(response.responses(2).data(), "");
}

// Each answer carries its digest and status too: 40,000 answers of 50 bytes are over 4 MiB
// with 2 MB of data. The client gets an error saying what to change, not a message it cannot
// take.
TEST_F(Cache, ABatchReadWhoseAnswerWouldPassTheClientsMessageLimitSaysSo) {
  const auto small = put(std::string(50, 's'));
  reapi::BatchReadBlobsRequest request;
  for (int i = 0; i < 40'000; ++i) {
    *request.add_digests() = digest(small);
  }
  reapi::BatchReadBlobsResponse response;
  const auto status = m_cas->BatchReadBlobs(call().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("ask for fewer blobs per batch"), std::string::npos)
      << status.error_message();
}

TEST_F(Cache, GetTreeStreamsEveryDirectoryInPages) {
  const auto file = put("file bytes");
  reapi::Directory leaf;
  auto* f = leaf.add_files();
  f->set_name("f");
  *f->mutable_digest() = digest(file);
  const auto leaf_digest = put(leaf.SerializeAsString());
  reapi::Directory middle;
  auto* d = middle.add_directories();
  d->set_name("leaf");
  *d->mutable_digest() = digest(leaf_digest);
  const auto middle_digest = put(middle.SerializeAsString());
  reapi::Directory root;
  auto* m = root.add_directories();
  m->set_name("middle");
  *m->mutable_digest() = digest(middle_digest);
  const auto root_digest = put(root.SerializeAsString());

  reapi::GetTreeRequest request;
  *request.mutable_root_digest() = digest(root_digest);
  request.set_page_size(2);
  auto ctx = call();
  auto reader = m_cas->GetTree(ctx.get(), request);
  std::vector<reapi::GetTreeResponse> pages;
  reapi::GetTreeResponse page;
  while (reader->Read(&page)) {
    pages.push_back(page);
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0].directories_size(), 2);
  EXPECT_EQ(pages[0].next_page_token(), "2");
  ASSERT_EQ(pages[1].directories_size(), 1);
  EXPECT_EQ(pages[1].next_page_token(), "");
  EXPECT_EQ(pages[0].directories(0).SerializeAsString(), root.SerializeAsString());
  EXPECT_EQ(pages[1].directories(0).SerializeAsString(), leaf.SerializeAsString());

  // A client resuming from a page token gets the rest.
  request.set_page_token("2");
  auto resumed_ctx = call();
  auto resumed = m_cas->GetTree(resumed_ctx.get(), request);
  ASSERT_TRUE(resumed->Read(&page));
  EXPECT_EQ(page.directories(0).SerializeAsString(), leaf.SerializeAsString());
  EXPECT_FALSE(resumed->Read(&page));
  EXPECT_TRUE(resumed->Finish().ok());
}

TEST_F(Cache, GetTreeOfAPartlyMissingTreeGivesThePartThatIsThere) {
  reapi::Directory present_leaf;
  auto* f = present_leaf.add_files();
  f->set_name("f");
  *f->mutable_digest() = digest(cas::digest_of(std::string_view("a file never uploaded")));
  const auto present = put(present_leaf.SerializeAsString());
  reapi::Directory gone_leaf;
  gone_leaf.add_symlinks()->set_name("gone");
  const auto gone = cas::digest_of(std::string_view(gone_leaf.SerializeAsString()));
  reapi::Directory root;
  auto* a = root.add_directories();
  a->set_name("a");
  *a->mutable_digest() = digest(present);
  auto* b = root.add_directories();
  b->set_name("b");
  *b->mutable_digest() = digest(gone);
  const auto root_digest = put(root.SerializeAsString());

  reapi::GetTreeRequest request;
  *request.mutable_root_digest() = digest(root_digest);
  auto ctx = call();
  auto reader = m_cas->GetTree(ctx.get(), request);
  std::vector<std::string> got;
  reapi::GetTreeResponse page;
  while (reader->Read(&page)) {
    for (const auto& dir : page.directories()) {
      got.push_back(dir.SerializeAsString());
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], root.SerializeAsString());
  EXPECT_EQ(got[1], present_leaf.SerializeAsString());
}

TEST_F(Cache, GetTreeOfAMissingRootIsNotFound) {
  reapi::GetTreeRequest request;
  *request.mutable_root_digest() = digest(cas::digest_of(std::string_view("no such dir")));
  auto ctx = call();
  auto reader = m_cas->GetTree(ctx.get(), request);
  reapi::GetTreeResponse page;
  EXPECT_FALSE(reader->Read(&page));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(Cache, AnActionResultIsServedWhileItsOutputsAreStored) {
  const auto output = put("compiled output");
  const auto action = cas::digest_of(std::string_view("the action"));
  reapi::UpdateActionResultRequest update;
  *update.mutable_action_digest() = digest(action);
  auto* file = update.mutable_action_result()->add_output_files();
  file->set_path("out/a.o");
  *file->mutable_digest() = digest(output);
  update.mutable_action_result()->set_exit_code(0);
  reapi::ActionResult stored;
  EXPECT_EQ(m_ac->UpdateActionResult(call(m_read_token).get(), update, &stored).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(m_ac->UpdateActionResult(call(m_write_token).get(), update, &stored).ok());
  // One action cache with HTTP: the entry is the one GET /ac/<hex> serves.
  auto entry = m_store->ns_get(cas::Namespace::ac, action.hex());
  ASSERT_TRUE(entry);

  reapi::GetActionResultRequest get;
  *get.mutable_action_digest() = digest(action);
  reapi::ActionResult got;
  ASSERT_TRUE(m_ac->GetActionResult(call().get(), get, &got).ok());
  EXPECT_EQ(got.SerializeAsString(), update.action_result().SerializeAsString());

  // Completeness: with its output gone, the result is a miss, not a dangling hit.
  ASSERT_TRUE(m_store->remove(output.hash));
  const auto status = m_ac->GetActionResult(call().get(), get, &got);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

TEST_F(Cache, AnUnknownActionIsNotFound) {
  reapi::GetActionResultRequest get;
  *get.mutable_action_digest() = digest(cas::digest_of(std::string_view("never ran")));
  reapi::ActionResult got;
  EXPECT_EQ(m_ac->GetActionResult(call().get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(Cache, MetricsCountCallsByMethodAndStatusCode) {
  if (!test::on_path("curl")) {
    GTEST_SKIP() << "curl is not installed (scripts/deps.sh test installs it)";
  }
  reapi::FindMissingBlobsRequest request;
  reapi::FindMissingBlobsResponse response;
  ASSERT_TRUE(m_cas->FindMissingBlobs(call().get(), request, &response).ok());
  ASSERT_TRUE(m_cas->FindMissingBlobs(call().get(), request, &response).ok());
  EXPECT_FALSE(m_cas->FindMissingBlobs(call("bad").get(), request, &response).ok());
  const auto metrics = test::run_command(
      m_dir.path(), "curl -sS http://127.0.0.1:" + std::to_string(m_server->port()) + "/metrics");
  ASSERT_EQ(metrics.exit_code, 0) << metrics.output;
  EXPECT_NE(metrics.output.find("ingot_grpc_calls_total{method=\"ContentAddressableStorage/"
                                "FindMissingBlobs\",code=\"OK\"} 2\n"),
            std::string::npos)
      << metrics.output;
  EXPECT_NE(metrics.output.find("ingot_grpc_calls_total{method=\"ContentAddressableStorage/"
                                "FindMissingBlobs\",code=\"UNAUTHENTICATED\"} 1\n"),
            std::string::npos);
}

class Closed : public GrpcFixture {
  Scopes anonymous() const override { return 0; }
};

TEST_F(Closed, WithAnonymousNoneAReadWithoutATokenIsUnauthenticated) {
  reapi::FindMissingBlobsRequest request;
  reapi::FindMissingBlobsResponse response;
  EXPECT_EQ(m_cas->FindMissingBlobs(call().get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(m_cas->FindMissingBlobs(call(m_read_token).get(), request, &response).ok());
}

} // namespace
} // namespace ingot::server
