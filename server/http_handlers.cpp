#include "server/http_handlers.hpp"

#include "server/gc_report_json.hpp"
#include "server/refs.hpp"
#include "server/releases.hpp"
#include "util/size.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

namespace ingot::server::http_handlers {

namespace {

// An operation's error as the one-line plain-text answer, or `ok` when it succeeded.
template <class T, class Ok>
HttpReply reply(Result<T> result, Ok ok) {
  if (!result) {
    HttpReply error = error_response(result.error());
    error.would_block = result.error().code == Errc::would_block;
    return error;
  }
  return ok(std::move(*result));
}

// The same, for an operation whose value is already a reply (a response, a blob).
template <class T>
HttpReply reply(Result<T> result) {
  return reply(std::move(result), [](T value) { return HttpReply(std::move(value)); });
}

HttpReply empty_ok(Result<void> result, unsigned status = 200) {
  if (!result) {
    return error_response(result.error());
  }
  return SimpleResponse{status, "text/plain", ""};
}

} // namespace

HttpReply healthz(Ops&, const Caller&, HttpRequest&) {
  return SimpleResponse{200, "text/plain", "ok\n"};
}

HttpReply metrics(Ops& ops, const Caller& caller, HttpRequest&) {
  return reply(ops.stats(caller), [&](const StoreSnapshot& snapshot) {
    return SimpleResponse{200, "text/plain; version=0.0.4", ops.metrics().prometheus(snapshot)};
  });
}

HttpReply stats(Ops& ops, const Caller& caller, HttpRequest&) {
  return reply(ops.stats(caller), [&](const StoreSnapshot& snapshot) {
    return SimpleResponse{200, "application/json", ops.metrics().stats_json(snapshot)};
  });
}

HttpReply status_page(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.status_page(caller, request.host, request.tls ? Tls::yes : Tls::no),
               [](std::string page) {
                 return SimpleResponse{200, "text/html; charset=utf-8", std::move(page)};
               });
}

// POST /v1/gc: evicts (or with ?dry_run=1 only reports) down to the low watermark, or to
// ?target=SIZE.
HttpReply gc(Ops& ops, const Caller& caller, HttpRequest& request) {
  cas::GcOptions options;
  const auto& q = request.route.query;
  if (const auto dry = query_param(q, "dry_run"); dry == "1" || dry == "true") {
    options.dry_run = cas::DryRun::yes;
  }
  if (const auto value = query_param(q, "target"); !value.empty()) {
    auto size = parse_size(value);
    if (!size) {
      return error_response(400, "target '" + value + "' is not a size like 10GiB");
    }
    options.target = *size;
  }
  return reply(ops.gc(caller, options), [](const cas::GcReport& report) {
    return SimpleResponse{200, "application/json", gc_report_json(report).dump(2) + "\n"};
  });
}

HttpReply gc_status(Ops& ops, const Caller& caller, HttpRequest&) {
  return server::gc_status(ops, caller);
}

HttpReply read_blob(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.read_blob(caller, request.route, {request.range, request.accept_encoding}));
}

HttpReply remove_blob(Ops& ops, const Caller& caller, HttpRequest& request) {
  return empty_ok(ops.remove_blob(caller, request.route));
}

// WebDAV clients probe with PROPFIND before writing: answer for the target itself (depth
// 0). Collections are implicit (keys imply them), so a collection name always exists.
HttpReply propfind(Ops& ops, const Caller& caller, HttpRequest& request) {
  if (request.route.collection) {
    return propfind_response(request.path, std::nullopt);
  }
  return reply(ops.stat_blob(caller, request.route),
               [&](std::uint64_t size) { return propfind_response(request.path, size); });
}

// Keys imply their directories: there is nothing to create.
HttpReply mkcol(Ops&, const Caller&, HttpRequest&) {
  return SimpleResponse{201, "text/plain", ""};
}

Result<std::unique_ptr<UploadSink>> open_upload(Ops& ops, const Caller& caller,
                                                const HttpRequest& request) {
  return ops.open_upload(caller, request.route, request.encoding, request.content_length);
}

HttpReply finish_upload(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.finish_upload(caller, request.route, std::move(request.upload)),
               [](const cas::Digest&) {
                 return SimpleResponse{200, "text/plain", ""};
               });
}

HttpReply find_missing(Ops& ops, const Caller& caller, HttpRequest& request) {
  return server::find_missing(ops, caller, request.body);
}

HttpReply batch_read(Ops& ops, const Caller& caller, HttpRequest& request) {
  return server::batch_read(ops, caller, request.body);
}

HttpReply batch_update(Ops& ops, const Caller& caller, HttpRequest& request) {
  return server::batch_update(ops, caller, request.body);
}

HttpReply get_tree(Ops& ops, const Caller& caller, HttpRequest& request) {
  return server::get_tree(ops, caller, request.route);
}

