// required_access and the route table: what each method on each route needs (scopes, 405's
// Allow list) and that the table itself is whole. Parsing targets is route_test.cpp's.
#include "server/auth.hpp"
#include "server/ops/ops.hpp"
#include "server/route.hpp"

#include <ostream>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace ingot::server {

void PrintTo(RouteKind kind, std::ostream* os) {
  *os << to_string(kind);
}

namespace {
// --- what each method on each route needs ---------------------------------------------------

constexpr RouteKind k_kinds[] = {
    RouteKind::cas,        RouteKind::ac,           RouteKind::kv,    RouteKind::find_missing,
    RouteKind::batch_read, RouteKind::batch_update, RouteKind::stats, RouteKind::metrics,
    RouteKind::healthz,    RouteKind::gc,           RouteKind::refs,  RouteKind::trees,
    RouteKind::releases,   RouteKind::release_yank, RouteKind::keys,  RouteKind::audit,
    RouteKind::status_page};
constexpr std::string_view k_methods[] = {"GET",   "HEAD",     "PUT",   "POST",    "DELETE",
                                          "MKCOL", "PROPFIND", "PATCH", "OPTIONS", "TRACE"};

testing::AssertionResult needs(RouteKind kind, std::string_view method, unsigned scopes) {
  const auto a = required_access(kind, method);
  if (!a.allowed) {
    return testing::AssertionFailure()
           << method << " on " << to_string(kind) << " is refused (Allow: " << a.allow << ")";
  }
  if (a.scopes != scopes) {
    return testing::AssertionFailure()
           << method << " on " << to_string(kind) << " needs '" << scopes_to_string(a.scopes)
           << "', expected '" << scopes_to_string(scopes) << "'";
  }
  return testing::AssertionSuccess();
}

testing::AssertionResult refused(RouteKind kind, std::string_view method) {
  const auto a = required_access(kind, method);
  if (a.allowed) {
    return testing::AssertionFailure() << method << " on " << to_string(kind) << " is allowed";
  }
  return testing::AssertionSuccess();
}

TEST(RequiredAccessTest, BlobRoutes) {
  for (const auto kind : {RouteKind::cas, RouteKind::ac, RouteKind::kv}) {
    EXPECT_TRUE(needs(kind, "GET", k_scope_read));
    EXPECT_TRUE(needs(kind, "HEAD", k_scope_read));
    EXPECT_TRUE(needs(kind, "PUT", k_scope_write));
    // The issue: "DELETE needs admin scope".
    EXPECT_TRUE(needs(kind, "DELETE", k_scope_admin));
    EXPECT_TRUE(refused(kind, "POST"));
    EXPECT_TRUE(refused(kind, "PATCH"));
    // Methods are case-sensitive (RFC 9110 9.1).
    EXPECT_TRUE(refused(kind, "get"));
  }
}

TEST(RequiredAccessTest, WebDavOnKvOnly) {
  EXPECT_TRUE(needs(RouteKind::kv, "PROPFIND", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::kv, "MKCOL", k_scope_write));
  EXPECT_TRUE(refused(RouteKind::cas, "PROPFIND"));
  EXPECT_TRUE(refused(RouteKind::ac, "MKCOL"));
}

TEST(RequiredAccessTest, JsonEndpointsArePostOnly) {
  EXPECT_TRUE(needs(RouteKind::find_missing, "POST", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::batch_read, "POST", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::batch_update, "POST", k_scope_write));
  for (const auto kind :
       {RouteKind::find_missing, RouteKind::batch_read, RouteKind::batch_update}) {
    EXPECT_TRUE(refused(kind, "GET"));
    EXPECT_TRUE(refused(kind, "PUT"));
    EXPECT_EQ(required_access(kind, "GET").allow, "POST");
  }
}

TEST(RequiredAccessTest, Monitoring) {
  EXPECT_TRUE(needs(RouteKind::stats, "GET", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::metrics, "GET", k_scope_read));
  EXPECT_TRUE(refused(RouteKind::metrics, "PUT"));
  EXPECT_TRUE(refused(RouteKind::stats, "POST"));
  // A liveness probe needs no token, whatever --anonymous says.
  EXPECT_TRUE(needs(RouteKind::healthz, "GET", 0));
  EXPECT_TRUE(needs(RouteKind::healthz, "HEAD", 0));
  EXPECT_TRUE(refused(RouteKind::healthz, "DELETE"));
  // The page at / is read like /v1/stats (anyone, with the default --anonymous read).
  EXPECT_TRUE(needs(RouteKind::status_page, "GET", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::status_page, "HEAD", k_scope_read));
  EXPECT_TRUE(refused(RouteKind::status_page, "POST"));
  EXPECT_TRUE(refused(RouteKind::status_page, "PUT"));
  EXPECT_EQ(required_access(RouteKind::status_page, "DELETE").allow, "GET, HEAD");
}

TEST(RequiredAccessTest, GcRunsNeedAdminAndRefsNeedWrite) {
  EXPECT_TRUE(needs(RouteKind::gc, "POST", k_scope_admin));
  EXPECT_TRUE(needs(RouteKind::gc, "GET", k_scope_read));
  EXPECT_TRUE(refused(RouteKind::gc, "DELETE"));
  EXPECT_TRUE(needs(RouteKind::refs, "GET", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::refs, "PUT", k_scope_write));
  EXPECT_TRUE(needs(RouteKind::refs, "DELETE", k_scope_write));
  EXPECT_TRUE(refused(RouteKind::refs, "POST"));
  EXPECT_TRUE(needs(RouteKind::trees, "GET", k_scope_read));
  EXPECT_TRUE(refused(RouteKind::trees, "PUT"));
}

TEST(RequiredAccessTest, PublishingNeedsSignAndYankAndAuditNeedAdmin) {
  EXPECT_TRUE(needs(RouteKind::releases, "GET", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::releases, "PUT", k_scope_sign));
  EXPECT_TRUE(refused(RouteKind::releases, "DELETE")); // releases are never deleted
  EXPECT_TRUE(needs(RouteKind::release_yank, "POST", k_scope_admin));
  EXPECT_TRUE(refused(RouteKind::release_yank, "GET"));
  EXPECT_TRUE(needs(RouteKind::keys, "GET", k_scope_read));
  EXPECT_TRUE(needs(RouteKind::audit, "GET", k_scope_admin));
  EXPECT_TRUE(refused(RouteKind::audit, "POST"));
}

TEST(RequiredAccessTest, AllowListsExactlyTheAllowedMethods) {
  // RFC 9110 10.2.1: a 405's Allow lists the methods the target resource supports.
  for (const auto kind : k_kinds) {
    std::set<std::string> allowed;
    std::string allow;
    for (const auto method : k_methods) {
      const auto a = required_access(kind, method);
      if (a.allowed) {
        allowed.emplace(method);
      } else {
        EXPECT_FALSE(a.allow.empty()) << method << " on " << to_string(kind);
        if (!allow.empty()) {
          EXPECT_EQ(a.allow, allow) << "Allow differs by refused method on " << to_string(kind);
        }
        allow = std::string(a.allow);
      }
    }
    std::set<std::string> listed;
    std::size_t start = 0;
    while (start < allow.size()) {
      auto comma = allow.find(',', start);
      if (comma == std::string::npos) {
        comma = allow.size();
      }
      std::string method = allow.substr(start, comma - start);
      method.erase(0, method.find_first_not_of(' '));
      listed.insert(method);
      start = comma + 1;
    }
    EXPECT_EQ(listed, allowed) << "Allow: " << allow << " on " << to_string(kind);
  }
}

TEST(RequiredAccessTest, NixReadsFollowAnonymousAndWritesNeedWrite) {
  // nix reads nix-cache-info before anything, without credentials, and PUTs it when that fails.
  EXPECT_EQ(required_access(RouteKind::nix_cache_info, "GET").scopes, 0u);
  EXPECT_EQ(required_access(RouteKind::nix_cache_info, "PUT").scopes, 0u);
  for (const auto kind : {RouteKind::nix_narinfo, RouteKind::nix}) {
    EXPECT_EQ(required_access(kind, "GET").scopes, k_scope_read);
    EXPECT_EQ(required_access(kind, "HEAD").scopes, k_scope_read); // nix HEADs before a PUT
    EXPECT_EQ(required_access(kind, "PUT").scopes, k_scope_write);
    EXPECT_FALSE(required_access(kind, "DELETE").allowed);
  }
  EXPECT_EQ(required_access(RouteKind::nix_pins, "PUT").scopes, k_scope_write);
  EXPECT_EQ(required_access(RouteKind::nix_pins, "DELETE").scopes, k_scope_write);
}

TEST(RequiredAccessTest, HeadWhereverGet) {
  // RFC 9110 9.3.2: HEAD is GET without the content, and 9.1: general-purpose servers MUST
  // support both; monitoring probes often use HEAD.
  for (const auto kind : k_kinds) {
    const auto get = required_access(kind, "GET");
    if (!get.allowed) {
      continue;
    }
    const auto head = required_access(kind, "HEAD");
    EXPECT_TRUE(head.allowed) << "HEAD on " << to_string(kind) << " is refused";
    EXPECT_EQ(head.scopes, get.scopes) << to_string(kind);
  }
}

// --- the route table ----------------------------------------------------------------------

TEST(RouteTableTest, EveryRowIsWholeAndInKindOrder) {
  const auto table = route_table();
  ASSERT_EQ(table.size(), k_route_kinds);
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& row = table[i];
    EXPECT_EQ(static_cast<std::size_t>(row.kind), i);
    EXPECT_FALSE(row.pattern.empty()) << row.name;
    EXPECT_NE(row.exact.empty(), row.prefix.empty()) << row.name << ": an exact path or a prefix";
    EXPECT_EQ(row.parse != nullptr, !row.prefix.empty()) << row.name;
    EXPECT_FALSE(row.methods.empty()) << row.name;
    for (const auto& m : row.methods) {
      EXPECT_NE(m.handler, nullptr) << m.method << " " << row.name;
      EXPECT_EQ(m.open != nullptr, m.body == BodyKind::stream) << m.method << " " << row.name;
      if (m.method == "GET" || m.method == "HEAD") {
        EXPECT_EQ(m.body, BodyKind::none) << m.method << " " << row.name;
      }
    }
  }
}

