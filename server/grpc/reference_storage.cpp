// buildstream.v2.ReferenceStorage over the refs operations: BuildStream 1.x names each
// artifact `<project>/<element>/<key>` and points it at the artifact's root Directory.
#include "server/grpc/call.hpp"
#include "server/grpc/services.hpp"

namespace ingot::server::grpc_front {

grpc::ServerUnaryReactor*
ReferenceStorageService::GetReference(grpc::CallbackServerContext* call,
                                      const buildstream::v2::GetReferenceRequest* request,
                                      buildstream::v2::GetReferenceResponse* response) {
  return run_unary(m_ctx, call, GrpcMethod::get_reference, Op::read_ref,
                   [this, request, response](const Caller& caller) {
                     auto name = ref_name(request->key());
                     if (!name) {
                       return to_status(name.error());
                     }
                     // A ref whose tree lost a blob is a miss (the client pushes it again).
                     auto ref = m_ctx.ops.get_ref(caller, *name);
                     if (!ref) {
                       return to_status(ref.error());
                     }
                     set_digest(*response->mutable_digest(), ref->digest);
                     return grpc::Status::OK;
                   });
}

grpc::ServerUnaryReactor*
ReferenceStorageService::UpdateReference(grpc::CallbackServerContext* call,
                                         const buildstream::v2::UpdateReferenceRequest* request,
                                         buildstream::v2::UpdateReferenceResponse* /*response*/) {
  return run_unary(m_ctx, call, GrpcMethod::update_reference, Op::write_ref,
                   [this, request](const Caller& caller) {
                     auto digest = digest_of(request->digest(), "digest");
                     if (!digest) {
                       return to_status(digest.error());
                     }
                     // Every name is checked before any is written.
                     std::vector<std::string> names;
                     for (const auto& key : request->keys()) {
                       auto name = ref_name(key);
                       if (!name) {
                         return to_status(name.error());
                       }
                       names.push_back(std::move(*name));
                     }
                     // The tree must be complete, as for PUT /v1/refs/.
                     for (const auto& name : names) {
                       if (auto put = m_ctx.ops.put_ref(caller, name, *digest, PinRef::no); !put) {
                         return to_status(put.error());
                       }
                     }
                     return grpc::Status::OK;
                   });
}

grpc::ServerUnaryReactor*
ReferenceStorageService::Status(grpc::CallbackServerContext* call,
                                const buildstream::v2::StatusRequest* /*request*/,
                                buildstream::v2::StatusResponse* response) {
  return run_unary(m_ctx, call, GrpcMethod::reference_status, Op::read_ref,
                   [response](const Caller& caller) {
                     response->set_allow_updates(grants(caller.scopes, k_scope_write));
                     return grpc::Status::OK;
                   });
}

} // namespace ingot::server::grpc_front
