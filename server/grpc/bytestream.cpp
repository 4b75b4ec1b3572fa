// google.bytestream.ByteStream over the operations: Read and Write of CAS blobs
// (resource_name.hpp), plain or as one zstd stream (compressed-blobs/zstd/…). A Write streams
// into the same upload path as PUT /cas/: decoded, limited, and its digest checked before the
// blob is visible.
#include "cas/codec.hpp"
#include "server/grpc/call.hpp"
#include "server/grpc/resource_name.hpp"
#include "server/grpc/services.hpp"
#include "server/grpc/stream_writer.hpp"

#include <vector>

namespace ingot::server::grpc_front {

namespace {

// Bytes per ReadResponse: large enough that framing costs nothing, small enough to stay well
// under any client's message limit.
constexpr std::size_t k_read_chunk = 256u << 10;

// What a Read sends, a chunk at a time: the blob's bytes from an offset, or one zstd stream of
// them (the stored frame as it is, when the blob is kept compressed and read from 0).
class ReadSource {
public:
  grpc::Status open(Ops& ops, const Caller& caller, const bytestream::ReadRequest& request) {
    auto resource = parse_resource(request.resource_name(), Access::read);
    if (!resource) {
      return to_status(resource.error());
    }
    const auto& digest = resource->digest;
    if (request.read_offset() < 0 || request.read_limit() < 0) {
      return invalid("read_offset and read_limit must not be negative");
    }
    if (resource->zstd && request.read_limit() != 0) {
      return invalid("a compressed-blobs read takes no read_limit (REAPI)");
    }
    const auto offset = static_cast<std::uint64_t>(request.read_offset());
    if (offset > digest.size) {
      return {grpc::StatusCode::OUT_OF_RANGE, "read_offset " + std::to_string(offset) +
                                                  " is past the " + std::to_string(digest.size) +
                                                  " bytes of the blob"};
    }
    std::uint64_t length = digest.size - offset;
    if (request.read_limit() > 0) {
      length = std::min(length, static_cast<std::uint64_t>(request.read_limit()));
    }
    if (resource->zstd) {
      m_encoder = std::make_unique<cas::ZstdEncoder>(k_zstd_level);
    }
    if (length == 0) {
      // The empty blob, or nothing left past the offset: no bytes (or an empty zstd frame),
      // but the blob must exist.
      if (digest.size == 0) {
        return grpc::Status::OK;
      }
      auto missing = ops.find_missing(caller, {&digest, 1});
      if (!missing) {
        return to_status(missing.error());
      }
      if (!missing->empty()) {
        return to_status(
            make_error(Errc::not_found, "blob " + digest.to_string() + " is not stored"));
      }
      return grpc::Status::OK;
    }
    const bool whole_zstd = resource->zstd && offset == 0;
    const std::string range =
        whole_zstd ? std::string()
                   : "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1);
    auto blob = ops.read_blob(caller, blob_route(RouteKind::cas, digest),
                              ReadRequest{range, whole_zstd ? "zstd" : ""});
    if (!blob) {
      return to_status(blob.error());
    }
    if (blob->digest.size != digest.size) {
      return to_status(make_error(Errc::not_found,
                                  "blob " + digest.to_string() + " is stored with another size"));
    }
    if (blob->zstd) {
      m_encoder.reset(); // already one zstd frame: sent as it is
    }
    m_reader = std::move(blob->reader);
    m_left = m_reader->length();
    return grpc::Status::OK;
  }

  // The next chunk; nullopt once everything is sent.
  Result<std::optional<std::string>> next() {
    if (!m_encoder) {
      if (m_left == 0) {
        return std::optional<std::string>();
      }
      std::string chunk(static_cast<std::size_t>(std::min<std::uint64_t>(m_left, k_read_chunk)),
                        '\0');
      if (auto read = read_fully(*m_reader, chunk); !read.ok()) {
        return make_error(Errc::corrupt, read.error_message());
      }
      m_left -= chunk.size();
      return std::optional<std::string>(std::move(chunk));
    }
    const auto sink = [this](ByteView bytes) -> Result<void> {
      m_out.append(as_chars(bytes));
      return {};
    };
    while (m_out.size() < k_read_chunk && !m_finished) {
      if (m_left == 0) {
        INGOT_TRY(m_encoder->finish(sink));
        m_finished = true;
        break;
      }
      std::string raw(static_cast<std::size_t>(std::min<std::uint64_t>(m_left, k_read_chunk)),
                      '\0');
      if (auto read = read_fully(*m_reader, raw); !read.ok()) {
        return make_error(Errc::corrupt, read.error_message());
      }
      m_left -= raw.size();
      INGOT_TRY(m_encoder->write(as_bytes(raw), sink));
    }
    if (m_out.empty()) {
      return std::optional<std::string>();
    }
    const auto n = std::min(m_out.size(), k_read_chunk);
    std::string chunk = m_out.substr(0, n);
    m_out.erase(0, n);
    return std::optional<std::string>(std::move(chunk));
  }

private:
  // Compressing on the fly: fast, as the bytes go out once.
  static constexpr int k_zstd_level = 1;

