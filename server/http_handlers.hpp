// The HTTP handlers the route table (route.cpp) names: each turns a parsed request into a call
// of one operation (server/ops/ops.hpp) and its result into a response. No sockets and no
// Beast: Session reads the header and body, calls the row's handler and writes what it returns.
#pragma once

#include "server/api.hpp"
#include "server/blob_read.hpp"
#include "server/ops/ops.hpp"
#include "server/route.hpp"
#include "server/upload.hpp"

#include <memory>
#include <optional>
#include <string_view>

namespace ingot::server {

struct HttpRequest {
  const Route& route;
  std::string_view method;
  std::string_view path; // the target without its query (PROPFIND answers with it)
  std::string_view range;
  std::string_view accept_encoding;
  BodyEncoding encoding = BodyEncoding::identity; // BodyKind::stream, from Content-Encoding
  std::optional<std::uint64_t> content_length;
  std::string_view body;              // BodyKind::json: the whole body
  std::unique_ptr<UploadSink> upload; // BodyKind::stream: the sink the body went into
  std::string_view host;              // the Host header, as sent (the page at / names it)
  std::string_view checksum_sha256;   // X-Checksum-Sha256 (the mirror's expected digest)
  bool tls = false;                   // the request came over HTTPS
};

struct HttpReply {
  SimpleResponse simple;
  std::optional<BlobResponse> blob; // set: stream this blob (or answer its 416)
  // The operation would have waited for the disk in a memory-only try (Waits::memory_first):
  // run it again on the blocking pool; this reply is not sent.
  bool would_block = false;

  HttpReply(SimpleResponse s) : simple(std::move(s)) {} // NOLINT: a reply is its response
  HttpReply(BlobResponse b) : blob(std::move(b)) {}     // NOLINT
};

namespace http_handlers {

HttpReply healthz(Ops&, const Caller&, HttpRequest&);
HttpReply metrics(Ops&, const Caller&, HttpRequest&);
HttpReply stats(Ops&, const Caller&, HttpRequest&);
HttpReply gc(Ops&, const Caller&, HttpRequest&);
HttpReply gc_status(Ops&, const Caller&, HttpRequest&);
HttpReply status_page(Ops&, const Caller&, HttpRequest&); // GET and HEAD /

HttpReply read_blob(Ops&, const Caller&, HttpRequest&);
HttpReply remove_blob(Ops&, const Caller&, HttpRequest&);
HttpReply propfind(Ops&, const Caller&, HttpRequest&);
HttpReply mkcol(Ops&, const Caller&, HttpRequest&);
[[nodiscard]] Result<std::unique_ptr<UploadSink>> open_upload(Ops&, const Caller&,
                                                              const HttpRequest&);
HttpReply finish_upload(Ops&, const Caller&, HttpRequest&);

HttpReply find_missing(Ops&, const Caller&, HttpRequest&);
HttpReply batch_read(Ops&, const Caller&, HttpRequest&);
HttpReply batch_update(Ops&, const Caller&, HttpRequest&);

HttpReply get_tree(Ops&, const Caller&, HttpRequest&);
HttpReply get_ref(Ops&, const Caller&, HttpRequest&);
HttpReply put_ref(Ops&, const Caller&, HttpRequest&);
HttpReply delete_ref(Ops&, const Caller&, HttpRequest&);

HttpReply get_release(Ops&, const Caller&, HttpRequest&); // a record, or a file's blob
HttpReply publish_release(Ops&, const Caller&, HttpRequest&);
HttpReply yank_release(Ops&, const Caller&, HttpRequest&);
HttpReply keys(Ops&, const Caller&, HttpRequest&);
HttpReply audit(Ops&, const Caller&, HttpRequest&);

HttpReply nix_cache_info(Ops&, const Caller&, HttpRequest&); // GET, HEAD, and PUT (ignored)
HttpReply get_narinfo(Ops&, const Caller&, HttpRequest&);
HttpReply put_narinfo(Ops&, const Caller&, HttpRequest&);
HttpReply nix_pin(Ops&, const Caller&, HttpRequest&);
HttpReply nix_unpin(Ops&, const Caller&, HttpRequest&);

HttpReply read_mirror(Ops&, const Caller&, HttpRequest&); // GET and HEAD /mirror/NAME/PATH
HttpReply snapshot_mirror(Ops&, const Caller&, HttpRequest&);
HttpReply override_mirror(Ops&, const Caller&, HttpRequest&); // {"digest":"<hex>/<size>"}
HttpReply remove_mirror_override(Ops&, const Caller&, HttpRequest&);

} // namespace http_handlers

} // namespace ingot::server
