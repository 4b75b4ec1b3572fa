// The /v1/blobs JSON bodies (findMissing, batchRead, batchUpdate) against a real store. Input:
// a byte choosing the endpoint, then the body.
#include "cas/digest.hpp"
#include "fuzz_support.hpp"
#include "server/api.hpp"
#include "server/ops/ops.hpp"
#include "util/base64.hpp"

#include <nlohmann/json.hpp>

using namespace ingot;
using namespace ingot::server;
using nlohmann::json;

namespace {

void check_error(const SimpleResponse& r) {
  FUZZ_CHECK(r.status >= 400 && r.content_type == "text/plain");
  // One line that says what was wrong.
  FUZZ_CHECK(!r.body.empty() && r.body.find('\n') == r.body.size() - 1);
}

// The request's list, as the endpoint read it (nullptr when the body is not one).
const json* list_of(const json& request, const char* name) {
  if (!request.is_object() || !request.contains(name) || !request[name].is_array()) {
    return nullptr;
  }
  return &request[name];
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& store = fuzz::store();
  static Metrics metrics;
  static Ops ops(store, metrics, nullptr);
  const Caller caller = Caller::with(k_scope_admin);
  fuzz::Input in(data, size);
  const int endpoint = in.byte() % 3;
  const std::string_view body = in.rest();
  const json request = json::parse(body, nullptr, false);

  SimpleResponse r;
  const char* list = endpoint == 2 ? "requests" : "digests";
  switch (endpoint) {
  case 0:
    r = find_missing(ops, caller, body);
    break;
  case 1:
    r = batch_read(ops, caller, body);
    break;
  default:
    r = batch_update(ops, caller, body);
    break;
  }
  const json* items = request.is_discarded() ? nullptr : list_of(request, list);
  if (r.status != 200) {
    check_error(r);
    return 0;
  }
  FUZZ_CHECK(items != nullptr);
  FUZZ_CHECK(r.content_type == "application/json");
  const json answer = json::parse(r.body, nullptr, false);
  FUZZ_CHECK(!answer.is_discarded() && answer.is_object());
  if (endpoint == 0) {
    // Exact: every digest reported missing was asked for and is not stored at that size.
    FUZZ_CHECK(answer.contains("missing") && answer["missing"].is_array());
    FUZZ_CHECK(answer["missing"].size() <= items->size());
    for (const auto& m : answer["missing"]) {
      auto d = cas::parse_digest(m["hash"].get<std::string>(), m["size"].get<std::uint64_t>());
      FUZZ_CHECK(d);
      auto info = store.stat(d->hash);
      FUZZ_CHECK(!info || info->digest.size != d->size);
    }
    return 0;
  }
  // One answer per request, in order, each with a status.
  FUZZ_CHECK(answer.contains("responses") && answer["responses"].is_array());
  FUZZ_CHECK(answer["responses"].size() == items->size());
  for (const auto& item : answer["responses"]) {
    FUZZ_CHECK(item.contains("status") && item["status"].is_number_unsigned());
    auto d = cas::parse_digest(item["hash"].get<std::string>(), item["size"].get<std::uint64_t>());
    FUZZ_CHECK(d);
    if (item["status"] != 200) {
      FUZZ_CHECK(item.contains("message") && !item["message"].get<std::string>().empty());
      continue;
    }
    // Answered 200: the blob is stored with exactly those bytes.
    auto stored = store.get(d->hash);
    FUZZ_CHECK(stored && stored->size() == d->size && cas::digest_of(*stored) == *d);
    if (endpoint == 1) {
      FUZZ_CHECK(base64_decode(item["data"].get<std::string>()) == *stored);
    }
  }
  return 0;
}
