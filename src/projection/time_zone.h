#pragma once
// TimeZone: the UTC offsets of one IANA time zone, so that a sale counts on the merchant's
// business day (default Asia/Tokyo). GCC 12's libstdc++ has no std::chrono::tzdb and
// localtime_r with a changing TZ is not thread-safe, so the zone's TZif file (RFC 8536) is
// read once at start-up: its transition table, and after the last transition its footer's
// POSIX TZ rule ("JST-9", "EST5EDT,M3.2.0,M11.1.0"; the Jn and n day forms are refused).
//
// Thread safety: immutable after load(); every method is const and thread-safe.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace qrpay::projection {

inline constexpr std::string_view default_business_time_zone = "Asia/Tokyo";
inline constexpr std::size_t tzif_bytes_max = 1 << 20;

class TimeZone {
public:
    // Reads <zoneinfo_dir>/<name>. invalid_argument for a malformed name, io_error when the
    // file cannot be read, corruption when it is not a TZif file or its rule is unsupported.
    static Result<TimeZone> load(const std::string& name,
                                 const std::string& zoneinfo_dir = "/usr/share/zoneinfo");
    // Parses TZif bytes (tests).
    static Result<TimeZone> parse(std::string name, std::string_view tzif_bytes);
    // A zone with one offset forever.
    static TimeZone fixed(std::string name, std::chrono::seconds utc_offset);

    [[nodiscard]] const std::string& name() const { return name_; }
    // Local time minus UTC at the instant `at`.
    [[nodiscard]] std::chrono::seconds utc_offset(UnixMs at) const;
    // The local calendar day of `at`.
    [[nodiscard]] std::chrono::year_month_day local_day(UnixMs at) const;
    // The first instant whose local day is `day` (local midnight, or the first local time of
    // that day when midnight falls into a gap).
    [[nodiscard]] UnixMs start_of_day(std::chrono::year_month_day day) const;

    // A rule of a POSIX TZ string: month, week (1..5, 5 = last) and weekday (0 = Sunday), at
    // local time seconds_of_day (may be negative or above a day).
    struct DayRule {
        unsigned month = 3;
        unsigned week = 2;
        unsigned weekday = 0;
        std::int64_t seconds_of_day = 7'200;
    };
    struct PosixRule {
        std::int64_t std_offset_s = 0;             // local minus UTC
        std::optional<std::int64_t> dst_offset_s;  // with start and end when set
        DayRule start;
        DayRule end;
    };

private:
    struct Transition {
        std::int64_t at_s;      // UTC seconds
        std::int64_t offset_s;  // local minus UTC from then on
    };

    TimeZone() = default;
    [[nodiscard]] std::int64_t offset_at_s(std::int64_t utc_s) const;

    std::string name_;
    std::int64_t initial_offset_s_ = 0;  // before the first transition
    std::vector<Transition> transitions_;
    std::optional<PosixRule> rule_;  // after the last transition
};

// Parses a POSIX TZ string as TZif footers carry it. corruption when unsupported or malformed.
Result<TimeZone::PosixRule> parse_posix_tz(std::string_view text);

// The business days the read models and the query API know: no event is older than the Unix
// epoch, and four digits end with year 9999. A day computed from another (a default range)
// is clamped into these, so that every day shown parses again.
inline constexpr std::chrono::year_month_day iso_date_min{
    std::chrono::year{1970}, std::chrono::January, std::chrono::day{1}};
inline constexpr std::chrono::year_month_day iso_date_max{
    std::chrono::year{9999}, std::chrono::December, std::chrono::day{31}};

// "YYYY-MM-DD" <-> calendar day; nullopt for anything but a valid date in that exact form,
// from iso_date_min to iso_date_max.
std::optional<std::chrono::year_month_day> parse_iso_date(std::string_view text);
std::string format_iso_date(std::chrono::year_month_day day);

}  // namespace qrpay::projection
