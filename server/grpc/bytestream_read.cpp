// google.bytestream.ByteStream.Read over the operations: a CAS blob (resource_name.hpp) from
// an offset, plain or as one zstd stream (compressed-blobs/zstd/…). Responses are written by
// hand, from mappings of the blob file where that is safe (docs/architecture.md, "gRPC").
#include "cas/codec.hpp"
#include "server/grpc/call.hpp"
#include "server/grpc/resource_name.hpp"
#include "server/grpc/services.hpp"
#include "server/grpc/stream_writer.hpp"

#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ingot::server::grpc_front {

namespace {

// Bytes per ReadResponse: large enough that framing costs nothing, small enough to stay well
// under any client's message limit (4 MiB by default).
constexpr std::size_t k_read_chunk = 1u << 20;

// A ReadResponse is written by hand, to read the blob's bytes straight into the slice that is
// sent (no copy into a string, then a message, then a buffer): field 10 (`data`, length-
// delimited), its length as a varint, then the bytes.
constexpr std::uint8_t k_data_tag = (10u << 3) | 2u;
constexpr std::size_t k_max_header = 1 + 10;

std::size_t put_header(std::uint8_t* out, std::size_t length) {
  std::size_t n = 0;
  out[n++] = k_data_tag;
  do {
    const auto low = static_cast<std::uint8_t>(length & 0x7fu);
    length >>= 7;
    out[n++] = length != 0 ? static_cast<std::uint8_t>(low | 0x80u) : low;
  } while (length != 0);
  return n;
}

// Bytes of a blob file mapped at once: responses are cut from a window, which is unmapped
// once gRPC releases the last of them. Mapping reads nothing; each response's pages are read
// in (populate) on the blocking pool just before it is queued.
constexpr std::size_t k_window = 32u << 20;

std::uint64_t page_size() {
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

class Window {
public:
  // Maps `length` bytes of `fd` from `offset`; nullptr when it cannot.
  static Window* map(int fd, std::uint64_t offset, std::size_t length) {
    const std::uint64_t base = offset - offset % page_size();
    const auto size = static_cast<std::size_t>(offset - base) + length;
    void* at = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(base));
    return at == MAP_FAILED ? nullptr : new Window(at, size, base);
  }

  bool holds(std::uint64_t offset, std::size_t length) const {
    return offset >= m_offset && offset + length <= m_offset + m_size;
  }

  // Reads these bytes' pages in, so that sending them never waits for the disk on a gRPC
  // thread. False when a page cannot be read (an I/O error, a file cut short since): the
  // caller then reads the bytes with pread, which reports the error to this call alone.
  bool populate(std::uint64_t offset, std::size_t length) {
    const std::uint64_t from = offset - offset % page_size();
    auto* at = static_cast<std::uint8_t*>(m_base) + (from - m_offset);
    if (::madvise(at, static_cast<std::size_t>(offset - from) + length, MADV_POPULATE_READ) == 0) {
      return true;
    }
    return errno == EINVAL; // a kernel before 5.14: pages are faulted in as they are sent
  }

  // A slice of the mapped bytes, holding the window until gRPC releases it.
  grpc::Slice slice(std::uint64_t offset, std::size_t length) {
    m_refs.fetch_add(1, std::memory_order_relaxed);
    auto* at = static_cast<std::uint8_t*>(m_base) + (offset - m_offset);
    return grpc::Slice(grpc_slice_new_with_user_data(at, length, &Window::unref, this),
                       grpc::Slice::STEAL_REF);
  }

  static void unref(void* window) {
    auto* w = static_cast<Window*>(window);
    if (w->m_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      ::munmap(w->m_base, w->m_size);
      delete w;
    }
  }

private:
  Window(void* base, std::size_t size, std::uint64_t offset)
      : m_base(base), m_size(size), m_offset(offset) {}

  void* m_base;
  std::size_t m_size;
  std::uint64_t m_offset; // of m_base in the file
  std::atomic<int> m_refs{1};
};

// One ReadResponse of `length` data bytes, which `fill` writes in place.
template <class Fill>
grpc::Status framed(std::size_t length, grpc::ByteBuffer& out, Fill fill) {
  std::uint8_t header[k_max_header];
  const auto header_size = put_header(header, length);
  // Never inlined: an inlined slice keeps its bytes in the struct, which is copied below.
  grpc_slice slice = grpc_slice_malloc_large(header_size + length);
  grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
  auto* start = GRPC_SLICE_START_PTR(slice);
  std::memcpy(start, header, header_size);
  if (auto filled = fill(MutableByteView(start + header_size, length)); !filled.ok()) {
    return filled;
  }
  out = grpc::ByteBuffer(&owned, 1);
  return grpc::Status::OK;
}

// What a Read sends, a chunk at a time: the blob's bytes from an offset, or one zstd stream of
// them (the stored frame as it is, when the blob is kept compressed and read from 0).
class ReadSource {
public:
  grpc::Status open(Ops& ops, const Caller& caller, const bytestream::ReadRequest& request,
                    bool may_map) {
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
      if (digest == cas::empty_digest()) {
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
    if (auto span = m_reader->file_span(); span && !m_encoder) {
      // The file must hold every byte it is recorded with (past its end, a mapping has none).
      // Blob files are never truncated in place: GC unlinks them.
      struct stat st {};
      if (::fstat(span->fd, &st) != 0 ||
          static_cast<std::uint64_t>(st.st_size) < span->offset + span->length) {
        return {grpc::StatusCode::DATA_LOSS, "the stored blob ends before its recorded size"};
      }
      m_span = span;
      // Over TLS, gRPC encrypts the bytes in user space, where a page that cannot be read
      // (an I/O error) would be a SIGBUS for the whole server: they are copied with pread,
      // which fails this call alone. In plain HTTP/2 only the kernel reads them.
      m_map = may_map;
    }
    return grpc::Status::OK;
  }

  // The next ReadResponse into `message`, and `more` set; `more` cleared once everything is
  // sent. A failed read keeps its code (an I/O error is not corruption: clients retry the one
  // and not the other).
  grpc::Status next(grpc::ByteBuffer& message, bool& more) {
    more = false;
    if (!m_encoder) {
      if (m_left == 0) {
        return grpc::Status::OK;
      }
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(m_left, k_read_chunk));
      grpc::Status read = grpc::Status::OK;
      if (m_span) {
        const auto offset = m_span->offset + (m_span->length - m_left);
        if (!(m_map && mapped(offset, n, message))) {
          m_map = false; // from here on, the bytes are copied
          read = framed(n, message,
                        [&](MutableByteView out) { return pread_fully(m_span->fd, offset, out); });
        }
      } else {
        read =
            framed(n, message, [this](MutableByteView out) { return read_fully(*m_reader, out); });
      }
      if (!read.ok()) {
        return read;
      }
      m_left -= n;
      more = true;
      return grpc::Status::OK;
    }
    const auto sink = [this](ByteView bytes) -> Result<void> {
      m_out.append(as_chars(bytes));
      return {};
    };
    while (m_out.size() < k_read_chunk && !m_finished) {
      if (m_left == 0) {
        if (auto done = m_encoder->finish(sink); !done) {
          return to_status(done.error());
        }
        m_finished = true;
        break;
      }
      std::string raw(static_cast<std::size_t>(std::min<std::uint64_t>(m_left, k_read_chunk)),
                      '\0');
      if (auto read = read_fully(*m_reader, raw); !read.ok()) {
        return read;
      }
      m_left -= raw.size();
      if (auto written = m_encoder->write(as_bytes(raw), sink); !written) {
        return to_status(written.error());
      }
    }
    if (!m_out.empty()) {
      const auto n = std::min(m_out.size(), k_read_chunk);
      (void)framed(n, message, [this](MutableByteView out) {
        std::memcpy(out.data(), m_out.data(), out.size());
        return grpc::Status::OK;
      });
      m_out.erase(0, n);
      more = true;
    }
    return grpc::Status::OK;
  }

