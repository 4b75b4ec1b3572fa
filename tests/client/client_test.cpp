// The Client (client/client.cpp, answers.cpp): its retry policy over a scripted transport, then
// against a real Ingot server in this process: blobs, batches, downloads to files, answers
// that are not retried, uploads from files.
#include "client/transport.hpp"
#include "running_server.hpp"
#include "server/auth.hpp"
#include "support/printers.hpp"

#include <functional>
#include <tuple>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ingot::client {
namespace {

using test::fails_with;
using test::ok;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// --- the retry policy, over a scripted transport ----------------------------------------------

// Answers each send with the next reply of its script (a 2xx body goes to the sink, as the HTTP
// transport does), and counts the sends: what a test of the retry policy needs to see.
class ScriptedTransport final : public Transport {
public:
  explicit ScriptedTransport(std::vector<Result<Response>> script) : m_script(std::move(script)) {}

  Result<Response> send(const Request& /*request*/, BodySink* sink) override {
    const std::lock_guard lock(m_mutex);
    if (m_sends >= m_script.size()) {
      return make_error(Errc::invalid_argument, "the script has no reply left");
    }
    auto reply = m_script[m_sends++];
    if (reply && sink != nullptr && reply->status / 100 == 2) {
      if (auto r = sink->restart(); !r) {
        return std::move(r).error();
      }
      if (auto r = sink->write(as_bytes(reply->body)); !r) {
        return std::move(r).error();
      }
      reply->body.clear();
    }
    return reply;
  }
  std::uint64_t bytes_sent() const override { return 0; }
  std::uint64_t bytes_received() const override { return 0; }

  std::size_t sends() {
    const std::lock_guard lock(m_mutex);
    return m_sends;
  }

private:
  std::mutex m_mutex;
  std::vector<Result<Response>> m_script;
  std::size_t m_sends = 0;
};

Result<Response> answer(unsigned status, std::string body = {}) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

class ClientRetryTest : public ::testing::Test {
protected:
  // A client over `script`, trying at most `attempts` times, with no backoff to wait out.
  std::unique_ptr<Client> scripted(std::vector<Result<Response>> script, unsigned attempts = 4) {
    auto transport = std::make_unique<ScriptedTransport>(std::move(script));
    m_transport = transport.get();
    ClientOptions options;
    options.max_attempts = attempts;
    options.backoff = std::chrono::milliseconds(0);
    options.max_backoff = std::chrono::milliseconds(0);
    auto c = Client::create(std::move(options), std::move(transport));
    EXPECT_TRUE(ok(c));
    return c ? std::move(*c) : nullptr;
  }

