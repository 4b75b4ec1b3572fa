// google.bytestream.ByteStream over the operations: Write and QueryWriteStatus of CAS blobs
// (resource_name.hpp), plain or as one zstd stream (compressed-blobs/zstd/…); Read is in
// bytestream_read.cpp. A Write streams into the same upload path as PUT /cas/: decoded,
// limited, and its digest checked before the blob is visible.
#include "server/grpc/call.hpp"
#include "server/grpc/idle_watch.hpp"
#include "server/grpc/pending_uploads.hpp"
#include "server/grpc/resource_name.hpp"
#include "server/grpc/services.hpp"

#include <vector>

namespace ingot::server::grpc_front {

namespace {

// A Write: each message is appended on the blocking pool; the next is read only after it.
class WriteReactor final : public grpc::ServerReadReactor<bytestream::WriteRequest> {
public:
  WriteReactor(ServerContext& ctx, PendingUploads& pending, IdleWatch& idle,
               grpc::CallbackServerContext* call, Caller caller,
               bytestream::WriteResponse* response)
      : m_ctx(ctx), m_pending(pending), m_idle(idle),
        m_idle_id(idle.add(call)), m_clock{GrpcMethod::bytestream_write},
        m_caller(std::move(caller)), m_response(response) {
    read_next();
  }

  void OnReadDone(bool ok) override {
    m_idle.working(m_idle_id);
    if (!ok) {
      // Cut short: kept, so that the client can resume from what it sent.
      end({grpc::StatusCode::INVALID_ARGUMENT,
           "the write ended before a message with finish_write; nothing was stored yet, and "
           "QueryWriteStatus gives the offset to resume from"},
          Keep::yes);
      return;
    }
    m_ctx.run_blocking([this] {
      auto done = take();
      if (!done) {
        end(to_status(done.error()), Keep::no);
      } else if (*done) {
        // The bytes this write sent: the blob's size, or the compressed bytes.
        m_response->set_committed_size(
            static_cast<std::int64_t>(m_upload.zstd ? m_upload.committed : m_upload.digest.size));
        Finish(m_clock.ended(m_ctx.metrics, grpc::Status::OK));
      } else {
        read_next();
      }
    });
  }

  void OnDone() override {
    m_idle.remove(m_idle_id);
    // Cancelled, or the deadline passed, mid-write: kept for a resume, like a stream that ends.
    release(Keep::yes);
    delete this;
  }

private:
  enum class Keep { no, yes };

  void read_next() {
    m_idle.waiting(m_idle_id);
    StartRead(&m_request);
  }

  // Appends one message; true once the blob is stored.
  Result<bool> take() {
    if (!m_upload.sink) {
      INGOT_TRY(start());
    } else if (!m_request.resource_name().empty() && m_request.resource_name() != m_name) {
      return make_error(Errc::invalid_argument, "resource_name changed within one write");
    }
    // For a compressed write, offsets count the compressed bytes sent; the decoded size is
    // checked against the digest as the bytes decode.
    if (m_request.write_offset() != static_cast<std::int64_t>(m_upload.committed)) {
      return make_error(Errc::invalid_argument,
                        "write_offset " + std::to_string(m_request.write_offset()) + " where " +
                            std::to_string(m_upload.committed) + " bytes were written");
    }
    const auto& data = m_request.data();
    const auto& digest = m_upload.digest;
    if (!m_upload.zstd && m_upload.committed + data.size() > digest.size) {
      return make_error(Errc::invalid_argument, "more data than the " +
                                                    std::to_string(digest.size) +
                                                    " bytes the resource name says");
    }
    INGOT_TRY(m_upload.sink->append(as_bytes(data)));
    m_upload.committed += data.size();
    if (!m_request.finish_write()) {
      return false;
    }
    if (!m_upload.zstd && m_upload.committed != digest.size) {
      return make_error(Errc::invalid_argument, "finish_write after " +
                                                    std::to_string(m_upload.committed) + " of " +
                                                    std::to_string(digest.size) + " bytes");
    }
    auto stored = m_ctx.ops.finish_upload(m_caller, blob_route(RouteKind::cas, digest),
                                          std::move(m_upload.sink));
    if (!stored) {
      return std::move(stored).error();
    }
    return true;
  }

