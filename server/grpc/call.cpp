#include "server/grpc/call.hpp"

namespace ingot::server::grpc_front {

grpc::StatusCode status_code(Errc code) {
  switch (code) {
  case Errc::not_found:
    return grpc::StatusCode::NOT_FOUND;
  case Errc::corrupt:
    return grpc::StatusCode::DATA_LOSS;
  case Errc::io:
    return grpc::StatusCode::INTERNAL;
  case Errc::no_space:
    return grpc::StatusCode::RESOURCE_EXHAUSTED;
  case Errc::invalid_argument:
    return grpc::StatusCode::INVALID_ARGUMENT;
  case Errc::unauthorized:
    return grpc::StatusCode::UNAUTHENTICATED;
  case Errc::forbidden:
    return grpc::StatusCode::PERMISSION_DENIED;
  case Errc::timeout:
    return grpc::StatusCode::DEADLINE_EXCEEDED;
  case Errc::busy:
  case Errc::would_block:
  case Errc::upstream:
    return grpc::StatusCode::UNAVAILABLE;
  case Errc::too_large:
    // Over --max-blob-size or a batch limit: the request, not the server, must change.
    return grpc::StatusCode::INVALID_ARGUMENT;
  case Errc::mismatch:
    return grpc::StatusCode::FAILED_PRECONDITION;
  case Errc::conflict:
    // What was expected is not what is there (a write resumed where no upload stopped):
    // clients retry ABORTED, asking again first.
    return grpc::StatusCode::ABORTED;
  }
  return grpc::StatusCode::UNKNOWN;
}

grpc::Status to_status(const Error& error) {
  return {status_code(error.code), error.message};
}

Result<Caller> caller_of(ServerContext& ctx, const grpc::CallbackServerContext& call) {
  std::string_view authorization;
  const auto& metadata = call.client_metadata();
  if (const auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = std::string_view(it->second.data(), it->second.size());
  }
  auto identity = ctx.auth.authenticate(authorization);
  if (!identity) {
    return make_error(identity.error().code,
                      identity.error().message +
                          " (send `authorization: Bearer TOKEN` metadata; Bazel: "
                          "--remote_header=Authorization=Bearer TOKEN)");
  }
  Caller caller{identity->scopes, identity->presented, identity->name};
  // A client certificate the TLS handshake verified against --grpc-client-ca (only asked for
  // with one) adds its scopes: BuildStream 1.6 can present nothing else.
  const auto auth = call.auth_context();
  if (!ctx.options.grpc_client_ca.empty() && auth && auth->IsPeerAuthenticated()) {
    caller.scopes |= ctx.options.grpc_client_cert_scopes;
    caller.presented = true;
    if (caller.name.empty()) {
      const auto peer = auth->GetPeerIdentity();
      caller.name =
          "cert:" +
          (peer.empty() ? std::string("?") : std::string(peer.front().data(), peer.front().size()));
    }
  }
  return caller;
}

Result<cas::Digest> digest_of(const reapi::Digest& digest, std::string_view what) {
  if (digest.size_bytes() < 0) {
    return make_error(Errc::invalid_argument, std::string(what) + ": size_bytes " +
                                                  std::to_string(digest.size_bytes()) +
                                                  " is negative");
  }
  auto parsed = cas::parse_digest(digest.hash(), static_cast<std::uint64_t>(digest.size_bytes()));
  if (!parsed) {
    return make_error(
        Errc::invalid_argument,
        std::string(what) + ": '" + digest.hash() +
            "' is not a SHA-256 in 64 lowercase hex digits (Ingot serves SHA256 only)");
  }
  return *parsed;
}

void set_digest(reapi::Digest& out, const cas::Digest& digest) {
  out.set_hash(digest.hex());
  out.set_size_bytes(static_cast<std::int64_t>(digest.size));
}

std::optional<grpc::Status> refuse_write_probe(ServerContext& ctx,
                                               const grpc::CallbackServerContext& call) {
  auto caller = caller_of(ctx, call);
  if (!caller) {
    return to_status(caller.error());
  }
  if (grants(caller->scopes, k_scope_write)) {
    return std::nullopt;
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      caller->presented
                          ? "this token has no 'write' scope"
                          : "anonymous clients may not write here (--anonymous): send a token, or "
                            "a client certificate the server's --grpc-client-ca signed; "
                            "BuildStream 1.6 sends no token, so give it a certificate or set "
                            "push: false");
}

Route blob_route(RouteKind kind, const cas::Digest& digest) {
  Route route;
  route.kind = kind;
  route.hash = digest.hash;
  route.key = digest.hex();
  return route;
}

grpc::Status read_fully(cas::BlobReader& reader, std::string& out) {
  return read_fully(reader,
                    MutableByteView(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
}

grpc::Status read_fully(cas::BlobReader& reader, MutableByteView out) {
  std::size_t done = 0;
  while (done < out.size()) {
    auto n = reader.read(out.subspan(done));
    if (!n) {
      return to_status(n.error());
    }
    if (*n == 0) {
      return {grpc::StatusCode::DATA_LOSS, "the stored blob ends before its recorded size"};
    }
    done += *n;
  }
  return grpc::Status::OK;
}

Result<Caller> admit(ServerContext& ctx, const grpc::CallbackServerContext& call, Op op) {
  if (ctx.draining) {
    return make_error(Errc::busy, "the server is shutting down; retry");
  }
  auto caller = caller_of(ctx, call);
  if (caller) {
    INGOT_TRY(ctx.ops.allow(*caller, op));
  }
  return caller;
}

} // namespace ingot::server::grpc_front
