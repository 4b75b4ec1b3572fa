// What a GET or HEAD of a blob route answers: which blob (directly, or through an ac/kv
// entry), whether it may be served, and which bytes with which header fields.
#pragma once

#include "cas/store.hpp"
#include "server/http_fields.hpp"
#include "server/response_head.hpp"
#include "server/route.hpp"

#include <memory>
#include <string_view>

namespace ingot::server {

// The blob a cas, ac or kv route names. An ac value that parses as a REAPI ActionResult is
// only a hit while every blob it references is stored (ARCHITECTURE.md "Completeness"). A cas
// route's hash is returned as it is: whether that blob is stored shows when it is opened,
// which is the one index lookup a GET of it costs.
[[nodiscard]] Result<cas::Hash> resolve_blob(cas::Store& store, const Route& route);

struct ReadRequest {
  std::string_view range;           // the Range header, or empty
  std::string_view accept_encoding; // the Accept-Encoding header, or empty
};

// What a GET or HEAD of a blob answers.
struct BlobResponse {
  unsigned status = 200; // 200; 206 for a Range; 416 for a Range past the end (no reader)
  cas::Digest digest;    // the blob's: its size, and the ETag
  ByteRange range;       // 206: the bytes sent
  bool zstd = false;     // the stored zstd frame as it is, with Content-Encoding: zstd
  // GET /mirror/…: how it was answered (hit, miss, revalidated, stale), sent as X-Ingot-Mirror.
  std::string_view mirror;
  std::unique_ptr<cas::BlobReader> reader; // the body: reader->length() bytes
};

// Opens `hash` for a request: a Range is served from the decoded bytes; without one, a blob
// stored as zstd goes out as its zstd frame to a client that accepts zstd.
[[nodiscard]] Result<BlobResponse> open_blob(cas::Store& store, const cas::Hash& hash,
                                             const ReadRequest& request);

// The header fields of a 200 or 206 blob response, besides Content-Length.
void add_blob_fields(ResponseHead& head, const BlobResponse& response);

} // namespace ingot::server
