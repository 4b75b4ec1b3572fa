// One HTTP exchange with a server: one request out, one response back, one attempt per
// send. Whether to try again is the caller's decision (the ingot client's Client::call, the
// server's mirror), made in one place; a transport only reports what happened.
// net/http_pool.hpp makes the HTTP one; tests script their own.
#pragma once

#include "util/bytes.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ingot::net {

enum class Method { get, head, put, post, del };

struct Request {
  Method method = Method::get;
  std::string target; // path and query, below the server's base path
  std::string content_type;
  std::string body;
  // When set, the body streams from this file instead (`body` is ignored).
  std::filesystem::path body_file;
};

// More header fields for one request (the server's mirror: If-None-Match, If-Modified-Since).
using Fields = std::vector<std::pair<std::string, std::string>>;

struct Response {
  unsigned status = 0;
  std::string content_type;
  std::string etag;          // as sent, quotes included
  std::string last_modified; // as sent
  std::string location;      // a redirect's target, as sent
  std::string body;          // empty when a sink took it
  // Tries it took, set by the ingot client: an error after several names them.
  unsigned attempts = 1;
  // Whether the request carried a token, set by the ingot client: a 401 then means the token
  // was refused, else that one is needed.
  bool token_sent = false;
};

// Receives a 2xx response body as it arrives, so large blobs never sit in memory.
class BodySink {
public:
  virtual ~BodySink() = default;
  // Called before the first byte of each attempt: a retried download starts over.
  [[nodiscard]] virtual Result<void> restart() = 0;
  [[nodiscard]] virtual Result<void> write(ByteView data) = 0;
};

class Transport {
public:
  virtual ~Transport() = default;
  // Sends one request. Connection failures are Errc::io, expiries Errc::timeout, and a sink's
  // own error is returned as it is. Any status is a value, not an error. Called from several
  // threads at once.
  [[nodiscard]] virtual Result<Response> send(const Request& request, BodySink* sink) = 0;
  // The same with more header fields; a transport without them refuses any.
  [[nodiscard]] virtual Result<Response> send(const Request& request, BodySink* sink,
                                              const Fields& fields) {
    if (!fields.empty()) {
      return make_error(Errc::invalid_argument, "this transport sends no extra header fields");
    }
    return send(request, sink);
  }
  virtual std::uint64_t bytes_sent() const = 0;
  virtual std::uint64_t bytes_received() const = 0;
};

} // namespace ingot::net
