// Internal to server/grpc/: the services front_end.cpp registers. Each holds the server's
// context and implements its methods over the operations (server/ops/ops.hpp).
#pragma once

#include "buildstream.grpc.pb.h"
#include "bytestream.grpc.pb.h"
#include "reapi_cache.grpc.pb.h"
#include "remote_asset.grpc.pb.h"
#include "server/context.hpp"

namespace ingot::server::grpc_front {

namespace reapi = build::bazel::remote::execution::v2;
namespace bytestream = google::bytestream;

// The largest batch a client may send or ask for (max_batch_total_size_bytes): under gRPC's
// default 4 MiB message limit with room for the digests, as clients keep that limit for the
// responses they receive.
inline constexpr std::int64_t k_max_batch_total = 3 << 20;

class CapabilitiesService final : public reapi::Capabilities::CallbackService {
public:
  explicit CapabilitiesService(ServerContext& ctx) : m_ctx(ctx) {}
  grpc::ServerUnaryReactor* GetCapabilities(grpc::CallbackServerContext* call,
                                            const reapi::GetCapabilitiesRequest* request,
                                            reapi::ServerCapabilities* response) override;

private:
  ServerContext& m_ctx;
};

class CasService final : public reapi::ContentAddressableStorage::CallbackService {
public:
  explicit CasService(ServerContext& ctx) : m_ctx(ctx) {}
  grpc::ServerUnaryReactor* FindMissingBlobs(grpc::CallbackServerContext* call,
                                             const reapi::FindMissingBlobsRequest* request,
                                             reapi::FindMissingBlobsResponse* response) override;
  grpc::ServerUnaryReactor* BatchUpdateBlobs(grpc::CallbackServerContext* call,
                                             const reapi::BatchUpdateBlobsRequest* request,
                                             reapi::BatchUpdateBlobsResponse* response) override;
  grpc::ServerUnaryReactor* BatchReadBlobs(grpc::CallbackServerContext* call,
                                           const reapi::BatchReadBlobsRequest* request,
                                           reapi::BatchReadBlobsResponse* response) override;
  grpc::ServerWriteReactor<reapi::GetTreeResponse>*
  GetTree(grpc::CallbackServerContext* call, const reapi::GetTreeRequest* request) override;

private:
  ServerContext& m_ctx;
};

class ActionCacheService final : public reapi::ActionCache::CallbackService {
public:
  explicit ActionCacheService(ServerContext& ctx) : m_ctx(ctx) {}
  grpc::ServerUnaryReactor* GetActionResult(grpc::CallbackServerContext* call,
                                            const reapi::GetActionResultRequest* request,
                                            reapi::ActionResult* response) override;
  grpc::ServerUnaryReactor* UpdateActionResult(grpc::CallbackServerContext* call,
                                               const reapi::UpdateActionResultRequest* request,
                                               reapi::ActionResult* response) override;

private:
  ServerContext& m_ctx;
};

class PendingUploads;
class IdleWatch;

// Read is a raw method: its responses are written by hand (bytestream.cpp), so that a blob's
// bytes are read straight into the buffers gRPC sends.
class ByteStreamService final : public bytestream::ByteStream::WithRawCallbackMethod_Read<
                                    bytestream::ByteStream::CallbackService> {
public:
  explicit ByteStreamService(ServerContext& ctx);
  ~ByteStreamService() override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Read(grpc::CallbackServerContext* call,
                                                   const grpc::ByteBuffer* raw) override;
  grpc::ServerReadReactor<bytestream::WriteRequest>*
  Write(grpc::CallbackServerContext* call, bytestream::WriteResponse* response) override;
  grpc::ServerUnaryReactor*
  QueryWriteStatus(grpc::CallbackServerContext* call,
                   const bytestream::QueryWriteStatusRequest* request,
                   bytestream::QueryWriteStatusResponse* response) override;

private:
  ServerContext& m_ctx;
  std::unique_ptr<PendingUploads> m_pending; // writes cut short, for a resume
  std::unique_ptr<IdleWatch> m_idle;         // cancels writes whose client stopped sending
};

// BuildStream 1.x's artifact names, as Ingot refs: a ref BuildStream writes is one
// `ingot pull-tree --ref` fetches, and the other way round.
class ReferenceStorageService final : public buildstream::v2::ReferenceStorage::CallbackService {
public:
  explicit ReferenceStorageService(ServerContext& ctx) : m_ctx(ctx) {}
  grpc::ServerUnaryReactor* GetReference(grpc::CallbackServerContext* call,
                                         const buildstream::v2::GetReferenceRequest* request,
                                         buildstream::v2::GetReferenceResponse* response) override;
  grpc::ServerUnaryReactor*
  UpdateReference(grpc::CallbackServerContext* call,
                  const buildstream::v2::UpdateReferenceRequest* request,
                  buildstream::v2::UpdateReferenceResponse* response) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* call,
                                   const buildstream::v2::StatusRequest* request,
                                   buildstream::v2::StatusResponse* response) override;

private:
  ServerContext& m_ctx;
};

namespace asset = build::bazel::remote::asset::v1;

// Remote Asset names for blobs and directories, stored as refs (remote_asset.cpp says how).
class FetchService final : public asset::Fetch::CallbackService {
public:
  explicit FetchService(ServerContext& ctx) : m_ctx(ctx) {}
  grpc::ServerUnaryReactor* FetchBlob(grpc::CallbackServerContext* call,
                                      const asset::FetchBlobRequest* request,
                                      asset::FetchBlobResponse* response) override;
  grpc::ServerUnaryReactor* FetchDirectory(grpc::CallbackServerContext* call,
                                           const asset::FetchDirectoryRequest* request,
                                           asset::FetchDirectoryResponse* response) override;

private:
  ServerContext& m_ctx;
};

class PushService final : public asset::Push::CallbackService {
public:
  explicit PushService(ServerContext& ctx) : m_ctx(ctx) {}
  grpc::ServerUnaryReactor* PushBlob(grpc::CallbackServerContext* call,
                                     const asset::PushBlobRequest* request,
                                     asset::PushBlobResponse* response) override;
  grpc::ServerUnaryReactor* PushDirectory(grpc::CallbackServerContext* call,
                                          const asset::PushDirectoryRequest* request,
                                          asset::PushDirectoryResponse* response) override;

private:
  ServerContext& m_ctx;
};

} // namespace ingot::server::grpc_front
