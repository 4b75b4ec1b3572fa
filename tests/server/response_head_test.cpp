// ResponseHead: the exact bytes of a response header, for both HTTP versions and both
// connection outcomes.
#include "server/response_head.hpp"

#include <gtest/gtest.h>

namespace ingot::server {
namespace {

TEST(ResponseHead, Http11KeepAliveNeedsNoConnectionField) {
  std::string out = "left over from the last response";
  ResponseHead head(out, 11, 404);
  head.field("Content-Type", "text/plain");
  head.finish(6, true);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n");
}

TEST(ResponseHead, Http11CloseSaysSo) {
  std::string out;
  ResponseHead(out, 11, 503).finish(0, false);
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(ResponseHead, Http10AnswersIn10AndKeepsAliveOnlyWhenSaid) {
  std::string out;
  ResponseHead(out, 10, 200).finish(12, true);
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n");
  ResponseHead(out, 10, 200).finish(12, false);
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n");
}

TEST(ResponseHead, AnETagIsTheQuotedHexOfItsBytes) {
  std::string out;
  const std::uint8_t bytes[] = {0x00, 0xab, 0xff};
  ResponseHead(out, 11, 206).quoted_hex_field("ETag", bytes).finish(18446744073709551615u, true);
  EXPECT_EQ(out, "HTTP/1.1 206 Partial Content\r\nETag: \"00abff\"\r\n"
                 "Content-Length: 18446744073709551615\r\n\r\n");
}

TEST(ResponseHead, EveryStatusIngotSendsHasItsReason) {
  for (unsigned status : {200u, 201u, 206u, 207u, 400u, 401u, 403u, 404u, 405u, 408u, 409u,
                          413u, 415u, 416u, 422u, 429u, 431u, 500u, 501u, 503u, 507u}) {
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
  }
  EXPECT_EQ(reason_phrase(299), "Unknown");
}

} // namespace
} // namespace ingot::server
