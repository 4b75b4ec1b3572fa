// The Client: the retry policy (call), blobs and trees (client.hpp); refs and releases are in
// client_refs.cpp, the reading of answers in answers.cpp.
#include "client/client.hpp"

#include "client/answers.hpp"
#include "client/temp_path.hpp"
#include "net/http_pool.hpp"
#include "util/base64.hpp"
#include "util/file_io.hpp"

#include <atomic>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace ingot::client {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::size_t k_find_missing_chunk = 10'000;
constexpr std::size_t k_read_buffer = 1u << 20;

json digest_json(const cas::Digest& d) {
  return {{"hash", d.hex()}, {"size", d.size}};
}

Result<cas::Digest> digest_from(const json& j) {
  if (!j.is_object() || !j.contains("hash") || !j["hash"].is_string() || !j.contains("size") ||
      !j["size"].is_number_unsigned()) {
    return make_error(Errc::corrupt, "server sent a digest that is not {hash, size}");
  }
  return cas::parse_digest(j["hash"].get<std::string>(), j["size"].get<std::uint64_t>());
}

Error mismatch(const cas::Digest& want, const cas::Digest& got) {
  return make_error(Errc::corrupt, "blob " + want.to_string() + " arrived as " + got.to_string() +
                                       ": the server's copy is damaged (run ingot fsck on it)");
}

// A digest's size of 0 means "unknown" (a bare hash), unless it is the empty blob's. Any other
// size is part of what was asked for: the same hash at another size is another digest.
std::optional<Error> wrong_size(const cas::Digest& want, const cas::Digest& got) {
  if (want.size == got.size || (want.size == 0 && want.hash != cas::empty_digest().hash)) {
    return std::nullopt;
  }
  return make_error(Errc::not_found,
                    "blob " + want.hex() + " is " + std::to_string(got.size) + " bytes, not " +
                        std::to_string(want.size) + " as asked: no blob " + want.to_string() +
                        " is stored; ask for " + got.to_string() + " or the hash alone");
}

// Writes a download to a temporary file beside its destination, hashing as it goes. Errors
// name the destination: the temporary name is the client's business, not the user's.
class FileSink final : public BodySink {
public:
  FileSink(int fd, fs::path destination) : m_fd(fd), m_path(std::move(destination)) {}

  Result<void> restart() override {
    if (::ftruncate(m_fd, 0) != 0 || ::lseek(m_fd, 0, SEEK_SET) != 0) {
      return errno_error(errno, "cannot rewind " + m_path.string());
    }
    (void)m_hasher.finish(); // starts over
    return {};
  }

  Result<void> write(ByteView data) override {
    m_hasher.update(data);
    return write_all(m_fd, data, m_path);
  }

  cas::Digest finish() { return m_hasher.finish(); }

private:
  int m_fd;
  fs::path m_path;
  cas::Sha256 m_hasher;
};

// Tells the retry loop whether a failure was the sink's own (a full disk is not retried).
class GuardedSink final : public BodySink {
public:
  explicit GuardedSink(BodySink& inner) : m_inner(inner) {}
  Result<void> restart() override { return note(m_inner.restart()); }
  Result<void> write(ByteView data) override { return note(m_inner.write(data)); }
  bool failed() const { return m_failed; }

private:
  Result<void> note(Result<void> r) {
    m_failed = m_failed || !r;
    return r;
  }
  BodySink& m_inner;
  bool m_failed = false;
};

std::chrono::milliseconds backoff_before(unsigned attempt, const ClientOptions& o) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto cap = o.backoff.count();
  for (unsigned i = 2; i < attempt && cap < o.max_backoff.count(); ++i) {
    cap *= 2;
  }
  cap = std::min<std::int64_t>(cap, o.max_backoff.count());
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, cap)(rng));
}

} // namespace

fs::path temp_path_beside(const fs::path& file) {
  static std::atomic<std::uint64_t> counter{0};
  return file.parent_path() /
         ("." + file.filename().string() + ".ingot-" + std::to_string(::getpid()) + "-" +
          std::to_string(counter.fetch_add(1)));
}

struct Client::Counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> retries{0};
};

Result<std::unique_ptr<Client>> Client::create(ClientOptions options) {
  auto address = parse_server_url(options.server);
  if (!address) {
    return std::move(address).error();
  }
  auto transport = net::make_http_transport(*address, options.token, options.timeout);
  return create(std::move(options), std::move(transport));
}

