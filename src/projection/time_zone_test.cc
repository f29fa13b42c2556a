// TimeZone against the system's tzdata (Debian's tzdata package) and hand-made rules.

#include "projection/time_zone.h"

#include <gtest/gtest.h>

namespace qrpay::projection {
namespace {

using namespace std::chrono;

constexpr std::int64_t hour_ms = 3'600'000;

// 2026-11-26T00:00:00Z
constexpr UnixMs november_26_utc{1'795'651'200'000};

TEST(TimeZone, TokyoIsNineHoursAheadAllYear) {
    auto tokyo = TimeZone::load("Asia/Tokyo");
    ASSERT_TRUE(tokyo.ok()) << tokyo.status().to_string();
    EXPECT_EQ(tokyo->utc_offset(november_26_utc), hours(9));
    EXPECT_EQ(tokyo->utc_offset(UnixMs{november_26_utc.value - 180 * 24 * hour_ms}), hours(9));
    // 14:59:59.999Z is 23:59 in Tokyo; 15:00Z is the next business day.
    UnixMs before = {november_26_utc.value + 15 * hour_ms - 1};
    UnixMs after = {november_26_utc.value + 15 * hour_ms};
    EXPECT_EQ(format_iso_date(tokyo->local_day(before)), "2026-11-26");
    EXPECT_EQ(format_iso_date(tokyo->local_day(after)), "2026-11-27");
    EXPECT_EQ(tokyo->start_of_day(2026y / November / 27).value, after.value);
    // Far beyond the transition table, the footer rule ("JST-9") answers.
    EXPECT_EQ(tokyo->utc_offset(UnixMs{4'102'444'800'000}), hours(9));  // 2100
}

TEST(TimeZone, NewYorkFollowsDaylightSavingInTableAndFooterYears) {
    auto new_york = TimeZone::load("America/New_York");
    ASSERT_TRUE(new_york.ok()) << new_york.status().to_string();
    EXPECT_EQ(new_york->utc_offset(november_26_utc), hours(-5));
    UnixMs july_2026{1'783'036'800'000};  // 2026-07-03T00:00Z
    EXPECT_EQ(new_york->utc_offset(july_2026), hours(-4));
    UnixMs july_2050{2'540'419'200'000};     // 2050-07-03T00:00Z, past the transition table
    UnixMs january_2050{2'524'608'000'000};  // 2050-01-01T00:00Z
    EXPECT_EQ(new_york->utc_offset(july_2050), hours(-4));
    EXPECT_EQ(new_york->utc_offset(january_2050), hours(-5));
    EXPECT_EQ(format_iso_date(new_york->local_day(november_26_utc)), "2026-11-25");
}

TEST(TimeZone, PosixRulesWithDaylightSavingInBothHemispheres) {
    auto berlin = parse_posix_tz("CET-1CEST,M3.5.0,M10.5.0/3");
    ASSERT_TRUE(berlin.ok()) << berlin.status().to_string();
    EXPECT_EQ(berlin->std_offset_s, 3'600);
    EXPECT_EQ(berlin->dst_offset_s, 7'200);
    EXPECT_EQ(berlin->end.seconds_of_day, 3 * 3'600);
    auto sydney = parse_posix_tz("AEST-10AEDT,M10.1.0,M4.1.0/3");
    ASSERT_TRUE(sydney.ok());
    auto quoted = parse_posix_tz("<+0330>-3:30");
    ASSERT_TRUE(quoted.ok());
    EXPECT_EQ(quoted->std_offset_s, 3 * 3'600 + 30 * 60);
    EXPECT_FALSE(quoted->dst_offset_s.has_value());
    EXPECT_FALSE(parse_posix_tz("EST5EDT,J60,J300").ok()) << "Jn days are not supported";
    EXPECT_FALSE(parse_posix_tz("X1").ok());
}

TEST(TimeZone, RefusesBadNamesAndMissingFiles) {
    EXPECT_EQ(TimeZone::load("../etc/passwd").status().code(), Errc::invalid_argument);
    EXPECT_EQ(TimeZone::load("Nowhere/Atlantis").status().code(), Errc::io_error);
    EXPECT_EQ(TimeZone::parse("x", "not a tzif file at all, no, not at all").status().code(),
              Errc::corruption);
}

TEST(TimeZone, FixedZoneAndIsoDates) {
    TimeZone utc = TimeZone::fixed("UTC", seconds(0));
    EXPECT_EQ(format_iso_date(utc.local_day(november_26_utc)), "2026-11-26");
    EXPECT_EQ(utc.start_of_day(2026y / November / 26).value, november_26_utc.value);
    EXPECT_EQ(format_iso_date(utc.local_day(UnixMs{-1})), "1969-12-31");
    ASSERT_TRUE(parse_iso_date("2024-02-29").has_value());
    EXPECT_FALSE(parse_iso_date("2023-02-29").has_value());
    EXPECT_FALSE(parse_iso_date("2023-2-28").has_value());
    EXPECT_FALSE(parse_iso_date("2023-02-28T00").has_value());
    EXPECT_FALSE(parse_iso_date("20x3-02-28").has_value());
}

}  // namespace
}  // namespace qrpay::projection
