// buildstream.v2.ReferenceStorage over a real gRPC channel: BuildStream's artifact names are
// Ingot refs.
#include "cas/digest.hpp"
#include "grpc_fixture.hpp"
#include "reapi.pb.h"

namespace ingot::server {
namespace {

namespace bst = buildstream::v2;
using References = GrpcFixture;

constexpr std::string_view k_ref =
    "project/hello.bst/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

class ReferencesWithATree : public GrpcFixture {
protected:
  void SetUp() override {
    GrpcFixture::SetUp();
    reapi::Directory files;
    auto* f = files.add_files();
    f->set_name("hello.txt");
    *f->mutable_digest() = digest(put("hello\n"));
    reapi::Directory root;
    auto* d = root.add_directories();
    d->set_name("files");
    *d->mutable_digest() = digest(put(files.SerializeAsString()));
    m_root = put(root.SerializeAsString());
  }

  grpc::Status update(const std::string& token, std::string_view name, const cas::Digest& d) {
    bst::UpdateReferenceRequest request;
    request.add_keys(std::string(name));
    *request.mutable_digest() = digest(d);
    bst::UpdateReferenceResponse response;
    return m_refs->UpdateReference(call(token).get(), request, &response);
  }

  cas::Digest m_root;
};

TEST_F(References, StatusAllowsUpdatesToWritersOnly) {
  bst::StatusResponse status;
  ASSERT_TRUE(m_refs->Status(call().get(), {}, &status).ok());
  EXPECT_FALSE(status.allow_updates());
  ASSERT_TRUE(m_refs->Status(call(m_write_token).get(), {}, &status).ok());
  EXPECT_TRUE(status.allow_updates());
}

TEST_F(ReferencesWithATree, AnUpdatedReferenceIsAnIngotRef) {
  const auto updated = update(m_write_token, k_ref, m_root);
  ASSERT_TRUE(updated.ok()) << updated.error_message();
  bst::GetReferenceRequest get;
  get.set_key(std::string(k_ref));
  bst::GetReferenceResponse got;
  ASSERT_TRUE(m_refs->GetReference(call().get(), get, &got).ok());
  EXPECT_EQ(got.digest().hash(), m_root.hex());
  EXPECT_EQ(got.digest().size_bytes(), static_cast<std::int64_t>(m_root.size));
  // The ref `ingot ref get` and `ingot pull-tree --ref` read.
  auto entry = m_store->ns_get(cas::Namespace::ref, k_ref);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->value, m_root);
}

TEST_F(ReferencesWithATree, UpdatesNeedTheWriteScopeAndACompleteTree) {
  EXPECT_EQ(update("", k_ref, m_root).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(update(m_read_token, k_ref, m_root).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  reapi::Directory dangling;
  auto* f = dangling.add_files();
  f->set_name("gone");
  *f->mutable_digest() = digest(cas::digest_of(std::string_view("never uploaded")));
  const auto incomplete = update(m_write_token, k_ref, put(dangling.SerializeAsString()));
  EXPECT_EQ(incomplete.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(incomplete.error_message().find("upload it"), std::string::npos)
      << incomplete.error_message();
  EXPECT_FALSE(m_store->ns_get(cas::Namespace::ref, k_ref));
}

TEST_F(ReferencesWithATree, MalformedNamesAreRefusedAndMissingOnesAreNotFound) {
  const auto bad = update(m_write_token, "project/../escape", m_root);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("ref name"), std::string::npos) << bad.error_message();
  bst::GetReferenceRequest get;
  get.set_key("project/never/pushed");
  bst::GetReferenceResponse got;
  EXPECT_EQ(m_refs->GetReference(call().get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

} // namespace
} // namespace ingot::server
