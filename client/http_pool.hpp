// HTTP/1.1 to one Ingot server over a pool of keep-alive connections. One call is one attempt:
// whether to try again is the Client's decision (client.hpp), made in one place.
#pragma once

#include "client/options.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace ingot::client {

enum class Method { get, head, put, post, del };

struct Request {
  Method method = Method::get;
  std::string target; // path and query, below the server's base path
  std::string content_type;
  std::string body;
  // When set, the body streams from this file instead (`body` is ignored).
  std::filesystem::path body_file;
};

struct Response {
  unsigned status = 0;
  std::string content_type;
  std::string body; // empty when a sink took it
};

// Receives a 2xx response body as it arrives, so large blobs never sit in memory.
class BodySink {
public:
  virtual ~BodySink() = default;
  // Called before the first byte of each attempt: a retried download starts over.
  [[nodiscard]] virtual Result<void> restart() = 0;
  [[nodiscard]] virtual Result<void> write(ByteView data) = 0;
};

class HttpPool {
public:
  HttpPool(ServerAddress server, std::string token, std::chrono::milliseconds timeout);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // Sends one request. Connection failures are Errc::io, expiries Errc::timeout, and a sink's
  // own error is returned as it is. Any HTTP status is a value, not an error. A pooled
  // connection the server closed while idle is replaced once, transparently.
  [[nodiscard]] Result<Response> send(const Request& request, BodySink* sink = nullptr);

  std::uint64_t bytes_sent() const;
  std::uint64_t bytes_received() const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace ingot::client
