#include "cli/duration.h"

#include <gtest/gtest.h>

namespace qrpay::cli {
namespace {

TEST(Duration, ParsesEveryUnit) {
    EXPECT_EQ(parse_duration("250ms").value().count(), 250);
    EXPECT_EQ(parse_duration("10s").value().count(), 10'000);
    EXPECT_EQ(parse_duration("5m").value().count(), 300'000);
    EXPECT_EQ(parse_duration("24h").value().count(), 86'400'000);
}

TEST(Duration, RefusesMissingUnitsAndGarbage) {
    for (const char* bad : {"10", "", "s", "-1s", "1d", "1.5s", "99999999999999999h"}) {
        EXPECT_FALSE(parse_duration(bad).ok()) << bad;
    }
}

}  // namespace
}  // namespace qrpay::cli
