#include "api/idempotency.h"

#include <gtest/gtest.h>

namespace qrpay::api {
namespace {

TEST(KeyClaims, OneRequestPerKeyUntilItsHoldIsReleased) {
    KeyClaims claims;
    auto first = claims.try_hold("k1");
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(claims.try_hold("k1"), nullptr);
    EXPECT_NE(claims.try_hold("k2"), nullptr);  // released at once: nobody keeps it
    first->release();
    first->release();  // idempotent
    auto again = claims.try_hold("k1");
    EXPECT_NE(again, nullptr);
    again.reset();  // destroying the last copy releases too
    EXPECT_EQ(claims.held(), 0U);
}

}  // namespace
}  // namespace qrpay::api
