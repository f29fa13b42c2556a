// TZif (RFC 8536) reading. The file is
//   header   "TZif", version ('\0', '2', '3', '4'), 15 reserved bytes, six big-endian uint32
//            counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
//   v1 data  timecnt 4-byte times, timecnt type indexes, typecnt 6-byte local time types
//            (int32 utoff, uint8 isdst, uint8 desigidx), charcnt designation bytes, leapcnt
//            8-byte leap records, isstdcnt and isutcnt indicator bytes
//   and from version 2 on, a second header and data block with 8-byte times (12-byte leap
//   records), then a footer "\n<POSIX TZ string>\n" for instants after the last transition.

#include "projection/time_zone.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>

#include "base/assert.h"

namespace qrpay::projection {

namespace {

using namespace std::chrono;

constexpr std::size_t header_bytes = 44;
constexpr std::int64_t seconds_per_day = 86'400;

std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
    std::int64_t quotient = value / divisor;
    return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

struct Counts {
    std::uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

std::uint64_t read_be(std::string_view bytes, std::size_t at, std::size_t width) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) {
        value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
    }
    return value;
}

std::int64_t read_signed(std::string_view bytes, std::size_t at, std::size_t width) {
    std::uint64_t raw = read_be(bytes, at, width);
    if (width == 4) {
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(raw));
    }
    return static_cast<std::int64_t>(raw);
}

std::optional<Counts> read_header(std::string_view bytes, std::size_t at) {
    if (bytes.size() < at + header_bytes || bytes.substr(at, 4) != "TZif") {
        return std::nullopt;
    }
    auto count = [&](std::size_t index) {
        return static_cast<std::uint32_t>(read_be(bytes, at + 20 + 4 * index, 4));
    };
    return Counts{count(0), count(1), count(2), count(3), count(4), count(5)};
}

std::size_t block_bytes(const Counts& c, std::size_t time_width) {
    return std::size_t{c.timecnt} * time_width + c.timecnt + std::size_t{c.typecnt} * 6 +
           c.charcnt + std::size_t{c.leapcnt} * (time_width + 4) + c.isstdcnt + c.isutcnt;
}

// Parses one data block; `at` is where it starts (after its header).
Status read_block(std::string_view bytes,
                  std::size_t at,
                  const Counts& counts,
                  std::size_t time_width,
                  std::vector<std::pair<std::int64_t, std::size_t>>& transitions,
                  std::vector<std::int64_t>& type_offsets) {
    if (counts.typecnt == 0 || bytes.size() < at + block_bytes(counts, time_width)) {
        return {Errc::corruption, "TZif data block is truncated or has no local time type"};
    }
    std::size_t types_at = at + std::size_t{counts.timecnt} * (time_width + 1);
    for (std::uint32_t i = 0; i < counts.typecnt; ++i) {
        type_offsets.push_back(read_signed(bytes, types_at + std::size_t{i} * 6, 4));
    }
    std::size_t indexes_at = at + std::size_t{counts.timecnt} * time_width;
    for (std::uint32_t i = 0; i < counts.timecnt; ++i) {
        auto type = static_cast<std::size_t>(static_cast<unsigned char>(bytes[indexes_at + i]));
        if (type >= counts.typecnt) {
            return {Errc::corruption, "TZif transition names an unknown local time type"};
        }
        transitions.emplace_back(read_signed(bytes, at + std::size_t{i} * time_width, time_width),
                                 type);
    }
    return {};
}

// [+-]hh[:mm[:ss]] -> seconds; advances `text`.
std::optional<std::int64_t> parse_hms(std::string_view& text) {
    std::int64_t sign = 1;
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
        sign = text[0] == '-' ? -1 : 1;
        text.remove_prefix(1);
    }
    std::int64_t total = 0;
    for (int part = 0; part < 3; ++part) {
        if (part > 0) {
            if (text.empty() || text[0] != ':') {
                break;
            }
            text.remove_prefix(1);
        }
        std::int64_t value = 0;
        std::size_t digits = 0;
        while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])) &&
               digits < 3) {
            value = value * 10 + (text[digits] - '0');
            ++digits;
        }
        if (digits == 0) {
            return std::nullopt;
        }
        text.remove_prefix(digits);
        total += value * (part == 0 ? 3'600 : part == 1 ? 60 : 1);
    }
    return sign * total;
}

// A zone abbreviation: alphabetic, or anything between '<' and '>'.
bool skip_name(std::string_view& text) {
    if (!text.empty() && text[0] == '<') {
        std::size_t close = text.find('>');
        if (close == std::string_view::npos) {
            return false;
        }
        text.remove_prefix(close + 1);
        return true;
    }
    std::size_t length = 0;
    while (length < text.size() && std::isalpha(static_cast<unsigned char>(text[length]))) {
        ++length;
    }
    text.remove_prefix(length);
    return length >= 3;
}

