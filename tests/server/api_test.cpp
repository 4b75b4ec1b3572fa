// The JSON endpoints as plain functions over the operations and a real Store: findMissing,
// batchRead, batchUpdate, and the error mapping every response goes through.
#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "server/api.hpp"
#include "server/metrics.hpp"
#include "server/ops/ops.hpp"
#include "support/printers.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"
#include "util/base64.hpp"

#include <cctype>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ingot::server {
namespace {

using nlohmann::json;
using test::TempDir;

class ApiTest : public testing::Test {
protected:
  void SetUp() override {
    cas::StoreOptions options;
    options.dir = m_dir.path() / "data";
    options.inline_threshold = 4096;
    auto store = cas::Store::open(options);
    ASSERT_TRUE(store) << store.error().message;
    m_store = std::move(*store);
    m_ops = std::make_unique<Ops>(*m_store, m_metrics, nullptr);
  }

  // Stores `data` and returns its digest.
  cas::Digest put(std::string_view data) { return test::must_put(*m_store, data); }

  static json digest_json(const cas::Digest& d) { return {{"hash", d.hex()}, {"size", d.size}}; }

  // The body of a 200 JSON response, or a failure.
  static json parse_ok(const SimpleResponse& res) {
    EXPECT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.content_type, "application/json");
    json j = json::parse(res.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << res.body;
    return j;
  }

  TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  Metrics m_metrics;
  std::unique_ptr<Ops> m_ops;
  Caller m_caller = Caller::with(k_scope_admin);
};

// An error response as ARCHITECTURE.md asks for it: plain text, one line that says something.
void expect_error(const SimpleResponse& res, unsigned status) {
  EXPECT_EQ(res.status, status) << res.body;
  EXPECT_EQ(res.content_type, "text/plain");
  ASSERT_GE(res.body.size(), 2u) << "an error needs a message";
  EXPECT_EQ(res.body.back(), '\n');
  EXPECT_EQ(res.body.find('\n'), res.body.size() - 1) << "more than one line: " << res.body;
  EXPECT_EQ(res.body.find('\r'), std::string::npos) << res.body;
}

const char* const k_malformed_bodies[] = {
    "",
    "not json",
    "{",
    "[]",
    "null",
    "42",
    "{}",
    R"({"digests": {}})",
    R"({"digests": "x"})",
    R"({"requests": []})",
};

// --- error mapping --------------------------------------------------------------------------

TEST(ApiErrorTest, StatusOfEachError) {
  EXPECT_EQ(status_of(make_error(Errc::not_found, "x")), 404u);
  EXPECT_EQ(status_of(make_error(Errc::invalid_argument, "x")), 400u);
  EXPECT_EQ(status_of(make_error(Errc::unauthorized, "x")), 401u);
  EXPECT_EQ(status_of(make_error(Errc::no_space, "x")), 507u);
  EXPECT_EQ(status_of(make_error(Errc::busy, "x")), 503u);
  EXPECT_EQ(status_of(make_error(Errc::timeout, "x")), 503u);
  EXPECT_EQ(status_of(make_error(Errc::io, "x")), 500u);
  EXPECT_EQ(status_of(make_error(Errc::corrupt, "x")), 500u);
}

TEST(ApiErrorTest, ErrorBodyIsOneLine) {
  const auto res = error_response(400, "first line\nsecond line\r\nthird");
  expect_error(res, 400);
  EXPECT_EQ(res.body, "first line second line  third\n");
  const auto from_error = error_response(make_error(Errc::not_found, "blob x is not stored"));
  expect_error(from_error, 404);
  EXPECT_EQ(from_error.body, "blob x is not stored\n");
}

// --- findMissing ----------------------------------------------------------------------------

TEST_F(ApiTest, FindMissingListsOnlyWhatIsAbsent) {
  const auto a = put("alpha");
  const auto big = put(std::string(10000, 'b')); // a file, not inline
  const auto absent = cas::digest_of("not stored");
  const json request = {{"digests", {digest_json(a), digest_json(absent), digest_json(big)}}};
  const auto j = parse_ok(find_missing(*m_ops, m_caller, request.dump()));
  ASSERT_TRUE(j.contains("missing") && j["missing"].is_array()) << j;
  ASSERT_EQ(j["missing"].size(), 1u) << j;
  EXPECT_EQ(j["missing"][0]["hash"], absent.hex());
  EXPECT_EQ(j["missing"][0]["size"], absent.size);
}

TEST_F(ApiTest, FindMissingKeepsRequestOrderAndDuplicates) {
  const auto a = put("alpha");
  const auto x = cas::digest_of("x");
  const auto y = cas::digest_of("y");
  const json request = {
      {"digests", {digest_json(y), digest_json(a), digest_json(x), digest_json(y)}}};
  const auto j = parse_ok(find_missing(*m_ops, m_caller, request.dump()));
  const json expected = {digest_json(y), digest_json(x), digest_json(y)};
  EXPECT_EQ(j["missing"], expected);
}

TEST_F(ApiTest, FindMissingWithTheWrongSizeIsMissing) {
  const auto a = put("alpha");
  const cas::Digest wrong{a.hash, a.size + 1};
  const json request = {{"digests", {digest_json(wrong)}}};
  const auto j = parse_ok(find_missing(*m_ops, m_caller, request.dump()));
  ASSERT_EQ(j["missing"].size(), 1u) << j;
  EXPECT_EQ(j["missing"][0]["size"], wrong.size);
}

TEST_F(ApiTest, FindMissingNeverListsTheEmptyBlob) {
  // REAPI: the empty blob is always present.
  const json request = {{"digests", {digest_json(cas::empty_digest())}}};
  const auto j = parse_ok(find_missing(*m_ops, m_caller, request.dump()));
  EXPECT_TRUE(j["missing"].empty()) << j;
}

TEST_F(ApiTest, FindMissingOfNothingIsNothing) {
  const auto j = parse_ok(find_missing(*m_ops, m_caller, R"({"digests": []})"));
  EXPECT_EQ(j, json({{"missing", json::array()}}));
}

TEST_F(ApiTest, FindMissingCountsLookups) {
  const auto a = put("alpha");
  const json request = {
      {"digests",
       {digest_json(a), digest_json(cas::digest_of("x")), digest_json(cas::digest_of("y"))}}};
  parse_ok(find_missing(*m_ops, m_caller, request.dump()));
  const auto text = m_metrics.prometheus(snapshot(*m_store));
  EXPECT_NE(text.find("ingot_cache_lookups_total{namespace=\"cas\",result=\"hit\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ingot_cache_lookups_total{namespace=\"cas\",result=\"miss\"} 2\n"),
            std::string::npos)
      << text;
}

TEST_F(ApiTest, FindMissingMalformedBodyIs400) {
  for (const char* body : k_malformed_bodies) {
    SCOPED_TRACE(body);
    expect_error(find_missing(*m_ops, m_caller, body), 400);
  }
}

TEST_F(ApiTest, FindMissingMalformedDigestIs400) {
  const auto a = put("alpha");
  const std::string upper = [&] {
    std::string s = a.hex();
    for (char& c : s) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
  }();
  const json bad_digests[] = {
      {{"hash", upper}, {"size", a.size}},
      {{"hash", a.hex().substr(1)}, {"size", a.size}},
      {{"hash", a.hex()}, {"size", -1}},
      {{"hash", a.hex()}, {"size", "5"}},
      {{"hash", a.hex()}, {"size", 1.5}},
      {{"hash", a.hex()}},
      {{"size", a.size}},
      {{"hash", 7}, {"size", a.size}},
      "just a string",
      json::array(),
  };
  for (const auto& bad : bad_digests) {
    SCOPED_TRACE(bad.dump());
    const json request = {{"digests", {digest_json(a), bad}}};
    expect_error(find_missing(*m_ops, m_caller, request.dump()), 400);
  }
}

// --- batchRead ------------------------------------------------------------------------------

TEST_F(ApiTest, BatchReadGivesStatusPerBlob) {
  const auto a = put("alpha");
  const std::string big_data(10000, 'z'); // stored as a (compressed) file
  const auto big = put(big_data);
  const auto absent = cas::digest_of("absent");
  const cas::Digest wrong_size{a.hash, 99};
  const json request = {
      {"digests",
       {digest_json(a), digest_json(absent), digest_json(big), digest_json(wrong_size)}}};
  const auto j = parse_ok(batch_read(*m_ops, m_caller, request.dump()));
  ASSERT_TRUE(j.contains("responses")) << j;
  const auto& r = j["responses"];
  ASSERT_EQ(r.size(), 4u) << j;

  EXPECT_EQ(r[0]["hash"], a.hex());
  EXPECT_EQ(r[0]["size"], a.size);
  EXPECT_EQ(r[0]["status"], 200);
  EXPECT_EQ(base64_decode(r[0]["data"].get<std::string>()), "alpha");

  EXPECT_EQ(r[1]["hash"], absent.hex());
  EXPECT_EQ(r[1]["status"], 404);
  EXPECT_FALSE(r[1].contains("data"));
  EXPECT_TRUE(r[1].contains("message"));

  EXPECT_EQ(r[2]["status"], 200);
  EXPECT_EQ(base64_decode(r[2]["data"].get<std::string>()), big_data);

  EXPECT_EQ(r[3]["status"], 404) << "a blob of another size must not be returned";
  EXPECT_FALSE(r[3].contains("data"));
}

TEST_F(ApiTest, BatchReadOfTheEmptyBlob) {
  const json request = {{"digests", {digest_json(cas::empty_digest())}}};
  const auto j = parse_ok(batch_read(*m_ops, m_caller, request.dump()));
  ASSERT_EQ(j["responses"].size(), 1u);
  EXPECT_EQ(j["responses"][0]["status"], 200);
  EXPECT_EQ(j["responses"][0]["data"], "");
}

TEST_F(ApiTest, BatchReadRefusesBlobsTooLargeForABatch) {
  const cas::Digest huge{cas::digest_of("whatever").hash, k_max_batch_blob + 1};
  const json request = {{"digests", {digest_json(huge)}}};
  const auto j = parse_ok(batch_read(*m_ops, m_caller, request.dump()));
  ASSERT_EQ(j["responses"].size(), 1u);
  EXPECT_EQ(j["responses"][0]["status"], 413);
  EXPECT_FALSE(j["responses"][0].contains("data"));
}

TEST_F(ApiTest, BatchReadMalformedIs400) {
  for (const char* body : k_malformed_bodies) {
    SCOPED_TRACE(body);
    expect_error(batch_read(*m_ops, m_caller, body), 400);
  }
  const json bad = {{"digests", {{{"hash", "abc"}, {"size", 3}}}}};
  expect_error(batch_read(*m_ops, m_caller, bad.dump()), 400);
}

// --- batchUpdate ----------------------------------------------------------------------------

json update_item(const cas::Digest& d, std::string_view data) {
  return {{"hash", d.hex()}, {"size", d.size}, {"data", base64_encode(as_bytes(data))}};
}

TEST_F(ApiTest, BatchUpdateStoresEachBlob) {
  const std::string big(20000, 'q');
  const auto da = cas::digest_of("alpha");
  const auto db = cas::digest_of(big);
  const json request = {{"requests", {update_item(da, "alpha"), update_item(db, big)}}};
  const auto j = parse_ok(batch_update(*m_ops, m_caller, request.dump()));
  ASSERT_EQ(j["responses"].size(), 2u) << j;
  EXPECT_EQ(j["responses"][0]["hash"], da.hex());
  EXPECT_EQ(j["responses"][0]["status"], 200);
  EXPECT_EQ(j["responses"][1]["hash"], db.hex());
  EXPECT_EQ(j["responses"][1]["status"], 200);

  auto got = m_store->get(da.hash);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "alpha");
  got = m_store->get(db.hash);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, big);

  // And findMissing agrees.
  const json probe = {{"digests", {digest_json(da), digest_json(db)}}};
  EXPECT_TRUE(parse_ok(find_missing(*m_ops, m_caller, probe.dump()))["missing"].empty());
}

