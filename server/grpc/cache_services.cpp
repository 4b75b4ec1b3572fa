// Capabilities, ContentAddressableStorage and ActionCache over the operations.
#include "server/grpc/call.hpp"
#include "server/grpc/services.hpp"
#include "server/grpc/stream_writer.hpp"

#include <charconv>
#include <vector>

namespace ingot::server::grpc_front {

namespace {

// GetTree pages: at most this many directories, and at most this many bytes, per message.
constexpr int k_default_tree_page = 1000;
constexpr std::size_t k_tree_page_bytes = (3u << 20) + (512u << 10);
// A BatchReadBlobs answer stays under gRPC's default 4 MiB receive limit.
constexpr std::size_t k_max_batch_response = (4u << 20) - (64u << 10);
// Largest ActionResult read back from the action cache (real ones are a few KiB).
constexpr std::uint64_t k_max_action_result = 16u << 20;

// The blob digests of a request, or the first malformed one as INVALID_ARGUMENT.
Result<std::vector<cas::Digest>>
digests_of(const google::protobuf::RepeatedPtrField<reapi::Digest>& digests) {
  std::vector<cas::Digest> out;
  out.reserve(static_cast<std::size_t>(digests.size()));
  for (const auto& d : digests) {
    auto digest = digest_of(d, "digest");
    if (!digest) {
      return std::move(digest).error();
    }
    out.push_back(*digest);
  }
  return out;
}

void set_status(google::rpc::Status& out, const Result<std::string>& outcome) {
  if (outcome) {
    out.set_code(0);
    return;
  }
  out.set_code(static_cast<int>(status_code(outcome.error().code)));
  out.set_message(outcome.error().message);
}

} // namespace

grpc::ServerUnaryReactor*
CapabilitiesService::GetCapabilities(grpc::CallbackServerContext* call,
                                     const reapi::GetCapabilitiesRequest* /*request*/,
                                     reapi::ServerCapabilities* response) {
  // Needs no scope: a client asks before anything else, and learns here whether it may write.
  return run_unary(
      m_ctx, call, GrpcMethod::get_capabilities, Op::healthz, [response](const Caller& caller) {
        auto& cache = *response->mutable_cache_capabilities();
        cache.add_digest_functions(reapi::DigestFunction::SHA256);
        cache.mutable_action_cache_update_capabilities()->set_update_enabled(
            grants(caller.scopes, k_scope_write));
        cache.set_max_batch_total_size_bytes(k_max_batch_total);
        cache.set_symlink_absolute_path_strategy(reapi::SymlinkAbsolutePathStrategy::DISALLOWED);
        // ByteStream's compressed-blobs/zstd/…; batches are uncompressed only.
        cache.add_supported_compressors(reapi::Compressor::ZSTD);
        response->mutable_low_api_version()->set_major(2);
        response->mutable_high_api_version()->set_major(2);
        response->mutable_high_api_version()->set_minor(0);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor*
CasService::FindMissingBlobs(grpc::CallbackServerContext* call,
                             const reapi::FindMissingBlobsRequest* request,
                             reapi::FindMissingBlobsResponse* response) {
  return run_unary(m_ctx, call, GrpcMethod::find_missing_blobs, Op::find_missing,
                   [this, request, response](const Caller& caller) {
                     auto digests = digests_of(request->blob_digests());
                     if (!digests) {
                       return to_status(digests.error());
                     }
                     auto missing = m_ctx.ops.find_missing(caller, *digests);
                     if (!missing) {
                       return to_status(missing.error());
                     }
                     for (const auto& d : *missing) {
                       set_digest(*response->add_missing_blob_digests(), d);
                     }
                     return grpc::Status::OK;
                   });
}

grpc::ServerUnaryReactor*
CasService::BatchUpdateBlobs(grpc::CallbackServerContext* call,
                             const reapi::BatchUpdateBlobsRequest* request,
                             reapi::BatchUpdateBlobsResponse* response) {
  if (request->requests().empty()) {
    // A probe (refuse_write_probe): OK for a writer, PERMISSION_DENIED otherwise.
    auto* reactor = call->DefaultReactor();
    const auto refused = refuse_write_probe(m_ctx, *call);
    reactor->Finish(CallClock{GrpcMethod::batch_update_blobs}.ended(
        m_ctx.metrics, refused.value_or(grpc::Status::OK)));
    return reactor;
  }
  return run_unary(
      m_ctx, call, GrpcMethod::batch_update_blobs, Op::batch_update,
      [this, request, response](const Caller& caller) {
        std::int64_t total = 0;
        for (const auto& r : request->requests()) {
          total += static_cast<std::int64_t>(r.data().size());
        }
        if (total > k_max_batch_total) {
          return invalid("the batch holds " + std::to_string(total) + " bytes, over the " +
                         std::to_string(k_max_batch_total) +
                         " of max_batch_total_size_bytes; send fewer blobs, or large ones with "
                         "ByteStream.Write");
        }
        // Each blob succeeds or fails alone: those that cannot be stored are answered here, the
        // others go to the store in one batch, in request order.
        std::vector<BatchBlob> blobs;
        std::vector<Result<std::string>> outcomes;
        std::vector<std::size_t> stored_at; // outcomes index of each entry of `blobs`
        for (const auto& r : request->requests()) {
          auto digest = digest_of(r.digest(), "BatchUpdateBlobs digest");
          if (digest && r.compressor() != reapi::Compressor::IDENTITY) {
            digest = make_error(Errc::invalid_argument,
                                "compressor " + std::to_string(r.compressor()) +
                                    " is not supported: send blobs uncompressed (IDENTITY)");
          } else if (digest && r.data().size() != digest->size) {
            digest = make_error(Errc::invalid_argument,
                                "data holds " + std::to_string(r.data().size()) +
                                    " bytes where the digest says " + std::to_string(digest->size));
          }
          if (!digest) {
            outcomes.emplace_back(std::move(digest).error());
            continue;
          }
          stored_at.push_back(outcomes.size());
          outcomes.emplace_back(std::string());
          blobs.push_back({*digest, r.data()});
        }
        auto results = m_ctx.ops.batch_update(caller, blobs);
        if (!results) {
          return to_status(results.error());
        }
        for (std::size_t i = 0; i < results->size(); ++i) {
          outcomes[stored_at[i]] = std::move((*results)[i].data);
        }
        for (int i = 0; i < request->requests_size(); ++i) {
          auto& out = *response->add_responses();
          *out.mutable_digest() = request->requests(i).digest();
          set_status(*out.mutable_status(), outcomes[static_cast<std::size_t>(i)]);
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* CasService::BatchReadBlobs(grpc::CallbackServerContext* call,
                                                     const reapi::BatchReadBlobsRequest* request,
                                                     reapi::BatchReadBlobsResponse* response) {
  return run_unary(
      m_ctx, call, GrpcMethod::batch_read_blobs, Op::batch_read,
      [this, request, response](const Caller& caller) {
        auto digests = digests_of(request->digests());
        if (!digests) {
          return to_status(digests.error());
        }
        std::uint64_t total = 0;
        for (const auto& d : *digests) {
          total += d.size;
        }
        if (total > static_cast<std::uint64_t>(k_max_batch_total)) {
          return invalid("the blobs asked for hold " + std::to_string(total) + " bytes, over the " +
                         std::to_string(k_max_batch_total) +
                         " of max_batch_total_size_bytes; ask for fewer, or read large ones with "
                         "ByteStream.Read");
        }
        auto results = m_ctx.ops.batch_read(caller, *digests);
        if (!results) {
          return to_status(results.error());
        }
        for (auto& result : *results) {
          auto& out = *response->add_responses();
          set_digest(*out.mutable_digest(), result.digest);
          set_status(*out.mutable_status(), result.data);
          if (result.data) {
            *out.mutable_data() = std::move(*result.data);
          }
        }
        // Each answer also carries its digest and status: tens of thousands of tiny blobs pass
        // the client's 4 MiB message limit with data well under the batch limit, and the
        // client could not take the answer.
        if (const auto size = response->ByteSizeLong(); size > k_max_batch_response) {
          response->Clear();
          return invalid("the answer to " + std::to_string(digests->size()) + " digests would be " +
                         std::to_string(size) +
                         " bytes, over gRPC's 4 MiB message limit; ask for fewer blobs per batch");
        }
        return grpc::Status::OK;
      });
}

grpc::ServerWriteReactor<reapi::GetTreeResponse>*
CasService::GetTree(grpc::CallbackServerContext* call, const reapi::GetTreeRequest* request) {
  using Writer = StreamWriter<reapi::GetTreeResponse>;
  using Next = std::variant<reapi::GetTreeResponse, grpc::Status>;
  auto caller = admit(m_ctx, *call, Op::get_tree);
  if (!caller) {
    return Writer::refuse(m_ctx, GrpcMethod::get_tree, to_status(caller.error()));
  }
  struct State {
    bool loaded = false;
    std::vector<std::string> directories; // as stored, the root first: parsed a page at a time
    std::size_t next = 0;
  };
  auto state = std::make_shared<State>();
  const int page_size = request->page_size() > 0 ? request->page_size() : k_default_tree_page;
  return new Writer(
      m_ctx, GrpcMethod::get_tree,
      [this, request, state, page_size, caller = std::move(*caller)]() -> Next {
        if (!state->loaded) {
          auto root = digest_of(request->root_digest(), "root_digest");
          if (!root) {
            return to_status(root.error());
          }
          auto directories = m_ctx.ops.tree_directories(caller, *root);
          if (!directories) {
            return to_status(directories.error());
          }
          state->directories = std::move(*directories);
          state->loaded = true;
          const auto& token = request->page_token();
          if (!token.empty()) {
            const auto [end, ec] =
                std::from_chars(token.data(), token.data() + token.size(), state->next);
            if (ec != std::errc() || end != token.data() + token.size() ||
                state->next > state->directories.size()) {
              return invalid("page_token '" + token + "' is not one this server gave");
            }
          }
        }
        const std::size_t count = state->directories.size();
        if (state->next >= count && state->next != 0) {
          return grpc::Status::OK;
        }
        reapi::GetTreeResponse page;
        std::size_t bytes = 0;
        // Whole directories, up to page_size and under the client's 4 MiB message limit (one
        // directory larger than that goes alone: nothing smaller can carry it).
        while (state->next < count && page.directories_size() < page_size) {
          auto& raw = state->directories[state->next];
          if (page.directories_size() > 0 && bytes + raw.size() > k_tree_page_bytes) {
            break;
          }
          if (!page.add_directories()->ParseFromString(raw)) {
            return grpc::Status(grpc::StatusCode::DATA_LOSS, "a stored Directory does not parse");
          }
          bytes += raw.size() + 8;
          std::string().swap(raw); // sent: its memory goes now, not with the call
          ++state->next;
        }
        if (state->next < count) {
          page.set_next_page_token(std::to_string(state->next));
        }
        return page;
      });
}

grpc::ServerUnaryReactor*
ActionCacheService::GetActionResult(grpc::CallbackServerContext* call,
                                    const reapi::GetActionResultRequest* request,
                                    reapi::ActionResult* response) {
  return run_unary(
      m_ctx, call, GrpcMethod::get_action_result, Op::read_blob,
      [this, request, response](const Caller& caller) {
        auto action = digest_of(request->action_digest(), "action_digest");
        if (!action) {
          return to_status(action.error());
        }
        // The same entry, and the same completeness rule, as GET /ac/<hex>.
        auto blob = m_ctx.ops.read_blob(caller, blob_route(RouteKind::ac, *action), {});
        if (!blob) {
          return to_status(blob.error());
        }
        const auto length = blob->reader->length();
        if (length > k_max_action_result) {
          return grpc::Status(grpc::StatusCode::NOT_FOUND,
                              "the action cache entry is not an ActionResult (too large)");
        }
        std::string bytes(length, '\0');
        if (auto read = read_fully(*blob->reader, bytes); !read.ok()) {
          return read;
        }
        if (!response->ParseFromString(bytes)) {
          // Written over HTTP as something else: a miss, so the client builds and replaces it.
          return grpc::Status(grpc::StatusCode::NOT_FOUND,
                              "the action cache entry is not an ActionResult");
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor*
ActionCacheService::UpdateActionResult(grpc::CallbackServerContext* call,
                                       const reapi::UpdateActionResultRequest* request,
                                       reapi::ActionResult* response) {
  return run_unary(
      m_ctx, call, GrpcMethod::update_action_result, Op::write_blob,
      [this, request, response](const Caller& caller) {
        auto action = digest_of(request->action_digest(), "action_digest");
        if (!action) {
          return to_status(action.error());
        }
        const std::string bytes = request->action_result().SerializeAsString();
        const auto route = blob_route(RouteKind::ac, *action);
        // The same write as PUT /ac/<hex>: the value is stored as a blob, then the entry names it.
        auto sink = m_ctx.ops.open_upload(caller, route, BodyEncoding::identity, bytes.size());
        if (!sink) {
          return to_status(sink.error());
        }
        if (auto appended = (*sink)->append(as_bytes(bytes)); !appended) {
          return to_status(appended.error());
        }
        if (auto stored = m_ctx.ops.finish_upload(caller, route, std::move(*sink)); !stored) {
          return to_status(stored.error());
        }
        *response = request->action_result();
        return grpc::Status::OK;
      });
}

} // namespace ingot::server::grpc_front
