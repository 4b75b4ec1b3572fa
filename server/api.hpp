// Handlers that turn a small request into a small response, with no I/O of their own
// (Beast's handle_request pattern): the JSON endpoints and error mapping.
#pragma once

#include "cas/store.hpp"
#include "util/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ingot::server {

struct SimpleResponse {
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

// The HTTP status for an engine error (ARCHITECTURE.md "Status codes").
unsigned status_of(const Error& error);
// A one-line plain-text error body that says what was wrong.
SimpleResponse error_response(unsigned status, std::string_view message);
inline SimpleResponse error_response(const Error& error) {
  return error_response(status_of(error), error.message);
}

// Largest JSON body accepted by the /v1/blobs endpoints.
inline constexpr std::size_t k_max_json_body = 64u << 20;
// Largest blob accepted inline in a batchUpdate, and returned by batchRead.
inline constexpr std::uint64_t k_max_batch_blob = 4u << 20;

// A WebDAV 207 Multi-Status for one resource: a key of `size` bytes, or a collection.
SimpleResponse propfind_response(std::string_view href, std::optional<std::uint64_t> size);

class Ops;
struct Caller;

// The HTTP adapters of the batch operations (server/ops/blobs.cpp): JSON in and out, a status
// per blob.
SimpleResponse find_missing(Ops& ops, const Caller& caller, std::string_view body);
// GET /v1/gc: the GC part of /v1/stats alone: whether a run is under way, the last run's
// report, the bound and its watermarks, what is used and pinned, and the totals of every run.
SimpleResponse gc_status(Ops& ops, const Caller& caller);
SimpleResponse batch_read(Ops& ops, const Caller& caller, std::string_view body);
SimpleResponse batch_update(Ops& ops, const Caller& caller, std::string_view body);

} // namespace ingot::server
