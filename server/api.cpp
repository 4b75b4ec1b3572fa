#include "server/api.hpp"

#include "server/gc_report_json.hpp"
#include "server/metrics.hpp"
#include "server/ops/ops.hpp"
#include "util/base64.hpp"

#include <nlohmann/json.hpp>

namespace ingot::server {

namespace {

using nlohmann::json;

// Names in answers came from clients or older data; one that is not UTF-8 (which JSON text
// must be) is written with U+FFFD in its place rather than throwing out of the handler.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

SimpleResponse json_response(const json& j) {
  return {200, "application/json", dump(j)};
}

// {"hash": "<64 hex>", "size": N} -> Digest; throws json exceptions for a missing field.
Result<cas::Digest> digest_from(const json& j) {
  if (!j.is_object() || !j.contains("hash") || !j.contains("size") || !j["hash"].is_string() ||
      !j["size"].is_number_unsigned()) {
    return make_error(Errc::invalid_argument,
                      "each digest must be {\"hash\": \"<64 hex>\", \"size\": <bytes>}");
  }
  return cas::parse_digest(j["hash"].get<std::string>(), j["size"].get<std::uint64_t>());
}

Result<json> parse_body(std::string_view body, const char* list) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains(list) || !j[list].is_array()) {
    return make_error(Errc::invalid_argument,
                      std::string("body must be a JSON object with a \"") + list + "\" array");
  }
  return j;
}

json digest_json(const cas::Digest& d) {
  return {{"hash", d.hex()}, {"size", d.size}};
}

} // namespace

unsigned status_of(const Error& error) {
  switch (error.code) {
  case Errc::not_found:
    return 404;
  case Errc::invalid_argument:
    return 400;
  case Errc::unauthorized:
    return 401;
  case Errc::forbidden:
    return 403;
  case Errc::no_space:
    return 507;
  case Errc::too_large:
    return 413;
  case Errc::conflict:
    return 409;
  case Errc::upstream:
  case Errc::mismatch:
    return 502;
  case Errc::busy:
  case Errc::timeout:
  case Errc::would_block:
    return 503;
  case Errc::corrupt:
  case Errc::io:
    return 500;
  }
  return 500;
}

SimpleResponse error_response(unsigned status, std::string_view message) {
  std::string body(message);
  for (char& c : body) {
    if (c == '\n' || c == '\r') {
      c = ' '; // one line, whatever the message
    }
  }
  body.push_back('\n');
  return {status, "text/plain", std::move(body)};
}

SimpleResponse propfind_response(std::string_view href, std::optional<std::uint64_t> size) {
  std::string escaped;
  for (const char c : href) {
    switch (c) {
    case '&':
      escaped += "&amp;";
      break;
    case '<':
      escaped += "&lt;";
      break;
    case '>':
      escaped += "&gt;";
      break;
    default:
      escaped.push_back(c);
    }
  }
  const std::string props = size ? "<D:getcontentlength>" + std::to_string(*size) +
                                       "</D:getcontentlength><D:resourcetype/>"
                                 : std::string("<D:resourcetype><D:collection/></D:resourcetype>");
  return {207, "application/xml; charset=utf-8",
          "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
          "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>" +
              escaped + "</D:href><D:propstat><D:prop>" + props +
              "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
              "</D:multistatus>\n"};
}

namespace {

// Parses {"digests": [{"hash": …, "size": …}, …]}.
Result<std::vector<cas::Digest>> digest_list(std::string_view body) {
  auto request = parse_body(body, "digests");
  if (!request) {
    return std::move(request).error();
  }
  std::vector<cas::Digest> digests;
  digests.reserve((*request)["digests"].size());
  for (const auto& item : (*request)["digests"]) {
    auto digest = digest_from(item);
    if (!digest) {
      return std::move(digest).error();
    }
    digests.push_back(*digest);
  }
  return digests;
}

json batch_json(const BatchResult& result, const json& ok) {
  json r = digest_json(result.digest);
  if (result.data) {
    r.update(ok);
    r["status"] = 200;
  } else {
    r["status"] = status_of(result.data.error());
    r["message"] = result.data.error().message;
  }
  return r;
}

} // namespace

SimpleResponse find_missing(Ops& ops, const Caller& caller, std::string_view body) {
  auto digests = digest_list(body);
  if (!digests) {
    return error_response(digests.error());
  }
  auto missing = ops.find_missing(caller, *digests);
  if (!missing) {
    return error_response(missing.error());
  }
  json list = json::array();
  for (const auto& d : *missing) {
    list.push_back(digest_json(d));
  }
  return json_response({{"missing", std::move(list)}});
}

SimpleResponse batch_read(Ops& ops, const Caller& caller, std::string_view body) {
  auto digests = digest_list(body);
  if (!digests) {
    return error_response(digests.error());
  }
  auto results = ops.batch_read(caller, *digests);
  if (!results) {
    return error_response(results.error());
  }
  json responses = json::array();
  for (const auto& result : *results) {
    responses.push_back(
        batch_json(result, result.data ? json{{"data", base64_encode(as_bytes(*result.data))}}
                                       : json::object()));
  }
  return json_response({{"responses", std::move(responses)}});
}

SimpleResponse batch_update(Ops& ops, const Caller& caller, std::string_view body) {
  auto request = parse_body(body, "requests");
  if (!request) {
    return error_response(request.error());
  }
  // Items whose data is not base64 get their 400 here; the rest go to the store, in order.
  const auto& items = (*request)["requests"];
  std::vector<BatchBlob> blobs;
  std::vector<std::optional<BatchResult>> refused(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    auto digest = digest_from(item);
    if (!digest) {
      return error_response(digest.error());
    }
    auto data = item.contains("data") && item["data"].is_string()
                    ? base64_decode(item["data"].get<std::string>())
                    : std::nullopt;
    if (!data && digest->size <= k_max_batch_blob) {
      refused[i] = BatchResult{
          *digest, make_error(Errc::invalid_argument, "\"data\" must be standard base64")};
      continue;
    }
    blobs.push_back({*digest, data ? std::move(*data) : std::string()});
  }
  auto results = ops.batch_update(caller, blobs);
  if (!results) {
    return error_response(results.error());
  }
  json responses = json::array();
  std::size_t next = 0;
  for (auto& r : refused) {
    responses.push_back(batch_json(r ? *r : (*results)[next++], json::object()));
  }
  return json_response({{"responses", std::move(responses)}});
}

SimpleResponse gc_status(Ops& ops, const Caller& caller) {
  auto snapshot = ops.stats(caller);
  if (!snapshot) {
    return error_response(snapshot.error());
  }
  const auto& gc = snapshot->gc;
  const auto& space = snapshot->space;
  const auto or_null = [](const auto& value) {
    return value ? json(*value) : json(nullptr);
  };
  return json_response({
      {"running", gc.running},
      {"last", gc.last ? gc_report_json(*gc.last) : json(nullptr)},
      {"max_size_bytes", space.max_size},
      {"gc_high_bytes", space.gc_high},
      {"gc_low_bytes", space.gc_low},
      {"used_bytes", space.used},
      {"pinned_bytes", snapshot->usage.pinned_bytes},
      {"runs", gc.runs},
      {"evicted_entries", gc.evicted_entries},
      {"evicted_bytes", gc.evicted_bytes},
      {"duration_seconds", gc.duration_s},
      {"oldest_entry_age_seconds", or_null(gc.oldest_entry_age_s)},
  });
}

} // namespace ingot::server