  // True while the blob's bytes are sent from a mapping of its file.
  bool mapped() const { return m_map; }

  ReadSource() = default;
  ReadSource(const ReadSource&) = delete;
  ReadSource& operator=(const ReadSource&) = delete;
  ~ReadSource() { release_window(); }

private:
  // The response for `length` bytes of the file from `offset`, as a slice of a mapping; false
  // when the file cannot be mapped or its pages read in.
  bool mapped(std::uint64_t offset, std::size_t length, grpc::ByteBuffer& message) {
    if (!m_window || !m_window->holds(offset, length)) {
      release_window();
      const auto rest = m_span->offset + m_span->length - offset;
      m_window = Window::map(m_span->fd, offset,
                             static_cast<std::size_t>(std::min<std::uint64_t>(rest, k_window)));
    }
    if (!m_window || !m_window->populate(offset, length)) {
      return false;
    }
    std::uint8_t header[k_max_header];
    grpc::Slice slices[2] = {grpc::Slice(header, put_header(header, length)),
                             m_window->slice(offset, length)};
    message = grpc::ByteBuffer(slices, 2);
    return true;
  }

  // Fills `out` from `fd` at `offset`: an error, or DATA_LOSS when the file ends first.
  static grpc::Status pread_fully(int fd, std::uint64_t offset, MutableByteView out) {
    std::size_t done = 0;
    while (done < out.size()) {
      const auto n =
          ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return to_status(
            make_error(Errc::io, std::string("reading the blob file: ") + std::strerror(errno)));
      }
      if (n == 0) {
        return {grpc::StatusCode::DATA_LOSS, "the stored blob ends before its recorded size"};
      }
      done += static_cast<std::size_t>(n);
    }
    return grpc::Status::OK;
  }

  void release_window() {
    if (m_window) {
      Window::unref(m_window);
      m_window = nullptr;
    }
  }

  // Compressing on the fly: fast, as the bytes go out once.
  static constexpr int k_zstd_level = 1;

