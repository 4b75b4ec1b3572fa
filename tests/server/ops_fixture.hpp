// The operations over a real store in a temp dir, with the helpers their tests share: parsing a
// target, uploading as a front end streams a PUT, and reading the lookups /metrics reports.
#pragma once

#include "server/metrics.hpp"
#include "server/ops/ops.hpp"
#include "server/route.hpp"
#include "support/store_helpers.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace ingot::server {

class OpsFixture : public ::testing::Test {
protected:
  void SetUp() override {
    m_store = test::open_store(m_dir.path() / "data");
    ASSERT_TRUE(m_store);
    OpsOptions options;
    options.max_blob_size = 1024;
    m_ops = std::make_unique<Ops>(*m_store, m_metrics, nullptr, options);
  }

  cas::Digest put(std::string_view bytes) { return test::must_put(*m_store, bytes); }

  static Route route(std::string_view target) {
    auto r = parse_route(target);
    EXPECT_TRUE(r) << target;
    return r ? *r : Route{};
  }

  // Uploads `body` through the operations, as a front end streams a PUT.
  Result<cas::Digest> upload(const Caller& caller, const Route& to, std::string_view body) {
    auto sink = m_ops->open_upload(caller, to, BodyEncoding::identity, body.size());
    if (!sink) {
      return std::move(sink).error();
    }
    INGOT_TRY((*sink)->append(as_bytes(body)));
    return m_ops->finish_upload(caller, to, std::move(*sink));
  }

  // The lookups /metrics reports for `ns` ("cas", "ac", "kv", "nix") and `result` ("hit", "miss").
  std::string lookups(std::string_view ns, std::string_view result) const {
    const std::string text = m_metrics.prometheus(snapshot(*m_store));
    const std::string key = "ingot_cache_lookups_total{namespace=\"" + std::string(ns) +
                            "\",result=\"" + std::string(result) + "\"} ";
    const auto at = text.find(key);
    return at == std::string::npos
               ? "absent"
               : text.substr(at + key.size(), text.find('\n', at) - at - key.size());
  }

  test::TempDir m_dir;
  std::unique_ptr<cas::Store> m_store;
  Metrics m_metrics;
  std::unique_ptr<Ops> m_ops;
  const Caller m_admin = Caller::with(k_scope_admin);
  const Caller m_reader = Caller::with(k_scope_read);
  const Caller m_anonymous{};
  const Caller m_writer = Caller::with(k_scope_read | k_scope_write);
};

} // namespace ingot::server