TEST(RouteTableTest, OnlyOperationsThatNeverWaitForTheDiskRunOnTheIoThread) {
  // Everything else runs on the blocking pool (a slow disk must not stall /healthz), but for
  // blob reads, tried first from memory alone.
  // nix-cache-info is a constant: nix reads it first, before anything else.
  const std::set<Op> never_wait = {Op::healthz, Op::keys, Op::nix_cache_info};
  for (const auto& row : route_table()) {
    for (const auto& m : row.methods) {
      EXPECT_EQ(waits_of(m.op) == Waits::never, never_wait.contains(m.op))
          << m.method << " " << row.name;
      EXPECT_EQ(waits_of(m.op) == Waits::memory_first,
                m.op == Op::read_blob || m.op == Op::read_narinfo)
          << m.method << " " << row.name;
    }
  }
}

TEST(RouteTableTest, EachExactPathAndPatternIsUsedOnce) {
  std::set<std::string_view> exact;
  std::set<std::string_view> patterns;
  for (const auto& row : route_table()) {
    if (!row.exact.empty()) {
      EXPECT_TRUE(exact.insert(row.exact).second) << row.exact;
    }
    EXPECT_TRUE(patterns.insert(row.pattern).second) << row.pattern;
  }
}

} // namespace
} // namespace ingot::server