  std::unique_ptr<cas::BlobReader> m_reader;
  std::optional<cas::FileSpan> m_span; // the file and range m_reader reads, when a file's
  bool m_map = false;                  // sent from mappings (not over TLS: see open())
  Window* m_window = nullptr;          // the part of it mapped now, one reference held
  std::uint64_t m_left = 0;
  std::unique_ptr<cas::ZstdEncoder> m_encoder; // set while compressing on the fly
  std::string m_out;                           // compressed bytes not sent yet
  bool m_finished = false;
};

// A Read: responses are made on the blocking pool while the one before is being sent, so
// that reading the blob and writing to the network overlap. At most ahead() responses wait;
// reactions and the pool meet under one mutex, and gRPC is called with it released.
class ReadReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
public:
  ReadReactor(ServerContext& ctx, Caller caller, bytestream::ReadRequest request)
      : m_ctx(ctx), m_clock{GrpcMethod::bytestream_read}, m_caller(std::move(caller)),
        m_request(std::move(request)) {
    m_producing = true;
    schedule();
  }

  void OnWriteDone(bool ok) override {
    std::deque<grpc::ByteBuffer> dropped; // released with the mutex free (it may unmap)
    std::unique_lock lock(m_mutex);
    m_writing = false;
    if (!ok) {
      // Cancelled: the client went away, or the deadline passed. The producer, if running,
      // sees it and ends the call.
      m_end = grpc::Status{grpc::StatusCode::CANCELLED, "the call was cancelled"};
      dropped.swap(m_ready);
    }
    act(lock);
  }

  // Stops the producer early (a write in flight still ends with OnWriteDone(false)).
  void OnCancel() override { m_cancelled.store(true, std::memory_order_relaxed); }

  void OnDone() override { delete this; }

private:
  // Responses made ahead: mapped ones cost address space only; copied ones cost memory.
  std::size_t ahead() const { return m_source.mapped() ? 4 : 1; }

  void schedule() {
    m_ctx.run_blocking([this] { produce(); });
  }

  // On the blocking pool: makes responses until ahead() wait, the blob is sent, or it fails.
  void produce() {
    for (;;) {
      grpc::ByteBuffer message;
      bool more = false;
      grpc::Status status = grpc::Status::OK;
      if (m_cancelled.load(std::memory_order_relaxed)) {
        status = {grpc::StatusCode::CANCELLED, "the call was cancelled"};
      } else if (!m_opened) {
        m_opened = true;
        status = m_source.open(m_ctx.ops, m_caller, m_request, m_ctx.options.grpc_tls_cert.empty());
      }
      if (status.ok()) {
        status = m_source.next(message, more);
      }
      std::unique_lock lock(m_mutex);
      if (m_end) {
        m_producing = false; // cancelled meanwhile
      } else if (!status.ok() || !more) {
        m_end = status;
        m_producing = false;
      } else {
        m_ready.push_back(std::move(message));
        m_producing = m_ready.size() < ahead();
      }
      const bool again = m_producing;
      act(lock);
      if (!again) {
        return;
      }
    }
  }

  // Starts the next write, or finishes the call once nothing is left to send; with the
  // mutex held on entry, released on the way out.
  void act(std::unique_lock<std::mutex>& lock) {
    if (m_writing || m_finished) {
      return;
    }
    if (!m_ready.empty()) {
      m_current = std::move(m_ready.front());
      m_ready.pop_front();
      m_writing = true;
      const bool refill = !m_producing && !m_end;
      m_producing = m_producing || refill;
      lock.unlock();
      StartWrite(&m_current);
      if (refill) {
        schedule();
      }
      return;
    }
    if (m_end && !m_producing) {
      m_finished = true;
      const auto status = *m_end;
      lock.unlock();
      Finish(m_clock.ended(m_ctx.metrics, status));
    }
  }

  ServerContext& m_ctx;
  CallClock m_clock;
  Caller m_caller;
  bytestream::ReadRequest m_request;
  ReadSource m_source; // the producer's alone
  bool m_opened = false;

  std::mutex m_mutex;
  std::deque<grpc::ByteBuffer> m_ready; // made, not yet written
  grpc::ByteBuffer m_current;           // being written
  bool m_writing = false;
  bool m_producing = false;
  bool m_finished = false;
  std::optional<grpc::Status> m_end; // set once all is made, on an error, or on cancel
  std::atomic<bool> m_cancelled{false};
};

} // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>*
ByteStreamService::Read(grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw) {
  using Refused = StreamWriter<grpc::ByteBuffer>;
  auto caller = admit(m_ctx, *call, Op::read_blob);
  if (!caller) {
    return Refused::refuse(m_ctx, GrpcMethod::bytestream_read, to_status(caller.error()));
  }
  bytestream::ReadRequest request;
  grpc::ByteBuffer copy(*raw); // shares the slices; parsing consumes a buffer
  if (auto parsed =
          grpc::SerializationTraits<bytestream::ReadRequest>::Deserialize(&copy, &request);
      !parsed.ok()) {
    return Refused::refuse(m_ctx, GrpcMethod::bytestream_read,
                           {grpc::StatusCode::INVALID_ARGUMENT, "a malformed ReadRequest"});
  }
  return new ReadReactor(m_ctx, std::move(*caller), std::move(request));
}

} // namespace ingot::server::grpc_front