  // Owned by the client that scripted() made last.
  ScriptedTransport* m_transport = nullptr;
};

TEST_F(ClientRetryTest, ServerErrorsAreRetriedUpToMaxAttemptsAndTheErrorNamesStatusAndTries) {
  for (const auto& [status, code] : {std::pair{503u, Errc::busy}, std::pair{500u, Errc::io}}) {
    SCOPED_TRACE(status);
    const std::string line = "the server is having a bad day";
    auto client = scripted(std::vector<Result<Response>>(4, answer(status, line + "\n")), 4);
    ASSERT_NE(client, nullptr);
    const auto digest = cas::digest_of(std::string_view("wanted"));
    auto r = client->get(digest);
    ASSERT_TRUE(fails_with(r, code));
    EXPECT_THAT(r.error().message, HasSubstr("HTTP " + std::to_string(status) + " " + line));
    EXPECT_THAT(r.error().message, HasSubstr("gave up after 4 tries"));
    EXPECT_THAT(r.error().message, HasSubstr(digest.to_string()));
    EXPECT_EQ(m_transport->sends(), 4u);
    EXPECT_EQ(client->counters().requests, 4u);
    EXPECT_EQ(client->counters().retries, 3u);
  }
}

TEST_F(ClientRetryTest, AServerErrorThenAnAnswerSucceeds) {
  auto client = scripted({answer(503), make_error(Errc::io, "connection reset"),
                          make_error(Errc::timeout, "no progress"), answer(200, "finally")});
  ASSERT_NE(client, nullptr);
  auto got = client->get(cas::digest_of(std::string_view("finally")));
  ASSERT_TRUE(ok(got));
  EXPECT_EQ(*got, "finally");
  EXPECT_EQ(m_transport->sends(), 4u);
  EXPECT_EQ(client->counters().retries, 3u);
}

TEST_F(ClientRetryTest, AnAnswerAfterARetryIsReportedAsItIs) {
  auto client = scripted({answer(503), answer(404, "no such blob\n")});
  ASSERT_NE(client, nullptr);
  auto r = client->get(cas::digest_of(std::string_view("gone")));
  ASSERT_TRUE(fails_with(r, Errc::not_found));
  EXPECT_THAT(r.error().message, HasSubstr("HTTP 404 no such blob"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("tries")));
  EXPECT_EQ(m_transport->sends(), 2u);
}

TEST_F(ClientRetryTest, NoRoomIsTriedExactlyOnce) {
  // 507: the server's disk is full of what it may not evict; asking again cannot help.
  auto client = scripted({answer(507, "no room: pinned data fills --max-size\n"), answer(200)});
  ASSERT_NE(client, nullptr);
  auto r = client->put(cas::digest_of(std::string_view("big")), "big");
  ASSERT_TRUE(fails_with(r, Errc::no_space));
  EXPECT_THAT(r.error().message, HasSubstr("HTTP 507 no room"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("tries")));
  EXPECT_EQ(m_transport->sends(), 1u);
  EXPECT_EQ(client->counters().retries, 0u);
}

TEST_F(ClientRetryTest, ClientErrorsAreTriedExactlyOnce) {
  for (const auto& [status, code] :
       {std::pair{400u, Errc::invalid_argument}, std::pair{401u, Errc::unauthorized},
        std::pair{403u, Errc::unauthorized}, std::pair{404u, Errc::not_found},
        std::pair{409u, Errc::busy}, std::pair{413u, Errc::too_large}}) {
    SCOPED_TRACE(status);
    auto client = scripted({answer(status, "refused\n"), answer(200)});
    ASSERT_NE(client, nullptr);
    auto r = client->get_ref("main");
    ASSERT_TRUE(fails_with(r, code));
    // 401 and 403 read "(HTTP 401: refused)", the others "HTTP 404 refused".
    EXPECT_THAT(r.error().message, HasSubstr("HTTP " + std::to_string(status)));
    EXPECT_THAT(r.error().message, HasSubstr("refused"));
    EXPECT_EQ(m_transport->sends(), 1u);
  }
}

TEST_F(ClientRetryTest, EveryKindOfRequestGetsTheSameRetries) {
  const auto root = cas::digest_of(std::string_view("root"));
  const std::string ref_json =
      R"({"name":"main","digest":")" + root.to_string() + R"(","pinned":false})";
  struct Case {
    const char* what;
    std::string body;
    std::function<bool(Client&)> run;
  };
  const std::vector<Case> cases{
      {"find_missing", R"({"missing":[]})",
       [&](Client& c) {
         return ok(c.find_missing(std::vector<cas::Digest>{root}));
       }},
      {"get_tree", "tree bytes",
       [&](Client& c) {
         return ok(c.get_tree(root));
       }},
      {"put_ref", ref_json,
       [&](Client& c) {
         return ok(c.put_ref("main", root, Pinned::no));
       }},
      {"delete_ref", "",
       [&](Client& c) {
         return ok(c.delete_ref("main"));
       }},
      {"list_releases", "{}",
       [&](Client& c) {
         return ok(c.list_releases("ingot"));
       }},
      {"keys", "keys",
       [&](Client& c) {
         return ok(c.keys());
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto client = scripted({answer(502), answer(503), answer(200, c.body)});
    ASSERT_NE(client, nullptr);
    EXPECT_TRUE(c.run(*client));
    EXPECT_EQ(m_transport->sends(), 3u);
  }
}

TEST_F(ClientRetryTest, ADownloadThatWasRetriedWritesOnlyTheLastAttempt) {
  const std::string data = "the whole blob";
  auto client = scripted({make_error(Errc::io, "connection reset"), answer(200, data)});
  ASSERT_NE(client, nullptr);
  test::TempDir tmp;
  ASSERT_TRUE(ok(client->get_to_file(cas::digest_of(data), tmp.path() / "f")));
  EXPECT_EQ(test::read_file(tmp.path() / "f"), data);
  EXPECT_THAT(names_in(tmp.path()), ElementsAre("f"));
}

// --- blobs ---------------------------------------------------------------------------------

TEST_F(ClientTest, PutThenGetRoundTrips) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  for (const std::string& data :
       {std::string("hello"), test::random_bytes(5000, 1), test::random_bytes(k_large, 2)}) {
    const auto digest = cas::digest_of(data);
    ASSERT_TRUE(ok(client->put(digest, data)));
    auto got = client->get(digest);
    ASSERT_TRUE(ok(got));
    EXPECT_EQ(*got, data);
    // It is in the server's store, not only in some cache of the client's.
    EXPECT_EQ(test::read_and_hash(*m_store, digest.hash).value(), digest);
  }
}

TEST_F(ClientTest, GetOfAnUnknownBlobIsNotFound) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto unknown = cas::digest_of(std::string_view("never stored"));
  auto got = client->get(unknown);
  ASSERT_TRUE(fails_with(got, Errc::not_found));
  EXPECT_THAT(got.error().message, HasSubstr(unknown.to_string()));
  // A 404 is an answer, not a failure to try again.
  EXPECT_EQ(client->counters().requests, 1u);
}

TEST_F(ClientTest, FindMissingReturnsExactlyTheAbsentDigests) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto present_small = test::must_put(*m_store, "present");
  const auto present_large = test::must_put(*m_store, test::random_bytes(k_large, 3));
  const auto absent_a = cas::digest_of(std::string_view("absent a"));
  const auto absent_b = cas::digest_of(test::random_bytes(k_large, 4));
  const std::vector<cas::Digest> asked{present_small, absent_a, cas::empty_digest(), present_large,
                                       absent_b};

