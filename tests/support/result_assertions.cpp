#include "support/result_assertions.hpp"

namespace ingot::test {

::testing::AssertionResult fails_with(const Error& error, Errc expected) {
  if (error.code != expected) {
    return ::testing::AssertionFailure()
           << "failed with " << ingot::to_string(error.code) << " (" << error.message
           << "), expected " << ingot::to_string(expected);
  }
  return ::testing::AssertionSuccess();
}

} // namespace ingot::test