TEST_F(ApiTest, BatchUpdateMismatchIs400PerBlobAndNothingIsStored) {
  const auto da = cas::digest_of("alpha");
  const auto dc = cas::digest_of("gamma");
  const cas::Digest wrong_size{dc.hash, dc.size + 1};
  const json request = {
      {"requests",
       {update_item(da, "alpha"), update_item(da, "tampered"), // content does not hash to da
        update_item(wrong_size, "gamma"), update_item(dc, "gamma")}}};
  const auto j = parse_ok(batch_update(*m_ops, m_caller, request.dump()));
  const auto& r = j["responses"];
  ASSERT_EQ(r.size(), 4u) << j;
  EXPECT_EQ(r[0]["status"], 200);
  EXPECT_EQ(r[1]["status"], 400);
  EXPECT_FALSE(r[1]["message"].get<std::string>().empty());
  EXPECT_EQ(r[2]["status"], 400);
  EXPECT_EQ(r[3]["status"], 200) << "a bad blob must not fail the others";

  EXPECT_FALSE(m_store->contains(cas::digest_of("tampered").hash))
      << "the mismatching content was stored under its own hash";
  auto got = m_store->get(da.hash);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "alpha");
}

TEST_F(ApiTest, BatchUpdateMismatchAloneStoresNothing) {
  const auto before = m_store->usage();
  const auto da = cas::digest_of("alpha");
  const json request = {{"requests", {update_item(da, "not alpha")}}};
  const auto j = parse_ok(batch_update(*m_ops, m_caller, request.dump()));
  EXPECT_EQ(j["responses"][0]["status"], 400);
  EXPECT_FALSE(m_store->contains(da.hash));
  EXPECT_FALSE(m_store->contains(cas::digest_of("not alpha").hash));
  const auto after = m_store->usage();
  EXPECT_EQ(after.blobs, before.blobs);
  EXPECT_EQ(after.logical_bytes, before.logical_bytes);
}