// ",Mm.w.d[/time]"; advances `text`.
std::optional<TimeZone::DayRule> parse_day_rule(std::string_view& text) {
    if (text.size() < 2 || text[0] != ',' || text[1] != 'M') {
        return std::nullopt;  // the Jn and n forms are not supported
    }
    text.remove_prefix(2);
    unsigned fields[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
        if (i > 0) {
            if (text.empty() || text[0] != '.') {
                return std::nullopt;
            }
            text.remove_prefix(1);
        }
        std::size_t digits = 0;
        while (digits < text.size() && digits < 2 &&
               std::isdigit(static_cast<unsigned char>(text[digits]))) {
            fields[i] = fields[i] * 10 + static_cast<unsigned>(text[digits] - '0');
            ++digits;
        }
        if (digits == 0) {
            return std::nullopt;
        }
        text.remove_prefix(digits);
    }
    TimeZone::DayRule rule{fields[0], fields[1], fields[2], 7'200};
    if (rule.month < 1 || rule.month > 12 || rule.week < 1 || rule.week > 5 || rule.weekday > 6) {
        return std::nullopt;
    }
    if (!text.empty() && text[0] == '/') {
        text.remove_prefix(1);
        auto time = parse_hms(text);
        if (!time) {
            return std::nullopt;
        }
        rule.seconds_of_day = *time;
    }
    return rule;
}

// The UTC second at which `rule` happens in `year`, its local time being `offset_s` from UTC.
std::int64_t rule_instant_s(int year, const TimeZone::DayRule& rule, std::int64_t offset_s) {
    weekday day_of_week{rule.weekday};
    month rule_month{rule.month};
    sys_days date = rule.week == 5
                        ? sys_days(year_month_weekday_last{std::chrono::year{year}, rule_month,
                                                           weekday_last{day_of_week}})
                        : sys_days(year_month_weekday{std::chrono::year{year}, rule_month,
                                                      day_of_week[rule.week]});
    std::int64_t local_s = date.time_since_epoch().count() * seconds_per_day + rule.seconds_of_day;
    return local_s - offset_s;
}

std::int64_t posix_offset_s(const TimeZone::PosixRule& rule, std::int64_t utc_s) {
    if (!rule.dst_offset_s) {
        return rule.std_offset_s;
    }
    std::int64_t local_days = floor_div(utc_s + rule.std_offset_s, seconds_per_day);
    int year = static_cast<int>(year_month_day(sys_days(days(local_days))).year());
    std::int64_t start = rule_instant_s(year, rule.start, rule.std_offset_s);
    std::int64_t end = rule_instant_s(year, rule.end, *rule.dst_offset_s);
    bool in_dst = start < end ? (utc_s >= start && utc_s < end) : !(utc_s >= end && utc_s < start);
    return in_dst ? *rule.dst_offset_s : rule.std_offset_s;
}

bool is_valid_zone_name(const std::string& name) {
    if (name.empty() || name.size() > 128 || name.front() == '/' ||
        name.find("..") != std::string::npos) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
               c == '+';
    });
}

}  // namespace

Result<TimeZone::PosixRule> parse_posix_tz(std::string_view text) {
    TimeZone::PosixRule rule;
    auto malformed = [&] {
        return Status(Errc::corruption, "unsupported POSIX TZ rule '" + std::string(text) + "'");
    };
    std::string_view rest = text;
    if (!skip_name(rest)) {
        return malformed();
    }
    auto std_offset = parse_hms(rest);
    if (!std_offset) {
        return malformed();
    }
    rule.std_offset_s = -*std_offset;  // POSIX counts west of Greenwich as positive
    if (rest.empty()) {
        return rule;
    }
    if (!skip_name(rest)) {
        return malformed();
    }
    rule.dst_offset_s = rule.std_offset_s + 3'600;
    if (!rest.empty() && rest[0] != ',') {
        auto dst_offset = parse_hms(rest);
        if (!dst_offset) {
            return malformed();
        }
        rule.dst_offset_s = -*dst_offset;
    }
    auto start = parse_day_rule(rest);
    auto end = start ? parse_day_rule(rest) : std::nullopt;
    if (!start || !end || !rest.empty()) {
        return malformed();
    }
    rule.start = *start;
    rule.end = *end;
    return rule;
}

Result<TimeZone> TimeZone::load(const std::string& name, const std::string& zoneinfo_dir) {
    if (!is_valid_zone_name(name)) {
        return Status(Errc::invalid_argument, "not a time zone name: '" + name + "'");
    }
    std::string path = zoneinfo_dir + "/" + name;
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return Status(Errc::io_error, "cannot read time zone file " + path);
    }
    std::string bytes(tzif_bytes_max + 1, '\0');
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(file.gcount()));
    if (bytes.size() > tzif_bytes_max) {
        return Status(Errc::corruption, "time zone file " + path + " is too large");
    }
    return parse(name, bytes);
}

