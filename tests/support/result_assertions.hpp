// Assertions on a Result that say what went wrong:
//   EXPECT_TRUE(ok(store.remove(hash)));
//   EXPECT_TRUE(fails_with(store.get(hash), Errc::not_found));
#pragma once

#include "util/result.hpp"

#include <gtest/gtest.h>

namespace ingot::test {

// Success, or a failure naming the error's code and message.
template <class T>
::testing::AssertionResult ok(const Result<T>& r) {
  if (!r) {
    return ::testing::AssertionFailure()
           << ingot::to_string(r.error().code) << ": " << r.error().message;
  }
  return ::testing::AssertionSuccess();
}

// Success if `error` has the expected code.
::testing::AssertionResult fails_with(const Error& error, Errc expected);

// Success if `r` failed with the expected code; a success or another code is a failure.
template <class T>
::testing::AssertionResult fails_with(const Result<T>& r, Errc expected) {
  if (r) {
    return ::testing::AssertionFailure() << "succeeded, expected " << ingot::to_string(expected);
  }
  return fails_with(r.error(), expected);
}

} // namespace ingot::test