TEST_F(ApiTest, BatchUpdateBadDataIs400PerBlob) {
  const auto da = cas::digest_of("alpha");
  json no_data = digest_json(da);
  json not_string = digest_json(da);
  not_string["data"] = 12;
  json not_base64 = digest_json(da);
  not_base64["data"] = "!!not base64!!";
  json url_alphabet = digest_json(cas::digest_of("\xfb\xff"));
  url_alphabet["data"] = "-_8="; // base64url, not the standard alphabet
  const json request = {{"requests", {no_data, not_string, not_base64, url_alphabet}}};
  const auto j = parse_ok(batch_update(*m_ops, m_caller, request.dump()));
  ASSERT_EQ(j["responses"].size(), 4u) << j;
  for (const auto& r : j["responses"]) {
    EXPECT_EQ(r["status"], 400) << r;
  }
  EXPECT_FALSE(m_store->contains(da.hash));
}

TEST_F(ApiTest, BatchUpdateOfTheEmptyBlob) {
  const json request = {{"requests", {update_item(cas::empty_digest(), "")}}};
  const auto j = parse_ok(batch_update(*m_ops, m_caller, request.dump()));
  EXPECT_EQ(j["responses"][0]["status"], 200) << j;
}

TEST_F(ApiTest, BatchUpdateRefusesBlobsTooLargeForABatch) {
  // api.hpp: k_max_batch_blob is the largest blob accepted inline in a batchUpdate, as it is
  // the largest batchRead returns; bigger ones go through PUT /cas/.
  const std::string data(k_max_batch_blob + 1, 'x');
  const auto d = cas::digest_of(data);
  const json request = {{"requests", {update_item(d, data)}}};
  const auto j = parse_ok(batch_update(*m_ops, m_caller, request.dump()));
  ASSERT_EQ(j["responses"].size(), 1u);
  EXPECT_EQ(j["responses"][0]["status"], 413) << j["responses"][0];
  EXPECT_FALSE(m_store->contains(d.hash));
}

