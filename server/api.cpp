#include "server/api.hpp"

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
  case Errc::no_space:
    return 507;
  case Errc::too_large:
    return 413;
  case Errc::busy:
  case Errc::timeout:
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

SimpleResponse find_missing(cas::Store& store, std::string_view body, Metrics& metrics) {
  auto request = parse_body(body, "digests");
  if (!request) {
    return error_response(request.error());
  }
  json missing = json::array();
  for (const auto& item : (*request)["digests"]) {
    auto digest = digest_from(item);
    if (!digest) {
      return error_response(digest.error());
    }
    auto info = store.stat(digest->hash);
    const bool present = info && info->digest.size == digest->size;
    metrics.record_lookup(Lookup::cas, present);
    store.count_lookup(present);
    if (!present) {
      missing.push_back(digest_json(*digest));
    }
  }
  return json_response({{"missing", missing}});
}

SimpleResponse batch_read(cas::Store& store, std::string_view body, Metrics& metrics) {
  auto request = parse_body(body, "digests");
  if (!request) {
    return error_response(request.error());
  }
  json responses = json::array();
  std::uint64_t total = 0;
  for (const auto& item : (*request)["digests"]) {
    auto digest = digest_from(item);
    if (!digest) {
      return error_response(digest.error());
    }
    json r = digest_json(*digest);
    if (digest->size > k_max_batch_blob) {
      r["status"] = 413;
      r["message"] = "too large for a batch; GET /cas/" + digest->hex();
    } else if (auto data = store.get(digest->hash); !data) {
      metrics.record_lookup(Lookup::cas, false);
      store.count_lookup(false);
      r["status"] = status_of(data.error());
      r["message"] = data.error().message;
    } else if (data->size() != digest->size) {
      r["status"] = 404;
      r["message"] = "stored blob has another size";
    } else {
      metrics.record_lookup(Lookup::cas, true);
      store.count_lookup(true);
      total += data->size();
      if (total > k_max_json_body / 2) {
        return error_response(413, "batch would exceed " + std::to_string(k_max_json_body / 2) +
                                       " bytes; request fewer blobs at a time");
      }
      r["status"] = 200;
      r["data"] = base64_encode(as_bytes(*data));
    }
    responses.push_back(std::move(r));
  }
  return json_response({{"responses", responses}});
}

SimpleResponse batch_update(cas::Store& store, std::string_view body) {
  auto request = parse_body(body, "requests");
  if (!request) {
    return error_response(request.error());
  }
  json responses = json::array();
  for (const auto& item : (*request)["requests"]) {
    auto digest = digest_from(item);
    if (!digest) {
      return error_response(digest.error());
    }
    json r = digest_json(*digest);
    const auto data = item.contains("data") && item["data"].is_string()
                          ? base64_decode(item["data"].get<std::string>())
                          : std::nullopt;
    if (digest->size > k_max_batch_blob) {
      r["status"] = 413;
      r["message"] = "too large for a batch; PUT /cas/" + digest->hex();
    } else if (!data) {
      r["status"] = 400;
      r["message"] = "\"data\" must be standard base64";
    } else if (auto stored = store.put(as_bytes(*data), *digest); !stored) {
      r["status"] = status_of(stored.error());
      r["message"] = stored.error().message;
    } else {
      r["status"] = 200;
    }
    responses.push_back(std::move(r));
  }
  return json_response({{"responses", responses}});
}

} // namespace ingot::server