  auto missing = client->find_missing(asked);
  ASSERT_TRUE(ok(missing));
  EXPECT_THAT(*missing, UnorderedElementsAre(absent_a, absent_b));

  // REAPI: the empty blob is always present, even asked for alone.
  auto empty = client->find_missing(std::vector<cas::Digest>{cas::empty_digest()});
  ASSERT_TRUE(ok(empty));
  EXPECT_THAT(*empty, ElementsAre());
}

TEST_F(ClientTest, BatchUpdateThenBatchReadRoundTripsManySmallBlobs) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  std::vector<BlobData> blobs;
  for (std::uint64_t i = 0; i < 300; ++i) {
    auto bytes = test::random_bytes(1 + (i * 37) % 2000, 100 + i);
    blobs.push_back({cas::digest_of(bytes), std::move(bytes)});
  }
  ASSERT_TRUE(ok(client->batch_update(blobs)));
  EXPECT_EQ(client->counters().requests, 1u);
  for (const auto& b : blobs) {
    EXPECT_TRUE(m_store->contains(b.digest.hash)) << b.digest.to_string();
  }

  // The unknown one in the middle, so that a shifted answer would show.
  const auto unknown = cas::digest_of(std::string_view("not uploaded"));
  std::vector<cas::Digest> asked;
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    if (i == blobs.size() / 2) {
      asked.push_back(unknown);
    }
    asked.push_back(blobs[i].digest);
  }
  auto read = client->batch_read(asked);
  ASSERT_TRUE(ok(read));
  ASSERT_EQ(read->size(), asked.size());
  for (std::size_t i = 0; i < asked.size(); ++i) {
    const auto& r = (*read)[i];
    if (asked[i] == unknown) {
      EXPECT_TRUE(fails_with(r, Errc::not_found)) << "position " << i;
      continue;
    }
    ASSERT_TRUE(ok(r)) << "position " << i;
    const auto& expected = blobs[i < blobs.size() / 2 ? i : i - 1].bytes;
    EXPECT_EQ(*r, expected) << "position " << i;
  }
}

TEST_F(ClientTest, BatchUpdateRefusesABlobThatDoesNotMatchItsDigest) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const std::vector<BlobData> blobs{
      {cas::digest_of(std::string_view("good")), "good"},
      {cas::digest_of(std::string_view("claimed")), "claimeD"},
  };
  auto r = client->batch_update(blobs);
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr(blobs[1].digest.hex()));
  EXPECT_FALSE(m_store->contains(blobs[1].digest.hash));
}