TEST_F(ApiTest, BatchUpdateMalformedIs400) {
  for (const char* body :
       {"", "not json", "{", "[]", "{}", R"({"requests": {}})", R"({"digests": []})"}) {
    SCOPED_TRACE(body);
    expect_error(batch_update(*m_ops, m_caller, body), 400);
  }
  const json bad = {{"requests", {{{"hash", "abc"}, {"size", 3}, {"data", "YWJj"}}}}};
  expect_error(batch_update(*m_ops, m_caller, bad.dump()), 400);
  EXPECT_FALSE(m_store->contains(cas::digest_of("abc").hash));
}

TEST_F(ApiTest, BatchUpdateThenBatchReadRoundTrips) {
  std::vector<std::pair<cas::Digest, std::string>> blobs;
  json requests = json::array();
  json digests = json::array();
  for (int i = 0; i < 20; ++i) {
    std::string data =
        "blob " + std::to_string(i) + std::string(static_cast<std::size_t>(i) * 700, '.');
    const auto d = cas::digest_of(data);
    requests.push_back(update_item(d, data));
    digests.push_back(digest_json(d));
    blobs.emplace_back(d, std::move(data));
  }
  const auto updated =
      parse_ok(batch_update(*m_ops, m_caller, json{{"requests", requests}}.dump()));
  for (const auto& r : updated["responses"]) {
    EXPECT_EQ(r["status"], 200) << r;
  }
  const auto read = parse_ok(batch_read(*m_ops, m_caller, json{{"digests", digests}}.dump()));
  ASSERT_EQ(read["responses"].size(), blobs.size());
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    const auto& r = read["responses"][i];
    EXPECT_EQ(r["hash"], blobs[i].first.hex());
    EXPECT_EQ(r["status"], 200);
    EXPECT_EQ(base64_decode(r["data"].get<std::string>()), blobs[i].second) << i;
  }
}

} // namespace
} // namespace ingot::server

namespace ingot::server {
namespace {

// GET /v1/gc answered all of /v1/stats; it is the GC part alone.
TEST_F(ApiTest, GcStatusIsTheGcPartOfTheStatsAlone) {
  auto before = parse_ok(gc_status(*m_ops, m_caller));
  EXPECT_EQ(before["last"], nullptr);
  EXPECT_EQ(before["runs"], 0);
  put("evictable");
  auto report = m_store->gc(cas::GcOptions{0, cas::DryRun::no});
  ASSERT_TRUE(report) << report.error().message;

  const auto j = parse_ok(gc_status(*m_ops, m_caller));
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) {
    keys.push_back(key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"duration_seconds", "evicted_bytes", "evicted_entries",
                                            "gc_high_bytes", "gc_low_bytes", "last",
                                            "max_size_bytes", "oldest_entry_age_seconds",
                                            "pinned_bytes", "running", "runs", "used_bytes"}));
  EXPECT_EQ(j["running"], false);
  EXPECT_EQ(j["runs"], 1);
  EXPECT_EQ(j["last"]["target_bytes"], 0);
  EXPECT_EQ(j["max_size_bytes"], 0) << "no bound was set";
  const auto reader = Caller::with(k_scope_read);
  EXPECT_EQ(gc_status(*m_ops, reader).status, 200u) << "read scope, like /v1/stats";
}

} // namespace
} // namespace ingot::server