  // The first message: resumes the upload this name left at write_offset, or opens a new one.
  Result<void> start() {
    m_name = m_request.resource_name();
    auto resource = parse_resource(m_name, Access::write);
    if (!resource) {
      return std::move(resource).error();
    }
    const auto offset =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, m_request.write_offset()));
    std::vector<PartialUpload> dropped;
    auto kept = m_pending.resume(m_name, offset, dropped);
    dropped.clear(); // on the blocking pool already: temporary files go here
    if (kept) {
      m_upload = std::move(*kept);
      return {};
    }
    if (offset != 0) {
      // ABORTED, which clients retry: they ask QueryWriteStatus again, and start from 0.
      return make_error(Errc::conflict,
                        "write_offset " + std::to_string(offset) + ": no interrupted upload of " +
                            m_name + " ends there (QueryWriteStatus says where, or start at 0)");
    }
    m_upload.digest = resource->digest;
    m_upload.zstd = resource->zstd;
    auto sink = m_ctx.ops.open_upload(
        m_caller, blob_route(RouteKind::cas, m_upload.digest),
        m_upload.zstd ? BodyEncoding::zstd : BodyEncoding::identity,
        m_upload.zstd ? std::nullopt : std::optional<std::uint64_t>(m_upload.digest.size));
    if (!sink) {
      return std::move(sink).error();
    }
    m_upload.sink = std::move(*sink);
    return {};
  }

  void end(const grpc::Status& status, Keep keep) {
    release(keep);
    Finish(m_clock.ended(m_ctx.metrics, status));
  }

  // Keeps an upload with bytes in it for a resume, or drops it; files are removed on the
  // blocking pool, never on a gRPC thread.
  void release(Keep keep) {
    if (!m_upload.sink) {
      return;
    }
    auto dropped = std::make_shared<std::vector<PartialUpload>>();
    // A compressed write is not kept: REAPI counts its first offset in uncompressed bytes and
    // the rest in compressed ones, which cannot name a place to resume from.
    if (keep == Keep::yes && m_upload.committed > 0 && !m_upload.zstd) {
      *dropped = m_pending.keep(m_name, std::move(m_upload));
    } else {
      dropped->push_back(std::move(m_upload));
    }
    m_upload = {};
    if (!dropped->empty()) {
      m_ctx.run_blocking([dropped] { dropped->clear(); });
    }
  }

  ServerContext& m_ctx;
  PendingUploads& m_pending;
  IdleWatch& m_idle;
  IdleWatch::Id m_idle_id;
  CallClock m_clock;
  Caller m_caller;
  bytestream::WriteResponse* m_response;
  bytestream::WriteRequest m_request;
  std::string m_name; // the resource name of the first message
  PartialUpload m_upload;
};

} // namespace

ByteStreamService::ByteStreamService(ServerContext& ctx)
    : m_ctx(ctx), m_pending(std::make_unique<PendingUploads>()),
      m_idle(std::make_unique<IdleWatch>(ctx.options.read_timeout, [this] {
        auto dropped = std::make_shared<std::vector<PartialUpload>>(m_pending->expired());
        if (!dropped->empty()) {
          m_ctx.run_blocking([dropped] { dropped->clear(); });
        }
      })) {}

ByteStreamService::~ByteStreamService() = default;

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
  return new WriteReactor(m_ctx, *m_pending, *m_idle, call, std::move(*caller), response);
}

grpc::ServerUnaryReactor*
ByteStreamService::QueryWriteStatus(grpc::CallbackServerContext* call,
                                    const bytestream::QueryWriteStatusRequest* request,
                                    bytestream::QueryWriteStatusResponse* response) {
  // Complete once the blob is stored (whoever stored it); otherwise what an interrupted write
  // of this very name left, or 0.
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
                     const auto kept = m_pending->committed(request->resource_name());
                     response->set_committed_size(
                         static_cast<std::int64_t>(stored ? digest->size : kept.value_or(0)));
                     response->set_complete(stored);
                     return grpc::Status::OK;
                   });
}

} // namespace ingot::server::grpc_front
