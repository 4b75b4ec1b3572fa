// The Remote Asset API's Fetch and Push over the refs operations: an association of a URI
// (and qualifiers) with a blob or a directory is a ref. BuildStream's artifact URIs
// (urn:fdc:buildstream.build:2020:v1:REF) are the ref REF itself, the name ReferenceStorage
// gives the same artifact, so either protocol finds what the other pushed and
// `ingot pull-tree --ref REF` fetches it. Any other URI is the ref
// `remote-asset/<sha256 of the URI and its qualifiers>`. Ingot is a cache, not a fetcher: an
// association never pushed is NOT_FOUND, and no origin is contacted.
#include "server/grpc/call.hpp"
#include "server/grpc/services.hpp"

#include <algorithm>
#include <vector>

namespace ingot::server::grpc_front {

namespace {

constexpr std::string_view k_buildstream_urn = "urn:fdc:buildstream.build:2020:v1:";

using Qualifiers = google::protobuf::RepeatedPtrField<asset::Qualifier>;

// The ref that stores the association of `uri` with `qualifiers` (in any order).
Result<std::string> association_ref(std::string_view uri, const Qualifiers& qualifiers) {
  if (uri.empty()) {
    return make_error(Errc::invalid_argument, "an empty URI names nothing");
  }
  if (qualifiers.empty() && uri.starts_with(k_buildstream_urn)) {
    return ref_name(uri.substr(k_buildstream_urn.size()));
  }
  std::vector<std::pair<std::string, std::string>> sorted;
  for (const auto& q : qualifiers) {
    sorted.emplace_back(q.name(), q.value());
  }
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].first == sorted[i - 1].first) {
      return make_error(Errc::invalid_argument, "qualifier '" + sorted[i].first +
                                                    "' is given twice (Remote Asset: names "
                                                    "are unique)");
    }
  }
  // Lengths first, so that no two (uri, qualifiers) lists can spell the same bytes.
  std::string canonical = std::to_string(uri.size()) + ":" + std::string(uri);
  for (const auto& [name, value] : sorted) {
    canonical += ";" + std::to_string(name.size()) + ":" + name + "=" +
                 std::to_string(value.size()) + ":" + value;
  }
  return "remote-asset/" + cas::digest_of(std::string_view(canonical)).hex();
}

// The first of `uris` with an association, as a ref: the one a fetch answers with.
struct Found {
  std::string uri;
  RefView ref;
};
Result<Found> find(Ops& ops, const Caller& caller,
                   const google::protobuf::RepeatedPtrField<std::string>& uris,
                   const Qualifiers& qualifiers) {
  if (uris.empty()) {
    return make_error(Errc::invalid_argument, "the request names no URI");
  }
  for (const auto& uri : uris) {
    auto name = association_ref(uri, qualifiers);
    if (!name) {
      return std::move(name).error();
    }
    // A ref whose blob or tree lost a part is not a hit (a miss, pushed again).
    auto ref = ops.get_ref(caller, *name);
    if (ref) {
      return Found{uri, std::move(*ref)};
    }
    if (ref.error().code != Errc::not_found) {
      return std::move(ref).error();
    }
  }
  return make_error(Errc::not_found, "no association is stored for " + std::to_string(uris.size()) +
                                         " URI(s); Ingot only serves what was pushed");
}

// Names every URI with `digest`, which must be stored whole (a blob, or a complete tree).
grpc::Status push(Ops& ops, const Caller& caller,
                  const google::protobuf::RepeatedPtrField<std::string>& uris,
                  const Qualifiers& qualifiers, const reapi::Digest& target) {
  auto digest = digest_of(target, "digest");
  if (!digest) {
    return to_status(digest.error());
  }
  std::vector<std::string> names;
  for (const auto& uri : uris) {
    auto name = association_ref(uri, qualifiers);
    if (!name) {
      return to_status(name.error());
    }
    names.push_back(std::move(*name));
  }
  for (const auto& name : names) {
    if (auto put = ops.put_ref(caller, name, *digest, PinRef::no); !put) {
      return to_status(put.error());
    }
  }
  return grpc::Status::OK;
}