  std::unique_ptr<cas::BlobReader> m_reader;
  std::uint64_t m_left = 0;
  std::unique_ptr<cas::ZstdEncoder> m_encoder; // set while compressing on the fly
  std::string m_out;                           // compressed bytes not sent yet
  bool m_finished = false;
};

// A Write: each message is appended on the blocking pool; the next is read only after it.
class WriteReactor final : public grpc::ServerReadReactor<bytestream::WriteRequest> {
public:
  WriteReactor(ServerContext& ctx, Caller caller, bytestream::WriteResponse* response)
      : m_ctx(ctx), m_clock{GrpcMethod::bytestream_write}, m_caller(std::move(caller)),
        m_response(response) {
    StartRead(&m_request);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      end({grpc::StatusCode::INVALID_ARGUMENT,
           "the write ended before a message with finish_write; nothing was stored"});
      return;
    }
    m_ctx.run_blocking([this] {
      auto done = take();
      if (!done) {
        end(to_status(done.error()));
      } else if (*done) {
        // The bytes this write sent: the blob's size, or the compressed bytes.
        m_response->set_committed_size(
            static_cast<std::int64_t>(m_zstd ? m_committed : m_digest.size));
        Finish(m_clock.ended(m_ctx.metrics, grpc::Status::OK));
      } else {
        StartRead(&m_request);
      }
    });
  }

  void OnDone() override {
    if (m_sink) {
      // An upload cut short: its temporary file goes on the blocking pool, not here.
      m_ctx.run_blocking([sink = std::shared_ptr<UploadSink>(std::move(m_sink))] {});
    }
    delete this;
  }

private:
  // Appends one message; true once the blob is stored.
  Result<bool> take() {
    if (!m_sink) {
      auto resource = parse_resource(m_request.resource_name(), Access::write);
      if (!resource) {
        return std::move(resource).error();
      }
      m_digest = resource->digest;
      m_zstd = resource->zstd;
      auto sink = m_ctx.ops.open_upload(m_caller, blob_route(RouteKind::cas, m_digest),
                                        m_zstd ? BodyEncoding::zstd : BodyEncoding::identity,
                                        m_zstd ? std::nullopt
                                               : std::optional<std::uint64_t>(m_digest.size));
      if (!sink) {
        return std::move(sink).error();
      }
      m_sink = std::move(*sink);
    } else if (!m_request.resource_name().empty() && m_request.resource_name() != m_resource_name) {
      return make_error(Errc::invalid_argument, "resource_name changed within one write");
    }
    if (m_resource_name.empty()) {
      m_resource_name = m_request.resource_name();
    }
    // For a compressed write, offsets count the compressed bytes sent (from 0: writes are not
    // resumed); the decoded size is checked against the digest as the bytes decode.
    if (m_request.write_offset() != static_cast<std::int64_t>(m_committed)) {
      return make_error(Errc::invalid_argument,
                        "write_offset " + std::to_string(m_request.write_offset()) + " where " +
                            std::to_string(m_committed) +
                            " bytes were written (this server does not resume writes)");
    }
    const auto& data = m_request.data();
    if (!m_zstd && m_committed + data.size() > m_digest.size) {
      return make_error(Errc::invalid_argument, "more data than the " +
                                                    std::to_string(m_digest.size) +
                                                    " bytes the resource name says");
    }
    INGOT_TRY(m_sink->append(as_bytes(data)));
    m_committed += data.size();
    if (!m_request.finish_write()) {
      return false;
    }
    if (!m_zstd && m_committed != m_digest.size) {
      return make_error(Errc::invalid_argument, "finish_write after " +
                                                    std::to_string(m_committed) + " of " +
                                                    std::to_string(m_digest.size) + " bytes");
    }
    auto stored =
        m_ctx.ops.finish_upload(m_caller, blob_route(RouteKind::cas, m_digest), std::move(m_sink));
    if (!stored) {
      return std::move(stored).error();
    }
    return true;
  }

