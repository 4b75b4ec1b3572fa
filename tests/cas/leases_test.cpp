// Leases: a blob stays held while any lease on it lives.
#include "cas/leases.hpp"

#include <gtest/gtest.h>

namespace ingot::cas {
namespace {

Hash hash_of(std::uint8_t b) {
  Hash h{};
  h[0] = b;
  return h;
}

TEST(Leases, ABlobIsHeldUntilItsLastLeaseGoes) {
  Leases leases;
  const Hash a = hash_of(1);
  const Hash b = hash_of(2);
  {
    const Lease first(leases, {a, b});
    {
      const Lease second(leases, {a});
      EXPECT_TRUE(leases.held(a));
    }
    EXPECT_TRUE(leases.held(a));
    EXPECT_TRUE(leases.held(b));
  }
  EXPECT_FALSE(leases.held(a));
  EXPECT_FALSE(leases.held(b));
}

TEST(Leases, UnholdingWhatIsNotHeldChangesNothing) {
  Leases leases;
  const Hash a = hash_of(1);
  leases.unhold(a);
  EXPECT_FALSE(leases.held(a));
  leases.hold(a);
  leases.unhold(hash_of(2));
  EXPECT_TRUE(leases.held(a));
}

} // namespace
} // namespace ingot::cas
