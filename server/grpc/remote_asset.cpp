// The Remote Asset API's Fetch and Push over the refs operations: an association of a URI
// (and qualifiers) with a blob or a directory is a ref. BuildStream's artifact URIs
// (urn:fdc:buildstream.build:2020:v1:REF) are the ref REF itself, the name ReferenceStorage
// gives the same artifact, so either protocol finds what the other pushed and
// `ingot pull-tree --ref REF` fetches it. Any other URI is the ref
// `remote-asset/<sha256 of the URI and its qualifiers>`.
//
// FetchBlob also answers what was never pushed, in this order: a blob whose SHA-256 the
// `checksum.sri` qualifier names is the answer for any URI (content addressing); then a URI
// below a configured upstream (--mirror NAME=URL) is fetched through the mirror, checked
// against that SHA-256, and served as /mirror/NAME/PATH would be. This is what Bazel's
// --experimental_remote_downloader asks for. Nothing else is fetched: only configured
// upstreams are asked (and the hosts their redirects lead to).
#include "server/grpc/call.hpp"
#include "server/grpc/services.hpp"
#include "util/base64.hpp"

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

// The SHA-256 that the `checksum.sri` qualifier names (Subresource Integrity: one or more of
// "sha256-BASE64", "sha384-…", space-separated), if it is given. Only SHA-256 can be checked.
Result<std::optional<cas::Hash>> sri_sha256(const Qualifiers& qualifiers) {
  const auto q = std::find_if(qualifiers.begin(), qualifiers.end(),
                              [](const asset::Qualifier& x) { return x.name() == "checksum.sri"; });
  if (q == qualifiers.end()) {
    return std::optional<cas::Hash>();
  }
  std::string_view rest = q->value();
  while (!rest.empty()) {
    const auto space = rest.find_first_of(" \t");
    const auto item = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (!item.starts_with("sha256-")) {
      continue;
    }
    // An SRI hash may carry options after a '?' (none is defined).
    auto bytes = base64_decode(item.substr(7, item.find('?') - 7));
    if (!bytes || bytes->size() != cas::Hash{}.size()) {
      return make_error(Errc::invalid_argument, "checksum.sri '" + q->value() +
                                                    "': a sha256- hash is 44 characters of "
                                                    "base64 (32 bytes)");
    }
    cas::Hash hash{};
    std::copy(bytes->begin(), bytes->end(), hash.begin());
    return std::optional<cas::Hash>(hash);
  }
  return make_error(Errc::invalid_argument,
                    "checksum.sri '" + q->value() +
                        "' names no sha256- hash, and Ingot checks downloads with SHA-256 only "
                        "(Bazel: give http_archive a sha256, or an integrity of sha256-...)");
}

// The URIs' mirror routes, in order: nullopt for a URI below no configured upstream, an
// error for one below an upstream but with a path the mirror refuses (that URI alone fails).
using MirrorRoutes = std::vector<Result<std::optional<Route>>>;
MirrorRoutes mirror_routes(Ops& ops, const google::protobuf::RepeatedPtrField<std::string>& uris) {
  MirrorRoutes routes;
  for (const auto& uri : uris) {
    routes.push_back(ops.mirror_route_for(uri));
  }
  return routes;
}

// Which failure a FetchBlob of several URIs reports: the one no retry can mend first.
int severity(Errc code) {
  switch (code) {
  case Errc::mismatch:
    return 4;
  case Errc::too_large:
    return 3;
  case Errc::invalid_argument:
    return 1;
  case Errc::not_found:
    return 0;
  default:
    return 2; // reported as Errc::upstream: the origin may answer later
  }
}

// FetchBlob's answer when nothing was pushed under its URIs: the stored blob with the
// checksum's SHA-256, else the first URI the mirror can fetch. Every URI is tried in turn;
// the failures are all in the message, and the code is the most severe one's.
Result<std::pair<std::string, cas::Digest>>
fetch_unpushed(Ops& ops, const Caller& caller,
               const google::protobuf::RepeatedPtrField<std::string>& uris,
               const MirrorRoutes& routes, const std::optional<cas::Hash>& sha256) {
  if (sha256) {
    Route cas_route;
    cas_route.kind = RouteKind::cas;
    cas_route.hash = *sha256;
    auto size = ops.stat_blob(caller, cas_route);
    if (size) {
      return std::pair{uris[0], cas::Digest{*sha256, *size}};
    }
    if (size.error().code != Errc::not_found) {
      return std::move(size).error();
    }
  }
  std::string failures;
  std::optional<Errc> worst;
  const auto failed = [&](const std::string& uri, const Error& error) {
    failures += (failures.empty() ? "" : "; ") + uri + ": " + error.message;
    const auto code = severity(error.code) == 2 ? Errc::upstream : error.code;
    if (!worst || severity(code) > severity(*worst)) {
      worst = code;
    }
  };
  for (int i = 0; i < uris.size(); ++i) {
    if (!routes[i]) {
      failed(uris[i], routes[i].error());
      continue;
    }
    if (!*routes[i]) {
      continue;
    }
    auto read = ops.read_mirror(caller, **routes[i], ReadRequest{}, sha256);
    if (read) {
      return std::pair{uris[i], read->digest};
    }
    if (read.error().code == Errc::unauthorized || read.error().code == Errc::forbidden) {
      return std::move(read).error();
    }
    failed(uris[i], read.error());
  }
  if (worst) {
    return make_error(*worst, "no URI could be fetched through the mirror: " + failures);
  }
  return make_error(Errc::not_found,
                    "nothing is stored for " + std::to_string(uris.size()) +
                        " URI(s), and none is below a configured upstream (ingot serve --mirror "
                        "NAME=URL fetches those)");
}

// FetchBlob's answer: the URI it stands for and the blob's digest. A pushed association is
// found whatever its qualifiers say; what was never pushed is found by its checksum, which
// must then be one Ingot can check, or fetched through the mirror.
Result<std::pair<std::string, cas::Digest>> fetch_blob(Ops& ops, const Caller& caller,
                                                       const asset::FetchBlobRequest& request,
                                                       const MirrorRoutes& routes) {
  auto found = find(ops, caller, request.uris(), request.qualifiers());
  if (found) {
    return std::pair{found->uri, found->ref.digest};
  }
  if (found.error().code != Errc::not_found) {
    return std::move(found).error();
  }
  auto sha256 = sri_sha256(request.qualifiers());
  if (!sha256) {
    return std::move(sha256).error();
  }
  return fetch_unpushed(ops, caller, request.uris(), routes, *sha256);
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
  if (auto* refused =
          refuse_if_no_uri(m_ctx, call, GrpcMethod::fetch_blob, *request, Op::read_ref)) {
    return refused;
  }
  // Parsing the URIs reads nothing: a call that may fetch from an upstream runs where a
  // slow upstream holds no thread the store needs.
  auto routes = mirror_routes(m_ctx.ops, request->uris());
  const bool may_fetch =
      std::any_of(routes.begin(), routes.end(), [](const auto& r) { return r && r->has_value(); });
  return run_unary(m_ctx, call, GrpcMethod::fetch_blob, may_fetch ? Op::read_mirror : Op::read_ref,
                   [this, request, response, routes = std::move(routes)](const Caller& caller) {
                     auto answer = fetch_blob(m_ctx.ops, caller, *request, routes);
                     if (!answer) {
                       return to_status(answer.error());
                     }
                     response->mutable_status()->set_code(0);
                     response->set_uri(answer->first);
                     *response->mutable_qualifiers() = request->qualifiers();
                     set_digest(*response->mutable_blob_digest(), answer->second);
                     return grpc::Status::OK;
                   });
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