Result<std::unique_ptr<Client>> Client::create(ClientOptions options,
                                               std::unique_ptr<Transport> transport) {
  if (options.parallelism == 0 || options.max_attempts == 0) {
    return make_error(Errc::invalid_argument, "parallelism and attempts must be at least 1");
  }
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(transport)));
}

Client::Client(ClientOptions options, std::unique_ptr<Transport> transport)
    : m_options(std::move(options)), m_transport(std::move(transport)),
      m_counters(std::make_unique<Counters>()) {}

Client::~Client() = default;

TransferCounters Client::counters() const {
  return {m_counters->requests.load(), m_counters->retries.load(), m_transport->bytes_sent(),
          m_transport->bytes_received()};
}

Result<Response> Client::call(const Request& request, BodySink* sink) {
  for (unsigned attempt = 1;; ++attempt) {
    if (attempt > 1) {
      ++m_counters->retries;
      std::this_thread::sleep_for(backoff_before(attempt, m_options));
    }
    ++m_counters->requests;
    std::optional<GuardedSink> guard;
    if (sink != nullptr) {
      guard.emplace(*sink);
    }
    auto response = m_transport->send(request, guard ? &*guard : nullptr);
    const bool last = attempt >= m_options.max_attempts;
    if (!response) {
      const auto code = response.error().code;
      const bool transient = code == Errc::io || code == Errc::timeout;
      if ((guard && guard->failed()) || !transient || last) {
        auto error = std::move(response).error();
        if (attempt > 1 && transient) {
          error.message += " (gave up after " + std::to_string(attempt) + " tries)";
        }
        return error;
      }
      continue;
    }
    response->attempts = attempt;
    response->token_sent = !m_options.token.empty();
    if (!retryable(response->status) || last) {
      return response;
    }
  }
}

Result<std::vector<cas::Digest>> Client::find_missing(std::span<const cas::Digest> digests) {
  std::vector<cas::Digest> missing;
  for (std::size_t begin = 0; begin < digests.size(); begin += k_find_missing_chunk) {
    const auto chunk =
        digests.subspan(begin, std::min(k_find_missing_chunk, digests.size() - begin));
    json list = json::array();
    for (const auto& d : chunk) {
      list.push_back(digest_json(d));
    }
    Request request{Method::post,
                    "/v1/blobs:findMissing",
                    "application/json",
                    json{{"digests", std::move(list)}}.dump(),
                    {}};
    auto j = json_answer(call(request), "findMissing");
    if (!j) {
      return std::move(j).error();
    }
    if (!j->contains("missing") || !(*j)["missing"].is_array()) {
      return make_error(Errc::corrupt, "findMissing: the answer has no \"missing\" list");
    }
    for (const auto& item : (*j)["missing"]) {
      auto d = digest_from(item);
      if (!d) {
        return std::move(d).error();
      }
      missing.push_back(*d);
    }
  }
  return missing;
}

Result<void> Client::put(const cas::Digest& digest, std::string_view bytes) {
  Request request{
      Method::put, "/cas/" + digest.hex(), "application/octet-stream", std::string(bytes), {}};
  auto response = call(request);
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, "upload of " + digest.to_string());
  }
  return {};
}

Result<void> Client::put_file(const cas::Digest& digest, const fs::path& file) {
  Request request{Method::put, "/cas/" + digest.hex(), "application/octet-stream", {}, file};
  auto response = call(request);
  if (!response) {
    return std::move(response).error();
  }
  if (response->status / 100 != 2) {
    return status_error(*response, "upload of " + file.string());
  }
  return {};
}

Result<void> Client::batch_update(std::span<const BlobData> blobs) {
  json list = json::array();
  for (const auto& b : blobs) {
    auto item = digest_json(b.digest);
    item["data"] = base64_encode(as_bytes(b.bytes));
    list.push_back(std::move(item));
  }
  Request request{Method::post,
                  "/v1/blobs:batchUpdate",
                  "application/json",
                  json{{"requests", std::move(list)}}.dump(),
                  {}};
  auto j = json_answer(call(request), "batchUpdate");
  if (!j) {
    return std::move(j).error();
  }
  const auto& responses = (*j)["responses"];
  if (!responses.is_array() || responses.size() != blobs.size()) {
    return make_error(Errc::corrupt, "batchUpdate: the answer does not list every blob");
  }
  for (const auto& r : responses) {
    const auto status = r.value("status", 0u);
    if (status != 200) {
      return make_error(errc_of(status), "upload of " + r.value("hash", std::string("?")) +
                                             ": HTTP " + std::to_string(status) + " " +
                                             r.value("message", std::string()));
    }
  }
  return {};
}

