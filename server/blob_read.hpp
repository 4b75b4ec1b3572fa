// What a GET or HEAD of a blob route answers, decided without I/O: which blob (directly, or
// through an ac/kv entry), whether it may be served, and which bytes with which headers.
#pragma once

#include "cas/store.hpp"
#include "server/api.hpp"
#include "server/route.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ingot::server {

// The blob a cas, ac or kv route names. An ac value that parses as a REAPI ActionResult is
// only a hit while every blob it references is stored (ARCHITECTURE.md "Completeness").
[[nodiscard]] Result<cas::BlobInfo> resolve_blob(cas::Store& store, const Route& route);

struct BlobResponse {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers; // besides Content-Length
  std::unique_ptr<cas::BlobReader> reader;                  // the body: reader->length() bytes
};

struct ReadRequest {
  std::string_view range;           // the Range header, or empty
  std::string_view accept_encoding; // the Accept-Encoding header, or empty
};

// A range that cannot be served is a 416 with its Content-Range, as a simple response.
struct Unsatisfiable {
  SimpleResponse response;
  std::string content_range;
};

[[nodiscard]] Result<BlobResponse> plan_blob_read(cas::Store& store, const cas::BlobInfo& info,
                                                  const ReadRequest& request,
                                                  std::optional<Unsatisfiable>& unsatisfiable);

} // namespace ingot::server