// A request naming no URI is INVALID_ARGUMENT: BuildStream 1.6 sends an empty one to learn
// whether the service exists, and takes that answer as "yes". An empty push from a caller who
// may not write is PERMISSION_DENIED instead, which it takes as "no pushing here"
// (refuse_write_probe).
template <class Request>
grpc::ServerUnaryReactor* refuse_if_no_uri(ServerContext& ctx, grpc::CallbackServerContext* call,
                                           GrpcMethod method, const Request& request, Op op) {
  if (!request.uris().empty()) {
    return nullptr;
  }
  auto* reactor = call->DefaultReactor();
  std::optional<grpc::Status> refused;
  if (scope_of(op) == k_scope_write) {
    refused = refuse_write_probe(ctx, *call);
  }
  reactor->Finish(
      CallClock{method}.ended(ctx.metrics, refused.value_or(invalid("the request names no URI"))));
  return reactor;
}

// FetchBlob and FetchDirectory: the first URI with an association, and its digest in the
// field `target` names.
template <class Request, class Response, class Target>
grpc::ServerUnaryReactor* fetch(ServerContext& ctx, grpc::CallbackServerContext* call,
                                GrpcMethod method, const Request* request, Response* response,
                                Target target) {
  if (auto* refused = refuse_if_no_uri(ctx, call, method, *request, Op::read_ref)) {
    return refused;
  }
  return run_unary(ctx, call, method, Op::read_ref,
                   [&ctx, request, response, target](const Caller& caller) {
                     auto found = find(ctx.ops, caller, request->uris(), request->qualifiers());
                     if (!found) {
                       return to_status(found.error());
                     }
                     response->mutable_status()->set_code(0);
                     response->set_uri(found->uri);
                     *response->mutable_qualifiers() = request->qualifiers();
                     set_digest(*target(*response), found->ref.digest);
                     return grpc::Status::OK;
                   });
}

} // namespace

grpc::ServerUnaryReactor* FetchService::FetchBlob(grpc::CallbackServerContext* call,
                                                  const asset::FetchBlobRequest* request,
                                                  asset::FetchBlobResponse* response) {
  return fetch(m_ctx, call, GrpcMethod::fetch_blob, request, response,
               [](asset::FetchBlobResponse& r) { return r.mutable_blob_digest(); });
}

grpc::ServerUnaryReactor* FetchService::FetchDirectory(grpc::CallbackServerContext* call,
                                                       const asset::FetchDirectoryRequest* request,
                                                       asset::FetchDirectoryResponse* response) {
  return fetch(m_ctx, call, GrpcMethod::fetch_directory, request, response,
               [](asset::FetchDirectoryResponse& r) { return r.mutable_root_directory_digest(); });
}

grpc::ServerUnaryReactor* PushService::PushBlob(grpc::CallbackServerContext* call,
                                                const asset::PushBlobRequest* request,
                                                asset::PushBlobResponse* /*response*/) {
  if (auto* refused =
          refuse_if_no_uri(m_ctx, call, GrpcMethod::push_blob, *request, Op::write_ref)) {
    return refused;
  }
  return run_unary(m_ctx, call, GrpcMethod::push_blob, Op::write_ref,
                   [this, request](const Caller& caller) {
                     return push(m_ctx.ops, caller, request->uris(), request->qualifiers(),
                                 request->blob_digest());
                   });
}

grpc::ServerUnaryReactor* PushService::PushDirectory(grpc::CallbackServerContext* call,
                                                     const asset::PushDirectoryRequest* request,
                                                     asset::PushDirectoryResponse* /*response*/) {
  if (auto* refused =
          refuse_if_no_uri(m_ctx, call, GrpcMethod::push_directory, *request, Op::write_ref)) {
    return refused;
  }
  return run_unary(m_ctx, call, GrpcMethod::push_directory, Op::write_ref,
                   [this, request](const Caller& caller) {
                     return push(m_ctx.ops, caller, request->uris(), request->qualifiers(),
                                 request->root_directory_digest());
                   });
}

} // namespace ingot::server::grpc_front