Result<TimeZone> TimeZone::parse(std::string name, std::string_view bytes) {
    auto first = read_header(bytes, 0);
    if (!first) {
        return Status(Errc::corruption, "not a TZif file: " + name);
    }
    bool v2 = bytes[4] != '\0';
    std::size_t at = header_bytes;
    Counts counts = *first;
    std::size_t width = 4;
    if (v2) {
        at += block_bytes(*first, 4);
        auto second = read_header(bytes, at);
        if (!second) {
            return Status(Errc::corruption, "TZif v2+ file without its second header: " + name);
        }
        counts = *second;
        at += header_bytes;
        width = 8;
    }
    std::vector<std::pair<std::int64_t, std::size_t>> transitions;
    std::vector<std::int64_t> type_offsets;
    if (Status read = read_block(bytes, at, counts, width, transitions, type_offsets); !read.ok()) {
        return read;
    }
    TimeZone zone;
    zone.name_ = std::move(name);
    zone.initial_offset_s_ = type_offsets[0];
    for (const auto& [when, type] : transitions) {
        zone.transitions_.push_back({when, type_offsets[type]});
    }
    std::size_t footer_at = at + block_bytes(counts, width);
    if (v2 && footer_at + 1 < bytes.size() && bytes[footer_at] == '\n') {
        std::size_t footer_end = bytes.find('\n', footer_at + 1);
        std::string_view footer = bytes.substr(footer_at + 1, footer_end - footer_at - 1);
        if (!footer.empty()) {
            auto rule = parse_posix_tz(footer);
            if (!rule.ok()) {
                return rule.status();
            }
            zone.rule_ = *rule;
        }
    }
    return zone;
}

TimeZone TimeZone::fixed(std::string name, std::chrono::seconds utc_offset) {
    TimeZone zone;
    zone.name_ = std::move(name);
    zone.initial_offset_s_ = utc_offset.count();
    return zone;
}

std::int64_t TimeZone::offset_at_s(std::int64_t utc_s) const {
    if (transitions_.empty() || utc_s < transitions_.front().at_s) {
        return transitions_.empty() && rule_ ? posix_offset_s(*rule_, utc_s) : initial_offset_s_;
    }
    if (utc_s >= transitions_.back().at_s && rule_) {
        return posix_offset_s(*rule_, utc_s);
    }
    auto after = std::upper_bound(
        transitions_.begin(), transitions_.end(), utc_s,
        [](std::int64_t value, const Transition& transition) { return value < transition.at_s; });
    QRPAY_ASSERT(after != transitions_.begin(), "an instant after the first transition");
    return std::prev(after)->offset_s;
}

std::chrono::seconds TimeZone::utc_offset(UnixMs at) const {
    return std::chrono::seconds(offset_at_s(floor_div(at.value, 1'000)));
}

std::chrono::year_month_day TimeZone::local_day(UnixMs at) const {
    std::int64_t utc_s = floor_div(at.value, 1'000);
    std::int64_t local_days = floor_div(utc_s + offset_at_s(utc_s), seconds_per_day);
    return year_month_day(sys_days(days(local_days)));
}

UnixMs TimeZone::start_of_day(std::chrono::year_month_day day) const {
    std::int64_t local_s = sys_days(day).time_since_epoch().count() * seconds_per_day;
    std::int64_t utc_s = local_s - offset_at_s(local_s);
    utc_s = local_s - offset_at_s(utc_s);  // the offset in force at that instant
    if (local_day(UnixMs{utc_s * 1'000}) != day) {
        utc_s = local_s - offset_at_s(utc_s - seconds_per_day / 2);  // midnight fell in a gap
    }
    return UnixMs{utc_s * 1'000};
}

std::optional<std::chrono::year_month_day> parse_iso_date(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    int fields[3] = {0, 0, 0};
    const std::size_t starts[3] = {0, 5, 8};
    const std::size_t lengths[3] = {4, 2, 2};
    for (int i = 0; i < 3; ++i) {
        for (std::size_t j = 0; j < lengths[i]; ++j) {
            char c = text[starts[i] + j];
            if (!std::isdigit(static_cast<unsigned char>(c))) {
                return std::nullopt;
            }
            fields[i] = fields[i] * 10 + (c - '0');
        }
    }
    year_month_day day{year{fields[0]}, month{static_cast<unsigned>(fields[1])},
                       std::chrono::day{static_cast<unsigned>(fields[2])}};
    if (!day.ok() || day < iso_date_min || day > iso_date_max) {
        return std::nullopt;
    }
    return day;
}

std::string format_iso_date(std::chrono::year_month_day day) {
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(day.year()),
                  static_cast<unsigned>(day.month()), static_cast<unsigned>(day.day()));
    return text;
}

}  // namespace qrpay::projection
