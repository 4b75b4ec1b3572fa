// gRPC over TLS with client certificates (--grpc-tls-cert, --grpc-tls-key, --grpc-client-ca):
// a verified certificate grants --grpc-client-cert-scopes, as BuildStream 1.6 can send no token.
#include "cas/digest.hpp"
#include "grpc_fixture.hpp"
#include "support/command.hpp"

#include <fstream>
#include <sstream>

namespace ingot::server {
namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// A CA ("ca") and certificates it signs for localhost, made with the openssl command line.
class Pki {
public:
  explicit Pki(std::filesystem::path dir) : m_dir(std::move(dir)) {
    std::filesystem::create_directories(m_dir);
    run("openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=ca -keyout ca.key -out ca.pem");
  }

  // NAME.pem and NAME.key, signed by CA (this PKI's, or another made in `other`).
  void issue(const std::string& name, const std::string& ca = "ca") {
    run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name +
        " -keyout " + name + ".key -out " + name + ".csr");
    run("printf 'subjectAltName=DNS:localhost\\n' > " + name + ".ext");
    run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
        ".key -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name + ".pem");
  }
  void other_ca(const std::string& name) {
    run("openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=" +
        name + " -keyout " + name + ".key -out " + name + ".pem");
  }

  std::filesystem::path path(const std::string& file) const { return m_dir / file; }
  std::string pem(const std::string& file) const { return slurp(m_dir / file); }

private:
  void run(const std::string& command) {
    const auto r = test::run_command(m_dir, command);
    ASSERT_EQ(r.exit_code, 0) << command << ": " << r.output;
  }
  std::filesystem::path m_dir;
};

class MutualTls : public GrpcFixture {
protected:
  void SetUp() override {
    if (!test::on_path("openssl")) {
      GTEST_SKIP() << "openssl is not installed (scripts/deps.sh test installs it)";
    }
    m_pki = std::make_unique<Pki>(m_dir.path() / "pki");
    m_pki->issue("server");
    m_pki->issue("builder");
    m_pki->other_ca("stranger-ca");
    m_pki->issue("stranger", "stranger-ca");
    GrpcFixture::SetUp();
  }

  void configure(ServerOptions& options) override {
    options.grpc_tls_cert = m_pki->path("server.pem");
    options.grpc_tls_key = m_pki->path("server.key");
    options.grpc_client_ca = m_pki->path("ca.pem");
    options.grpc_client_cert_scopes = k_scope_read | k_scope_write;
    options.grpc_tls_refresh = std::chrono::seconds(1); // 30 s by default
  }

  // TLS trusting the test CA (or the CA named), with the client certificate NAME, or none.
  std::shared_ptr<grpc::Channel> tls(const std::string& name = {},
                                     const std::string& trusted = "ca") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = m_pki->pem(trusted + ".pem");
    if (!name.empty()) {
      ssl.pem_private_key = m_pki->pem(name + ".key");
      ssl.pem_cert_chain = m_pki->pem(name + ".pem");
    }
    return channel(grpc::SslCredentials(ssl));
  }

  static grpc::Status upload(const std::shared_ptr<grpc::Channel>& channel, std::string_view data) {
    reapi::BatchUpdateBlobsRequest request;
    auto* r = request.add_requests();
    *r->mutable_digest() = digest(cas::digest_of(data));
    r->set_data(std::string(data));
    reapi::BatchUpdateBlobsResponse response;
    auto status = reapi::ContentAddressableStorage::NewStub(channel)->BatchUpdateBlobs(
        call().get(), request, &response);
    if (status.ok() && response.responses(0).status().code() != 0) {
      return {static_cast<grpc::StatusCode>(response.responses(0).status().code()),
              response.responses(0).status().message()};
    }
    return status;
  }

  std::unique_ptr<Pki> m_pki;
};

TEST_F(MutualTls, AVerifiedClientCertificateGrantsItsScopes) {
  const auto status = upload(tls("builder"), "pushed with a certificate");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(
      m_store->contains(cas::digest_of(std::string_view("pushed with a certificate")).hash));
}

