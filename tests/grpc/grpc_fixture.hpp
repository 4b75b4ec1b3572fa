// A real Ingot server in this process, over a real store in a temp dir, serving gRPC on a free
// port (and HTTP beside it), with tokens of each scope and stubs of every service it serves.
#pragma once

#include "buildstream.grpc.pb.h"
#include "bytestream.grpc.pb.h"
#include "reapi_cache.grpc.pb.h"
#include "server/auth.hpp"
#include "server/server.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <grpcpp/grpcpp.h>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace ingot::server {

namespace reapi = build::bazel::remote::execution::v2;
namespace bytestream = google::bytestream;

class GrpcFixture : public ::testing::Test {
public:
  // A call's context: a deadline (no test may hang) and, when given, a bearer token.
  static std::unique_ptr<grpc::ClientContext> call(const std::string& token = {}) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + token);
    }
    return ctx;
  }

protected:
  void SetUp() override {
    const auto data = m_dir.path() / "data";
    m_store = test::open_store(data);
    ASSERT_TRUE(m_store);
    TokenFile tokens(data);
    auto reader = tokens.create("reader", k_scope_read);
    auto writer = tokens.create("writer", k_scope_read | k_scope_write);
    ASSERT_TRUE(reader && writer);
    m_read_token = reader->first;
    m_write_token = writer->first;
    ServerOptions options;
    options.port = 0;
    options.grpc_listen = ListenAddress{"127.0.0.1", 0};
    options.threads = 2;
    options.anonymous = anonymous();
    options.max_blob_size = 1u << 20;
    options.log_format = LogFormat::off;
    options.shutdown_grace = std::chrono::milliseconds(2'000);
    auto server = Server::create(options, *m_store, data);
    ASSERT_TRUE(server) << server.error().message;
    m_server = std::move(*server);
    ASSERT_NE(m_server->grpc_port(), 0);
    m_thread = std::thread([s = m_server.get()] { s->run(); });
    m_channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(m_server->grpc_port()),
                                    grpc::InsecureChannelCredentials());
    m_caps = reapi::Capabilities::NewStub(m_channel);
    m_cas = reapi::ContentAddressableStorage::NewStub(m_channel);
    m_ac = reapi::ActionCache::NewStub(m_channel);
    m_bs = bytestream::ByteStream::NewStub(m_channel);
    m_refs = buildstream::v2::ReferenceStorage::NewStub(m_channel);
  }

  void TearDown() override {
    if (m_server) {
      m_server->stop();
      m_thread.join();
    }
  }

  // What needs no token; tests of --anonymous none override it.
  virtual Scopes anonymous() const { return k_scope_read; }

  static reapi::Digest digest(const cas::Digest& d) {
    reapi::Digest out;
    out.set_hash(d.hex());
    out.set_size_bytes(static_cast<std::int64_t>(d.size));
    return out;
  }

  cas::Digest put(std::string_view bytes) { return test::must_put(*m_store, bytes); }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  std::string m_read_token;
  std::string m_write_token;
  std::unique_ptr<Server> m_server;
  std::thread m_thread;
  std::shared_ptr<grpc::Channel> m_channel;
  std::unique_ptr<reapi::Capabilities::Stub> m_caps;
  std::unique_ptr<reapi::ContentAddressableStorage::Stub> m_cas;
  std::unique_ptr<reapi::ActionCache::Stub> m_ac;
  std::unique_ptr<bytestream::ByteStream::Stub> m_bs;
  std::unique_ptr<buildstream::v2::ReferenceStorage::Stub> m_refs;
};

} // namespace ingot::server