  void end(const grpc::Status& status) {
    if (m_sink) {
      m_ctx.run_blocking([sink = std::shared_ptr<UploadSink>(std::move(m_sink))] {});
    }
    Finish(m_clock.ended(m_ctx.metrics, status));
  }

  ServerContext& m_ctx;
  CallClock m_clock;
  Caller m_caller;
  bytestream::WriteResponse* m_response;
  bytestream::WriteRequest m_request;
  std::string m_resource_name;
  cas::Digest m_digest;
  bool m_zstd = false;
  std::unique_ptr<UploadSink> m_sink;
  std::uint64_t m_committed = 0; // bytes received: the blob's, or compressed ones
};

} // namespace

grpc::ServerWriteReactor<bytestream::ReadResponse>*
ByteStreamService::Read(grpc::CallbackServerContext* call, const bytestream::ReadRequest* request) {
  using Writer = StreamWriter<bytestream::ReadResponse>;
  using Next = std::variant<bytestream::ReadResponse, grpc::Status>;
  auto caller = admit(m_ctx, *call, Op::read_blob);
  if (!caller) {
    return Writer::refuse(m_ctx, GrpcMethod::bytestream_read, to_status(caller.error()));
  }
  struct State {
    ReadSource source;
    bool opened = false;
  };
  auto state = std::make_shared<State>();
  return new Writer(m_ctx, GrpcMethod::bytestream_read,
                    [this, request, state, caller = std::move(*caller)]() -> Next {
                      if (!state->opened) {
                        state->opened = true;
                        if (auto opened = state->source.open(m_ctx.ops, caller, *request);
                            !opened.ok()) {
                          return opened;
                        }
                      }
                      auto chunk = state->source.next();
                      if (!chunk) {
                        return to_status(chunk.error());
                      }
                      if (!*chunk) {
                        return grpc::Status::OK;
                      }
                      bytestream::ReadResponse response;
                      *response.mutable_data() = std::move(**chunk);
                      return response;
                    });
}

grpc::ServerReadReactor<bytestream::WriteRequest>*
ByteStreamService::Write(grpc::CallbackServerContext* call, bytestream::WriteResponse* response) {
  auto caller = admit(m_ctx, *call, Op::write_blob);
  if (!caller) {
    // Refused before a message is read: the client sees the status on its first write.
    class Refused final : public grpc::ServerReadReactor<bytestream::WriteRequest> {
    public:
      Refused(Metrics& metrics, const grpc::Status& status) {
        Finish(CallClock{GrpcMethod::bytestream_write}.ended(metrics, status));
      }
      void OnDone() override { delete this; }
    };
    return new Refused(m_ctx.metrics, to_status(caller.error()));
  }
  return new WriteReactor(m_ctx, std::move(*caller), response);
}

grpc::ServerUnaryReactor*
ByteStreamService::QueryWriteStatus(grpc::CallbackServerContext* call,
                                    const bytestream::QueryWriteStatusRequest* request,
                                    bytestream::QueryWriteStatusResponse* response) {
  // Writes are not resumed: a write is complete once its blob is stored, and otherwise starts
  // again from 0. (Keyed by the blob, not the UUID: BuildStream 1.6 reuses one UUID.)
  return run_unary(m_ctx, call, GrpcMethod::query_write_status, Op::stat_blob,
                   [this, request, response](const Caller& caller) {
                     auto resource = parse_resource(request->resource_name(), Access::write);
                     if (!resource) {
                       return to_status(resource.error());
                     }
                     const auto* digest = &resource->digest;
                     auto missing = m_ctx.ops.find_missing(caller, {digest, 1});
                     if (!missing) {
                       return to_status(missing.error());
                     }
                     const bool stored = missing->empty();
                     response->set_committed_size(stored ? static_cast<std::int64_t>(digest->size)
                                                         : 0);
                     response->set_complete(stored);
                     return grpc::Status::OK;
                   });
}

} // namespace ingot::server::grpc_front
