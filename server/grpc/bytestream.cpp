// google.bytestream.ByteStream over the operations: Read and Write of CAS blobs named
// `[INSTANCE/]blobs/HASH/SIZE` and `[INSTANCE/]uploads/UUID/blobs/HASH/SIZE[/…]`. A Write
// streams into the same upload path as PUT /cas/ (digest checked before the blob is visible).
#include "server/grpc/call.hpp"
#include "server/grpc/services.hpp"
#include "server/grpc/stream_writer.hpp"

#include <charconv>
#include <vector>

namespace ingot::server::grpc_front {

namespace {

// Bytes per ReadResponse: large enough that framing costs nothing, small enough to stay well
// under any client's message limit.
constexpr std::size_t k_read_chunk = 256u << 10;

std::vector<std::string_view> split(std::string_view name) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto slash = name.find('/');
    parts.push_back(name.substr(0, slash));
    if (slash == std::string_view::npos) {
      return parts;
    }
    name.remove_prefix(slash + 1);
  }
}

Result<cas::Digest> digest_at(const std::vector<std::string_view>& parts, std::size_t i,
                              std::string_view name) {
  std::uint64_t size = 0;
  if (i + 1 < parts.size()) {
    const auto s = parts[i + 1];
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), size);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) {
      if (auto digest = cas::parse_digest(parts[i], size)) {
        return *digest;
      }
    }
  }
  return make_error(Errc::invalid_argument,
                    "resource_name '" + std::string(name) +
                        "': expected HASH/SIZE (64 lowercase hex digits, a size in bytes)");
}

// The blob a resource name names: `[INSTANCE/]blobs/HASH/SIZE` (reads), or
// `[INSTANCE/]uploads/UUID/blobs/HASH/SIZE[/…]` (writes). The instance name is accepted and
// ignored: every instance is the one store.
Result<cas::Digest> resource_digest(std::string_view name, bool upload) {
  const auto parts = split(name);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::size_t at = i;
    if (upload) {
      if (parts[i] != "uploads") {
        continue;
      }
      at = i + 2; // past the UUID
      if (at >= parts.size()) {
        break;
      }
    }
    if (parts[at] == "compressed-blobs") {
      return make_error(Errc::invalid_argument,
                        "resource_name '" + std::string(name) +
                            "': compressed-blobs are not served (GetCapabilities lists no "
                            "compressor); use blobs/HASH/SIZE");
    }
    if (parts[at] == "blobs") {
      return digest_at(parts, at + 1, name);
    }
    if (upload) {
      break;
    }
  }
  return make_error(Errc::invalid_argument, "resource_name '" + std::string(name) + "': expected " +
                                                (upload ? "[INSTANCE/]uploads/UUID/blobs/HASH/SIZE"
                                                        : "[INSTANCE/]blobs/HASH/SIZE"));
}

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
        m_response->set_committed_size(static_cast<std::int64_t>(m_digest.size));
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
      auto digest = resource_digest(m_request.resource_name(), true);
      if (!digest) {
        return std::move(digest).error();
      }
      m_digest = *digest;
      auto sink = m_ctx.ops.open_upload(m_caller, blob_route(RouteKind::cas, m_digest),
                                        BodyEncoding::identity, m_digest.size);
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
    if (m_request.write_offset() != static_cast<std::int64_t>(m_committed)) {
      return make_error(Errc::invalid_argument,
                        "write_offset " + std::to_string(m_request.write_offset()) + " where " +
                            std::to_string(m_committed) +
                            " bytes were written (this server does not resume writes)");
    }
    const auto& data = m_request.data();
    if (m_committed + data.size() > m_digest.size) {
      return make_error(Errc::invalid_argument, "more data than the " +
                                                    std::to_string(m_digest.size) +
                                                    " bytes the resource name says");
    }
    INGOT_TRY(m_sink->append(as_bytes(data)));
    m_committed += data.size();
    if (!m_request.finish_write()) {
      return false;
    }
    if (m_committed != m_digest.size) {
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
  std::unique_ptr<UploadSink> m_sink;
  std::uint64_t m_committed = 0;
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
    std::unique_ptr<cas::BlobReader> reader; // null until opened, and at the end
    bool opened = false;
    std::uint64_t left = 0;
  };
  auto state = std::make_shared<State>();
  return new Writer(
      m_ctx, GrpcMethod::bytestream_read,
      [this, request, state, caller = std::move(*caller)]() -> Next {
        if (!state->opened) {
          state->opened = true;
          auto digest = resource_digest(request->resource_name(), false);
          if (!digest) {
            return to_status(digest.error());
          }
          if (request->read_offset() < 0 || request->read_limit() < 0) {
            return invalid("read_offset and read_limit must not be negative");
          }
          const auto offset = static_cast<std::uint64_t>(request->read_offset());
          if (offset > digest->size) {
            return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                                "read_offset " + std::to_string(offset) + " is past the " +
                                    std::to_string(digest->size) + " bytes of the blob");
          }
          std::uint64_t length = digest->size - offset;
          if (request->read_limit() > 0) {
            length = std::min(length, static_cast<std::uint64_t>(request->read_limit()));
          }
          if (length == 0) {
            // The empty blob, or nothing left past the offset: no bytes, but it must exist.
            if (digest->size == 0) {
              return grpc::Status::OK;
            }
            auto missing = m_ctx.ops.find_missing(caller, {&*digest, 1});
            if (!missing) {
              return to_status(missing.error());
            }
            if (!missing->empty()) {
              return to_status(
                  make_error(Errc::not_found, "blob " + digest->to_string() + " is not stored"));
            }
            return grpc::Status::OK;
          }
          const std::string range =
              "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1);
          auto blob = m_ctx.ops.read_blob(caller, blob_route(RouteKind::cas, *digest),
                                          ReadRequest{range, {}});
          if (!blob) {
            return to_status(blob.error());
          }
          if (blob->digest.size != digest->size) {
            return to_status(make_error(Errc::not_found, "blob " + digest->to_string() +
                                                             " is stored with another size"));
          }
          state->reader = std::move(blob->reader);
          state->left = state->reader->length();
        }
        if (state->left == 0) {
          state->reader.reset();
          return grpc::Status::OK;
        }
        bytestream::ReadResponse chunk;
        auto& data = *chunk.mutable_data();
        data.resize(static_cast<std::size_t>(std::min<std::uint64_t>(state->left, k_read_chunk)));
        if (auto read = read_fully(*state->reader, data); !read.ok()) {
          return read;
        }
        state->left -= data.size();
        return chunk;
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
                     auto digest = resource_digest(request->resource_name(), true);
                     if (!digest) {
                       return to_status(digest.error());
                     }
                     auto missing = m_ctx.ops.find_missing(caller, {&*digest, 1});
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
