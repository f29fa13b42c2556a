// The query API's parameter validation: every bad date, limit, cursor and unknown parameter is
// a 422 invalid_query problem; good ones become the read model's query. (The routes themselves
// run against a real server in tests/integration/query_*_test.cc.)

#include "api/query_api.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace qrpay::api {
namespace {

using projection::TimeZone;
using projection::payments::HistoryCursor;

constexpr std::int64_t hour_ms = 3'600'000;
constexpr UnixMs november_26_utc{1'795'651'200'000};  // 2026-11-26T00:00:00Z

TimeZone tokyo() { return TimeZone::fixed("Asia/Tokyo", std::chrono::hours(9)); }

template <class T>
const Problem* problem_of(const Parsed<T>& parsed) {
    return std::get_if<Problem>(&parsed);
}

TEST(HistoryParams, DefaultsAndGoodValues) {
    auto empty = parse_history_params({}, tokyo());
    ASSERT_FALSE(problem_of(empty));
    EXPECT_EQ(std::get<HistoryParams>(empty).limit, 20U);
    EXPECT_FALSE(std::get<HistoryParams>(empty).status.has_value());
    auto full = parse_history_params({{"status", "cancelled"},
                                      {"limit", "100"},
                                      {"from", "2026-11-26"},
                                      {"to", "2026-11-26"},
                                      {"cursor", encode_cursor({UnixMs{5}, "tx_ab"})}},
                                     tokyo());
    ASSERT_FALSE(problem_of(full)) << problem_of(full)->detail;
    const auto& params = std::get<HistoryParams>(full);
    EXPECT_EQ(params.status, "cancelled");
    EXPECT_EQ(params.limit, 100U);
    // The business day 2026-11-26 in Tokyo: 2026-11-25T15:00Z up to 2026-11-26T15:00Z.
    EXPECT_EQ(params.from, (UnixMs{november_26_utc.value - 9 * hour_ms}));
    EXPECT_EQ(params.until, (UnixMs{november_26_utc.value + 15 * hour_ms}));
    EXPECT_EQ(params.after, (HistoryCursor{UnixMs{5}, "tx_ab"}));
    // Empty values mean "not given", as in ?status=&from=.
    EXPECT_FALSE(problem_of(parse_history_params({{"status", ""}, {"from", ""}}, tokyo())));
}

TEST(HistoryParams, RefusesBadInput) {
    const std::vector<http::QueryParams> bad = {
        {{"limit", "0"}},
        {{"limit", "101"}},
        {{"limit", "ten"}},
        {{"limit", "-1"}},
        {{"status", "paid"}},
        {{"from", "2026-13-01"}},
        {{"from", "2026-02-30"}},
        {{"to", "yesterday"}},
        {{"from", "2026-11-27"}, {"to", "2026-11-26"}},
        {{"cursor", "not base64!"}},
        {{"cursor", encode_cursor({UnixMs{5}, "tx_ab"}) + "%"}},
        {{"cursor", "bm9kb3Q"}},  // "nodot"
        {{"sort", "asc"}},
    };
    for (const auto& query : bad) {
        auto parsed = parse_history_params(query, tokyo());
        const Problem* problem = problem_of(parsed);
        ASSERT_NE(problem, nullptr) << query.begin()->first << "=" << query.begin()->second;
        EXPECT_EQ(problem->status, 422);
        EXPECT_EQ(problem->code, "invalid_query");
    }
}

TEST(SalesParams, DefaultsToTheLast31BusinessDays) {
    // 2026-11-26T20:00Z is already the 27th in Tokyo.
    UnixMs now{november_26_utc.value + 20 * hour_ms};
    auto parsed = parse_sales_params({}, tokyo(), now);
    ASSERT_FALSE(problem_of(parsed));
    EXPECT_EQ(std::get<SalesParams>(parsed).to_day, "2026-11-27");
    EXPECT_EQ(std::get<SalesParams>(parsed).from_day, "2026-10-28");
    auto given = parse_sales_params({{"from", "2026-11-01"}, {"to", "2026-11-26"}}, tokyo(), now);
    ASSERT_FALSE(problem_of(given));
    EXPECT_EQ(std::get<SalesParams>(given).from_day, "2026-11-01");
    EXPECT_EQ(std::get<SalesParams>(given).to_day, "2026-11-26");
    auto year = parse_sales_params({{"from", "2024-01-01"}, {"to", "2024-12-31"}}, tokyo(), now);
    EXPECT_FALSE(problem_of(year)) << "366 days of a leap year";
}

// Every day the answer shows is a day a client can send back: 0001..1969 and 10000+ are not.
TEST(SalesParams, DefaultBoundsStayWithinTheDaysADateCanName) {
    auto last = parse_sales_params({{"from", "9999-12-31"}}, tokyo(), november_26_utc);
    ASSERT_FALSE(problem_of(last));
    EXPECT_EQ(std::get<SalesParams>(last).from_day, "9999-12-31");
    EXPECT_EQ(std::get<SalesParams>(last).to_day, "9999-12-31");
    auto near_end = parse_sales_params({{"from", "9999-12-20"}}, tokyo(), november_26_utc);
    ASSERT_FALSE(problem_of(near_end));
    EXPECT_EQ(std::get<SalesParams>(near_end).to_day, "9999-12-31");
    auto first = parse_sales_params({{"to", "1970-01-05"}}, tokyo(), november_26_utc);
    ASSERT_FALSE(problem_of(first));
    EXPECT_EQ(std::get<SalesParams>(first).from_day, "1970-01-01");
    EXPECT_EQ(std::get<SalesParams>(first).to_day, "1970-01-05");
    for (const auto& [name, day] : std::vector<std::pair<std::string, std::string>>{
             {"from", "0001-01-01"}, {"to", "1969-12-31"}, {"from", "0000-01-01"}}) {
        auto refused = parse_sales_params({{name, day}}, tokyo(), november_26_utc);
        ASSERT_NE(problem_of(refused), nullptr) << name << "=" << day;
        EXPECT_EQ(problem_of(refused)->code, "invalid_query");
    }
}

TEST(SalesParams, RefusesBadInput) {
    const std::vector<http::QueryParams> bad = {
        {{"from", "2026/11/01"}},
        {{"to", "2026-11-31"}},
        {{"from", "2026-11-02"}, {"to", "2026-11-01"}},
        {{"from", "2024-01-01"}, {"to", "2025-01-01"}},  // 367 days
        {{"from", "2026-11-01T00:00:00Z"}},
        {{"merchant", "someone-else"}},
    };
    for (const auto& query : bad) {
        auto parsed = parse_sales_params(query, tokyo(), november_26_utc);
        const Problem* problem = problem_of(parsed);
        ASSERT_NE(problem, nullptr) << query.begin()->first << "=" << query.begin()->second;
        EXPECT_EQ(problem->code, "invalid_query");
    }
}

TEST(Rfc3339, ParsesOffsetsAndFractions) {
    EXPECT_EQ(parse_rfc3339("2026-11-26T00:00:00Z"), november_26_utc);
    EXPECT_EQ(parse_rfc3339("2026-11-26T09:00:00+09:00"), november_26_utc);
    EXPECT_EQ(parse_rfc3339("2026-11-26T09:00:00 09:00"), november_26_utc) << "unescaped '+'";
    EXPECT_EQ(parse_rfc3339("2026-11-25T19:00:00.5-05:00"), (UnixMs{november_26_utc.value + 500}));
    EXPECT_EQ(parse_rfc3339("2026-11-26T00:00:00.123456789Z"),
              (UnixMs{november_26_utc.value + 123}));
    for (const char* bad :
         {"2026-11-26", "2026-11-26T24:00:00Z", "2026-11-26T00:00:00", "2026-11-26T00:00:00+9:00",
          "2026-11-26T00:00:00.Z", "2026-11-26 00:00:00Z"}) {
        EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
    }
}

TEST(Cursor, RoundTripsAndRefusesForgeries) {
    HistoryCursor cursor{UnixMs{1'795'651'200'123}, "tx_0123456789abcdef0123456789abcdef"};
    EXPECT_EQ(decode_cursor(encode_cursor(cursor)), cursor);
    EXPECT_FALSE(decode_cursor("").has_value());
    EXPECT_FALSE(decode_cursor("LTEudHhfYQ").has_value());    // "-1.tx_a": negative time
    EXPECT_FALSE(decode_cursor("MS4nOyBEUk9Q").has_value());  // "1.'; DROP"
}

}  // namespace
}  // namespace qrpay::api
