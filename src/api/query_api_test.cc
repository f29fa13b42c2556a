// The query API's parameter validation: every bad date, limit, cursor and unknown parameter is
// a 422 invalid_query problem; good ones become the read model's query. The event streams'
// pieces: which states end a stream, the statuses replayed between two versions, the slots.
// (The routes themselves run against a real server in tests/integration/query_*_test.cc.)

#include "api/query_api.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "api/views.h"

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

// An agency the tests never call: only on_event and the codec of Transaction are used.
class UnusedAgency : public domain::AgencyPort {
public:
    void pay(const domain::AgencyPayment&, Done) override { ADD_FAILURE() << "pay"; }
    void inquire(const std::string&, Done) override { ADD_FAILURE() << "inquire"; }
    void reverse(const domain::AgencyReversal&, Done) override { ADD_FAILURE() << "reverse"; }
};

// The stored events of one payment that is read, completed, cancelled in vain (the agency
// declined), then cancelled: versions 1..8.
std::vector<journal::StoredEvent> paid_then_cancelled(const domain::Transaction& transaction) {
    const domain::MerchantId merchant{"merchant-1"};
    const Money amount{1200, "JPY"};
    const UnixMs at{1'000};
    std::vector<domain::TransactionEvent> events = {
        domain::TokenGenerated{{"consumer-1"}, Secret("12345678901234567890"), UnixMs{60'000}, at},
        domain::TokenRead{merchant, amount, "order-1", "key-1", "", at},
        domain::PaymentStarted{"tx_1", merchant, amount, "order-1", at},
        domain::PaymentCompleted{"ref-1", at},
        domain::CancellationStarted{merchant, "cancel-1", "", at},
        domain::CancellationFailed{"declined", at},
        domain::CancellationStarted{merchant, "cancel-2", "", at},
        domain::CancellationCompleted{at},
    };
    std::vector<journal::StoredEvent> stored;
    for (std::size_t i = 0; i < events.size(); ++i) {
        journal::EventData data = transaction.encode_event(events[i]);
        stored.push_back({SequenceNr{i + 1}, data.type, data.payload, at});
    }
    return stored;
}

std::vector<std::string> statuses(const std::vector<domain::TransactionView>& views) {
    std::vector<std::string> out;
    for (const auto& view : views) {
        out.emplace_back(status_word(view.state));
    }
    return out;
}

TEST(EventStream, EndsOnlyAtAStateWithNoWayOut) {
    using domain::TransactionOutcome;
    using domain::TransactionPhase;
    auto state = [](TransactionPhase phase, TransactionOutcome outcome) {
        domain::TransactionState out;
        out.phase = phase;
        out.outcome = outcome;
        return out;
    };
    for (TransactionPhase phase :
         {TransactionPhase::waiting_for_read_token, TransactionPhase::preparing_to_payment,
          TransactionPhase::waiting_for_payment_execution,
          TransactionPhase::waiting_for_payment_cancellation}) {
        EXPECT_FALSE(ends_event_stream(state(phase, TransactionOutcome::none)));
    }
    EXPECT_FALSE(
        ends_event_stream(state(TransactionPhase::finished, TransactionOutcome::completed)))
        << "a completed payment can still be cancelled";
    for (TransactionOutcome outcome :
         {TransactionOutcome::failed, TransactionOutcome::expired, TransactionOutcome::cancelled}) {
        EXPECT_TRUE(ends_event_stream(state(TransactionPhase::finished, outcome)));
    }
}

TEST(EventStream, ReplaysEveryStatusBetweenTwoVersions) {
    UnusedAgency agency;
    domain::Transaction transaction(agency);
    auto events = paid_then_cancelled(transaction);
    // What a stream shows first: the open code, version 1.
    domain::TransactionView opened{{"tx_1"}, {}, SequenceNr{1}};
    opened.state = transaction.on_event({}, transaction.decode_event(events[0]));
    // The pay answered version 4 (completed); versions 2 and 3 are replayed.
    std::vector<journal::StoredEvent> paid(events.begin() + 1, events.begin() + 3);
    auto changes = status_changes_after(opened, paid);
    EXPECT_EQ(statuses(changes),
              (std::vector<std::string>{"preparing_to_payment", "waiting_for_payment_execution"}));
    ASSERT_FALSE(changes.empty());
    EXPECT_EQ(changes.back().version, SequenceNr{3});
    // From completed on: a failed cancellation comes back to completed, then a cancellation.
    auto all = status_changes_after(
        opened, std::vector<journal::StoredEvent>(events.begin() + 1, events.end()));
    EXPECT_EQ(statuses(all), (std::vector<std::string>{
                                 "preparing_to_payment", "waiting_for_payment_execution",
                                 "completed", "waiting_for_payment_cancellation", "completed",
                                 "waiting_for_payment_cancellation", "cancelled"}));
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back().version, SequenceNr{8});
    EXPECT_NE(transaction_json(all.back()).find("\"version\":8"), std::string::npos);
}

TEST(EventStream, ReplayStopsAtAGap) {
    UnusedAgency agency;
    domain::Transaction transaction(agency);
    auto events = paid_then_cancelled(transaction);
    domain::TransactionView opened{{"tx_1"}, {}, SequenceNr{1}};
    opened.state = transaction.on_event({}, transaction.decode_event(events[0]));
    std::vector<journal::StoredEvent> gap = {events[1], events[3]};  // version 3 missing
    EXPECT_EQ(statuses(status_changes_after(opened, gap)),
              std::vector<std::string>{"preparing_to_payment"});
}

TEST(EventStreamSlots, BoundTheTotalAndEachSubject) {
    using Refusal = EventStreamSlots::Refusal;
    EventStreamSlots slots(3, 2);
    EXPECT_EQ(slots.acquire("consumer:a"), Refusal::none);
    EXPECT_EQ(slots.acquire("consumer:a"), Refusal::none);
    EXPECT_EQ(slots.acquire("consumer:a"), Refusal::per_subject_max);
    EXPECT_EQ(slots.acquire("consumer:b"), Refusal::none);
    EXPECT_EQ(slots.acquire("consumer:c"), Refusal::subscribers_max);
    EXPECT_EQ(slots.open(), 3U);
    EXPECT_EQ(slots.refused(Refusal::per_subject_max), 1U);
    EXPECT_EQ(slots.refused(Refusal::subscribers_max), 1U);
    slots.release("consumer:a");
    EXPECT_EQ(slots.acquire("consumer:a"), Refusal::none) << "its slot is free again";
    slots.release("consumer:b");
    EXPECT_EQ(slots.acquire("consumer:c"), Refusal::none);
    EXPECT_EQ(slots.open(), 3U);
}

}  // namespace
}  // namespace qrpay::api
