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

TEST(Duration, FormatsInTheLargestExactUnitAndReadsBack) {
    using std::chrono::milliseconds;
    EXPECT_EQ(format_duration(milliseconds(0)), "0ms");
    EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
    EXPECT_EQ(format_duration(milliseconds(1'500)), "1500ms");
    EXPECT_EQ(format_duration(milliseconds(10'000)), "10s");
    EXPECT_EQ(format_duration(milliseconds(300'000)), "5m");
    EXPECT_EQ(format_duration(milliseconds(90'000)), "90s");
    EXPECT_EQ(format_duration(milliseconds(86'400'000)), "24h");
    for (std::int64_t ms : {0, 1, 999, 60'000, 7'200'000, 86'400'001}) {
        EXPECT_EQ(parse_duration(format_duration(milliseconds(ms))).value().count(), ms) << ms;
    }
}

}  // namespace
}  // namespace qrpay::cli