HttpReply get_ref(Ops& ops, const Caller& caller, HttpRequest& request) {
  return server::get_ref(ops, caller, request.route);
}

HttpReply put_ref(Ops& ops, const Caller& caller, HttpRequest& request) {
  return server::put_ref(ops, caller, request.route, request.body);
}

HttpReply delete_ref(Ops& ops, const Caller& caller, HttpRequest& request) {
  return server::delete_ref(ops, caller, request.route);
}

HttpReply get_release(Ops& ops, const Caller& caller, HttpRequest& request) {
  if (Releases::is_file(request.route)) {
    return read_blob(ops, caller, request);
  }
  return reply(ops.get_release(caller, request.route));
}

HttpReply publish_release(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.publish_release(caller, request.route, request.body));
}

HttpReply yank_release(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.yank_release(caller, request.route, request.body));
}

HttpReply keys(Ops& ops, const Caller& caller, HttpRequest&) {
  return reply(ops.keys(caller));
}

HttpReply audit(Ops& ops, const Caller& caller, HttpRequest&) {
  return reply(ops.audit(caller));
}

// nix PUTs nix-cache-info only when its GET failed; the answer is the server's whatever it
// sends, so the PUT succeeds and changes nothing.
HttpReply nix_cache_info(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.nix_cache_info(caller), [&](std::string info) {
    if (request.method == "PUT") {
      return SimpleResponse{200, "text/plain", "ignored: the server sets nix-cache-info\n"};
    }
    return SimpleResponse{200, "text/x-nix-cache-info", std::move(info)};
  });
}

HttpReply get_narinfo(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.get_narinfo(caller, request.route.hash32), [](std::string text) {
    return SimpleResponse{200, "text/x-nix-narinfo", std::move(text)};
  });
}

HttpReply put_narinfo(Ops& ops, const Caller& caller, HttpRequest& request) {
  return empty_ok(ops.put_narinfo(caller, request.route.hash32, request.body));
}

HttpReply nix_pin(Ops& ops, const Caller& caller, HttpRequest& request) {
  return reply(ops.pin_nix(caller, request.route.hash32), [](std::size_t blobs) {
    return SimpleResponse{200, "application/json",
                          nlohmann::json{{"pinned_blobs", blobs}}.dump() + "\n"};
  });
}

HttpReply nix_unpin(Ops& ops, const Caller& caller, HttpRequest& request) {
  return empty_ok(ops.unpin_nix(caller, request.route.hash32));
}

// The expected SHA-256, from ?sha256= or X-Checksum-Sha256 (Artifactory's and Nexus's header).
HttpReply read_mirror(Ops& ops, const Caller& caller, HttpRequest& request) {
  std::string expected_hex = query_param(request.route.query, "sha256");
  if (expected_hex.empty()) {
    expected_hex = std::string(request.checksum_sha256);
  }
  std::optional<cas::Hash> expected;
  if (!expected_hex.empty()) {
    for (char& c : expected_hex) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    auto hash = cas::parse_hash(expected_hex);
    if (!hash) {
      return error_response(400, "sha256 must be 64 hex digits, not '" + expected_hex + "'");
    }
    expected = *hash;
  }
  return reply(
      ops.read_mirror(caller, request.route, {request.range, request.accept_encoding}, expected));
}

// POST /v1/mirror/NAME/snapshots/SNAPSHOT[?pin=1]
HttpReply snapshot_mirror(Ops& ops, const Caller& caller, HttpRequest& request) {
  const auto pin = query_param(request.route.query, "pin");
  return reply(ops.snapshot_mirror(caller, request.route.mirror, request.route.snapshot,
                                   pin == "1" || pin == "true" ? PinRef::yes : PinRef::no),
               [](const MirrorSnapshot& made) {
                 return SimpleResponse{
                     200, "application/json",
                     nlohmann::json{{"ref", made.ref},
                                    {"root", {{"hash", made.root.hex()}, {"size", made.root.size}}},
                                    {"files", made.files},
                                    {"skipped", made.skipped},
                                    {"pinned", made.pinned}}
                             .dump() +
                         "\n"};
               });
}

HttpReply override_mirror(Ops& ops, const Caller& caller, HttpRequest& request) {
  const auto body = nlohmann::json::parse(request.body, nullptr, false);
  const auto text = body.is_object() && body.contains("digest") && body["digest"].is_string()
                        ? body["digest"].get<std::string>()
                        : std::string();
  auto digest = cas::parse_digest_text(text);
  if (!digest) {
    return error_response(400, "the body must be {\"digest\": \"<sha256 hex>/<size>\"}");
  }
  return empty_ok(ops.override_mirror(caller, request.route, *digest));
}

HttpReply remove_mirror_override(Ops& ops, const Caller& caller, HttpRequest& request) {
  return empty_ok(ops.remove_mirror_override(caller, request.route));
}

} // namespace ingot::server::http_handlers