TEST_F(MutualTls, WithoutACertificateACallIsAnonymousOrUsesItsToken) {
  EXPECT_EQ(upload(tls(), "anonymous").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Reads stay open to anonymous callers (--anonymous read).
  reapi::FindMissingBlobsResponse response;
  EXPECT_TRUE(reapi::ContentAddressableStorage::NewStub(tls())
                  ->FindMissingBlobs(call().get(), {}, &response)
                  .ok());
  // A token over TLS works as over plain gRPC.
  reapi::BatchUpdateBlobsRequest request;
  auto* r = request.add_requests();
  *r->mutable_digest() = digest(cas::digest_of(std::string_view("token")));
  r->set_data("token");
  reapi::BatchUpdateBlobsResponse updated;
  ASSERT_TRUE(reapi::ContentAddressableStorage::NewStub(tls())
                  ->BatchUpdateBlobs(call(m_write_token).get(), request, &updated)
                  .ok());
  EXPECT_EQ(updated.responses(0).status().code(), 0);
}

TEST_F(MutualTls, ACertificateFromAnotherCaIsRefusedAtTheHandshake) {
  const auto status = upload(tls("stranger"), "from a stranger");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_FALSE(m_store->contains(cas::digest_of(std::string_view("from a stranger")).hash));
}

// Renewal: the server's files are replaced (a certificate from another CA, so that a client
// can tell), and new connections get the new certificate with no restart and no signal.
TEST_F(MutualTls, ARenewedCertificateIsServedWithoutARestart) {
  m_pki->other_ca("renewed-ca");
  m_pki->issue("renewed", "renewed-ca");
  const auto capabilities = [&](const std::string& trusted) {
    reapi::ServerCapabilities caps;
    auto ctx = call();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return reapi::Capabilities::NewStub(tls({}, trusted))->GetCapabilities(ctx.get(), {}, &caps);
  };
  ASSERT_TRUE(capabilities("ca").ok());
  EXPECT_EQ(capabilities("renewed-ca").error_code(), grpc::StatusCode::UNAVAILABLE);

  // As a renewal tool does: each file replaced whole, by a rename.
  for (const char* ext : {".key", ".pem"}) {
    std::filesystem::copy_file(m_pki->path(std::string("renewed") + ext),
                               m_pki->path(std::string("next") + ext));
    std::filesystem::rename(m_pki->path(std::string("next") + ext),
                            m_pki->path(std::string("server") + ext));
  }
  // Taken within a refresh (1 s here): each try is a new connection, for up to 30 s.
  grpc::Status renewed;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    renewed = capabilities("renewed-ca");
  } while (!renewed.ok() && std::chrono::steady_clock::now() < until);
  ASSERT_TRUE(renewed.ok()) << renewed.error_message();
  EXPECT_EQ(capabilities("ca").error_code(), grpc::StatusCode::UNAVAILABLE);
}

// Over TLS a blob file is copied rather than mapped (bytestream.cpp): the bytes are the same.
TEST_F(MutualTls, ALargeBlobReadsWholeOverTls) {
  std::string data(3u << 20, '\0');
  std::uint32_t x = 12345;
  for (auto& c : data) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  const auto d = put(data);
  auto ctx = call();
  bytestream::ReadRequest request;
  request.set_resource_name("blobs/" + d.hex() + "/" + std::to_string(d.size));
  request.set_read_offset(4097);
  auto reader = bytestream::ByteStream::NewStub(tls())->Read(ctx.get(), request);
  std::string back;
  bytestream::ReadResponse chunk;
  while (reader->Read(&chunk)) {
    back += chunk.data();
  }
  const auto status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(back == data.substr(4097));
}

TEST_F(MutualTls, PlainGrpcToATlsPortFails) {
  const auto status = upload(channel(grpc::InsecureChannelCredentials()), "in clear");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

} // namespace
} // namespace ingot::server