Result<std::vector<Result<std::string>>> Client::batch_read(std::span<const cas::Digest> digests) {
  json list = json::array();
  for (const auto& d : digests) {
    list.push_back(digest_json(d));
  }
  Request request{Method::post,
                  "/v1/blobs:batchRead",
                  "application/json",
                  json{{"digests", std::move(list)}}.dump(),
                  {}};
  auto j = json_answer(call(request), "batchRead");
  if (!j) {
    return std::move(j).error();
  }
  const auto& responses = (*j)["responses"];
  if (!responses.is_array() || responses.size() != digests.size()) {
    return make_error(Errc::corrupt, "batchRead: the answer does not list every blob");
  }
  std::vector<Result<std::string>> out;
  out.reserve(digests.size());
  for (std::size_t i = 0; i < digests.size(); ++i) {
    const auto& r = responses[i];
    const auto status = r.value("status", 0u);
    if (status != 200) {
      out.emplace_back(make_error(errc_of(status), "blob " + digests[i].to_string() + ": HTTP " +
                                                       std::to_string(status) + " " +
                                                       r.value("message", std::string())));
      continue;
    }
    auto data = r.contains("data") && r["data"].is_string()
                    ? base64_decode(r["data"].get<std::string>())
                    : std::nullopt;
    if (!data) {
      out.emplace_back(make_error(Errc::corrupt, "batchRead: blob " + digests[i].to_string() +
                                                     " came without valid base64 data"));
      continue;
    }
    if (const auto got = cas::digest_of(*data); got != digests[i]) {
      out.emplace_back(mismatch(digests[i], got));
      continue;
    }
    out.emplace_back(std::move(*data));
  }
  return out;
}

Result<std::string> Client::get(const cas::Digest& digest) {
  auto response = call(Request{Method::get, "/cas/" + digest.hex(), {}, {}, {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status != 200) {
    return status_error(*response, "blob " + digest.to_string());
  }
  const auto got = cas::digest_of(response->body);
  if (got.hash != digest.hash) {
    return mismatch(digest, got);
  }
  if (auto e = wrong_size(digest, got)) {
    return std::move(*e);
  }
  return std::move(response->body);
}

Result<void> Client::get_to_file(const cas::Digest& digest, const fs::path& file, unsigned mode) {
  const auto temp = temp_path_beside(file);
  auto fd = open_file(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (!fd) {
    return std::move(fd).error();
  }
  FileSink sink(fd->get(), file);
  const auto fail = [&](Error e) -> Result<void> {
    ::unlink(temp.c_str());
    return e;
  };
  auto response = call(Request{Method::get, "/cas/" + digest.hex(), {}, {}, {}}, &sink);
  if (!response) {
    return fail(std::move(response).error());
  }
  if (response->status != 200) {
    return fail(status_error(*response, "blob " + digest.to_string()));
  }
  const auto got = sink.finish();
  if (got.hash != digest.hash) {
    return fail(mismatch(digest, got));
  }
  if (auto e = wrong_size(digest, got)) {
    return fail(std::move(*e));
  }
  if (::fchmod(fd->get(), mode) != 0) {
    return fail(errno_error(errno, "cannot set the mode of " + temp.string()));
  }
  fd->reset();
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    return fail(errno_error(errno, "cannot rename " + temp.string() + " to " + file.string()));
  }
  return {};
}

Result<std::string> Client::get_tree(const cas::Digest& root) {
  auto response = call(Request{
      Method::get, "/v1/trees/" + root.hex() + "/" + std::to_string(root.size), {}, {}, {}});
  if (!response) {
    return std::move(response).error();
  }
  if (response->status != 200) {
    return status_error(*response, "tree " + root.to_string());
  }
  return std::move(response->body);
}

Result<cas::Digest> digest_file(const fs::path& file) {
  auto fd = open_file(file, O_RDONLY | O_CLOEXEC);
  if (!fd) {
    return std::move(fd).error();
  }
  std::vector<std::uint8_t> buffer(k_read_buffer);
  cas::Sha256 hasher;
  for (std::uint64_t offset = 0;;) {
    auto n = pread_full(fd->get(), buffer, offset, file);
    if (!n) {
      return std::move(n).error();
    }
    hasher.update(ByteView(buffer.data(), *n));
    offset += *n;
    if (*n < buffer.size()) {
      break;
    }
  }
  return hasher.finish();
}

} // namespace ingot::client
