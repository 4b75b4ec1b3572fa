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
    m_ops = std::make_unique<Ops>(*m_store, m_metrics, nullptr, OpsOptions{1024});
  }

  cas::Digest put(std::string_view bytes) { return test::must_put(*m_store, bytes); }

  static Route route(std::string_view target) {
    auto r = parse_route(target);
    EXPECT_TRUE(r) << target;
    return r ? *r : Route{};

  } // namespace ingot::server