// --- downloads to files ----------------------------------------------------------------------

TEST_F(ClientTest, GetToFileWritesTheFileWithItsModeAndNothingElse) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  for (const auto& [name, data, mode] : {std::tuple{"small", std::string("tiny"), 0640u},
                                         std::tuple{"large", test::random_bytes(k_large, 5), 0751u},
                                         std::tuple{"empty", std::string(), 0600u}}) {
    SCOPED_TRACE(name);
    const auto digest = test::must_put(*m_store, data);
    ASSERT_TRUE(ok(client->get_to_file(digest, dir / name, mode)));
    EXPECT_EQ(test::read_file(dir / name), data);
    EXPECT_EQ(mode_of(dir / name), mode);
  }
  // Written under temporary names and renamed: none of those is left.
  EXPECT_THAT(names_in(dir), ElementsAre("empty", "large", "small"));
}

TEST_F(ClientTest, GetToFileReplacesAnExistingFile) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  write_file(dir / "f", "old content, longer than the new", 0600);
  const auto digest = test::must_put(*m_store, "new");
  ASSERT_TRUE(ok(client->get_to_file(digest, dir / "f")));
  EXPECT_EQ(test::read_file(dir / "f"), "new");
  EXPECT_EQ(mode_of(dir / "f"), 0644u);
  EXPECT_THAT(names_in(dir), ElementsAre("f"));
}

TEST_F(ClientTest, GetToFileOfAnUnknownBlobLeavesNothing) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  auto r = client->get_to_file(cas::digest_of(std::string_view("unknown")), dir / "f");
  EXPECT_TRUE(fails_with(r, Errc::not_found));
  EXPECT_THAT(names_in(dir), ElementsAre());
}

TEST_F(ClientTest, GetToFileOfADamagedBlobIsCorruptAndLeavesNothing) {
  const auto data = test::random_bytes(k_large, 6);
  const auto digest = test::must_put(*m_store, data);
  const auto files = test::blob_files_of(data_dir(), digest);
  ASSERT_EQ(files.size(), 1u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(k_large / 2);
    f.put(static_cast<char>(data[k_large / 2] ^ 0x01));
  }
  ASSERT_NE(test::read_file(files[0]), data) << "the blob was not stored raw; damage it otherwise";

  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto dir = work_dir("out");
  auto r = client->get_to_file(digest, dir / "f");
  ASSERT_TRUE(fails_with(r, Errc::corrupt));
  EXPECT_THAT(r.error().message, HasSubstr(digest.hex()));
  EXPECT_THAT(names_in(dir), ElementsAre());

  // get() checks the same way.
  EXPECT_TRUE(fails_with(client->get(digest), Errc::corrupt));
}

// --- statuses that are answers --------------------------------------------------------------

TEST_F(ClientTest, ABadRequestIsNotRetried) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto claimed = cas::digest_of(std::string_view("what the digest says"));
  auto r = client->put(claimed, "what the body holds");
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_EQ(client->counters().requests, 1u);
  EXPECT_EQ(client->counters().retries, 0u);
  EXPECT_FALSE(m_store->contains(claimed.hash));
}

TEST_F(ClientTest, UnauthorizedIsNotRetried) {
  ASSERT_NO_FATAL_FAILURE(start_server(0, 0)); // no anonymous access at all
  auto client = connect();
  ASSERT_NE(client, nullptr);
  auto r = client->get(test::must_put(*m_store, "readable with a token only"));
  ASSERT_TRUE(fails_with(r, Errc::unauthorized));
  EXPECT_THAT(r.error().message, HasSubstr("401"));
  EXPECT_EQ(client->counters().requests, 1u);
  EXPECT_EQ(client->counters().retries, 0u);
}

