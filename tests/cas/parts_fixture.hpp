// Shared by the tests of the store's parts on their own (space_account_test.cpp,
// recency_test.cpp): a real index in a temp dir, the options the parts read, and the usage
// counters they keep.
#pragma once

#include "cas/index.hpp"
#include "cas/store.hpp"
#include "cas/usage_counters.hpp"
#include "support/temp_dir.hpp"

#include <memory>

#include <gtest/gtest.h>

namespace ingot::cas {

class PartsTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_options.dir = m_tmp.path();
    auto index = Index::open(m_tmp.path() / "index");
    ASSERT_TRUE(index) << index.error().message;
    m_index = std::move(*index);
  }

  test::TempDir m_tmp;
  StoreOptions m_options;
  std::unique_ptr<Index> m_index;
  UsageCounters m_usage{UsageDelta{}};
};

} // namespace ingot::cas