// A token the server refuses has one fix, on the user's side: the message names the server's
// answer and that fix, never the client's internal step ("findMissing: HTTP 401 …").
TEST_F(ClientTest, ARefusedTokenNamesTheServersAnswerAndTheFix) {
  auto reader = server::TokenFile(data_dir()).create("reader", server::k_scope_read);
  ASSERT_TRUE(ok(reader));
  ASSERT_NO_FATAL_FAILURE(start_server(0, 0)); // no anonymous access at all
  const std::vector<cas::Digest> digests{cas::digest_of(std::string_view("wanted"))};

  auto anonymous = connect();
  ASSERT_NE(anonymous, nullptr);
  auto none = anonymous->find_missing(digests);
  ASSERT_TRUE(fails_with(none, Errc::unauthorized));
  EXPECT_EQ(none.error().message,
            "the server needs a token (HTTP 401: this request needs a token with the 'read' "
            "scope); give --token, --token-file or INGOT_TOKEN");

  auto options = options_for(port());
  options.token = "revoked-or-never-made";
  auto wrong = connect(options);
  ASSERT_NE(wrong, nullptr);
  auto refused = wrong->find_missing(digests);
  ASSERT_TRUE(fails_with(refused, Errc::unauthorized));
  EXPECT_EQ(refused.error().message, "the server refused the token (HTTP 401: unknown or revoked "
                                     "token); check --token or INGOT_TOKEN");

  options.token = reader->first;
  auto read_only = connect(options);
  ASSERT_NE(read_only, nullptr);
  auto put = read_only->put(cas::digest_of(std::string_view("x")), "x");
  ASSERT_TRUE(fails_with(put, Errc::unauthorized));
  EXPECT_THAT(put.error().message, HasSubstr("(HTTP 403: token lacks the 'write' scope"));
  EXPECT_THAT(put.error().message, HasSubstr("use a token with that scope"));
  EXPECT_THAT(put.error().message, HasSubstr("ingot token create"));
}

// `ingot get HEX/SIZE` with the wrong size fetched the blob: a size is part of a digest.
TEST_F(ClientTest, AWrongSizeIsAMissThatNamesBothSizes) {
  const auto stored = test::must_put(*m_store, "twelve bytes");
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const cas::Digest asked{stored.hash, 99};
  auto got = client->get(asked);
  ASSERT_TRUE(fails_with(got, Errc::not_found));
  EXPECT_THAT(got.error().message, HasSubstr("is 12 bytes, not 99"));
  const auto file = work_dir("out") / "blob";
  auto to_file = client->get_to_file(asked, file);
  ASSERT_TRUE(fails_with(to_file, Errc::not_found));
  EXPECT_THAT(to_file.error().message, HasSubstr("is 12 bytes, not 99"));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(fs::is_empty(file.parent_path())) << "no temporary file left";
  // A bare hash (size 0, unknown) and the right size both fetch it.
  EXPECT_TRUE(ok(client->get(cas::Digest{stored.hash, 0})));
  EXPECT_TRUE(ok(client->get_to_file(stored, file)));
}

// --- uploads from files ---------------------------------------------------------------------

TEST_F(ClientTest, PutFileOfAFileChangedAfterHashingIsRefused) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto file = work_dir("in") / "changing";
  write_file(file, test::random_bytes(k_large, 7));
  auto digest = digest_file(file);
  ASSERT_TRUE(ok(digest));
  write_file(file, test::random_bytes(k_large, 8)); // same size, other bytes

  auto r = client->put_file(*digest, file);
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_THAT(r.error().message, HasSubstr(file.string()));
  EXPECT_EQ(client->counters().requests, 1u);
  EXPECT_FALSE(m_store->contains(digest->hash));
  EXPECT_THAT(test::blob_files_of(data_dir(), *digest), ElementsAre());
  auto missing = client->find_missing(std::vector<cas::Digest>{*digest});
  ASSERT_TRUE(ok(missing));
  EXPECT_THAT(*missing, ElementsAre(*digest));
}

TEST_F(ClientTest, PutFileStreamsAnUnchangedFile) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  const auto file = work_dir("in") / "steady";
  const auto data = test::random_bytes(k_large, 9);
  write_file(file, data);
  auto digest = digest_file(file);
  ASSERT_TRUE(ok(digest));
  EXPECT_EQ(*digest, cas::digest_of(data));
  ASSERT_TRUE(ok(client->put_file(*digest, file)));
  std::string stored;
  EXPECT_EQ(test::read_and_hash(*m_store, digest->hash, &stored).value(), *digest);
  EXPECT_EQ(stored, data);
}

} // namespace
} // namespace ingot::client
