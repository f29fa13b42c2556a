#include "domain/token/token.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "domain/events_fixture.h"

namespace qrpay::domain {
namespace {

constexpr UnixMs t0{1'700'000'000'000};
constexpr UnixMs expiry{t0.value + 300'000};

UnixMs at_ms(std::int64_t offset_ms) { return UnixMs{t0.value + offset_ms}; }

const TransactionId tx1{"tx-0001"};
const TransactionId tx2{"tx-0002"};

const UseStarted use_started{.transaction_id = tx1, .expires_at = expiry, .at = t0};

Token::Context context_at(UnixMs now, std::uint64_t seq) {
    return Token::Context{
        .now = now,
        .entity_id = "12345678901234567890",
        .seq = SequenceNr(seq),
        .tell_self = [](const TokenCommand&) { ADD_FAILURE() << "a token never tells itself"; }};
}

TokenState given(const Token& token, const std::vector<TokenEvent>& events) {
    TokenState state;
    for (const TokenEvent& event : events) {
        state = token.on_event(state, event);
    }
    return state;
}

enum class Then { reply, rejected, nothing };

// Given events, when a command at `now`, then these events and this answer.
struct CommandRow {
    std::string name;
    std::vector<TokenEvent> given;
    TokenCommand command;
    UnixMs now;
    std::vector<TokenEvent> then_events;
    Then then = Then::reply;
    std::optional<TokenReply> reply;
    Errc errc = Errc::ok;
};

std::vector<CommandRow> start_use_rows() {
    const StartUse start_tx2{.transaction_id = tx2, .expires_at = at_ms(900'000)};
    const Expired expired_at_late{.expires_at = expiry, .at = at_ms(400'000)};
    return {
        {"Unused + StartUse -> UseStarted",
         {},
         start_tx2,
         at_ms(1),
         {UseStarted{.transaction_id = tx2, .expires_at = at_ms(900'000), .at = at_ms(1)}},
         Then::reply,
         UseAccepted{}},
        {"InUse + StartUse(other) before expiry -> conflict",
         {use_started},
         start_tx2,
         at_ms(1),
         {},
         Then::rejected,
         std::nullopt,
         Errc::conflict},
        {"InUse + StartUse(other) just before expiry -> conflict",
         {use_started},
         start_tx2,
         at_ms(299'999),
         {},
         Then::rejected,
         std::nullopt,
         Errc::conflict},
        {"InUse + StartUse(holder) -> accepted, nothing stored",
         {use_started},
         StartUse{.transaction_id = tx1, .expires_at = expiry},
         at_ms(5),
         {},
         Then::reply,
         UseAccepted{}},
        {"InUse past expiry + StartUse -> Expired + UseStarted",
         {use_started},
         start_tx2,
         at_ms(400'000),
         {expired_at_late,
          UseStarted{.transaction_id = tx2, .expires_at = at_ms(900'000), .at = at_ms(400'000)}},
         Then::reply,
         UseAccepted{}},
        {"InUse at expiry + StartUse -> Expired + UseStarted",
         {use_started},
         start_tx2,
         expiry,
         {Expired{.expires_at = expiry, .at = expiry},
          UseStarted{.transaction_id = tx2, .expires_at = at_ms(900'000), .at = expiry}},
         Then::reply,
         UseAccepted{}},
        {"Unused after a use + StartUse -> UseStarted",
         {use_started, expired_at_late},
         start_tx2,
         at_ms(400'001),
         {UseStarted{.transaction_id = tx2, .expires_at = at_ms(900'000), .at = at_ms(400'001)}},
         Then::reply,
         UseAccepted{}},
    };
}

std::vector<CommandRow> start_use_refused_rows() {
    return {
        {"StartUse with an empty transaction id -> invalid_argument",
         {},
         StartUse{.transaction_id = {}, .expires_at = expiry},
         t0,
         {},
         Then::rejected,
         std::nullopt,
         Errc::invalid_argument},
        {"StartUse with a 129-byte transaction id -> invalid_argument",
         {},
         StartUse{.transaction_id = {std::string(129, 'x')}, .expires_at = expiry},
         t0,
         {},
         Then::rejected,
         std::nullopt,
         Errc::invalid_argument},
        {"StartUse expiring now -> invalid_argument",
         {},
         StartUse{.transaction_id = tx1, .expires_at = t0},
         t0,
         {},
         Then::rejected,
         std::nullopt,
         Errc::invalid_argument},
    };
}

std::vector<CommandRow> resolve_rows() {
    const Expired expired_at_late{.expires_at = expiry, .at = at_ms(400'000)};
    return {
        {"Unused + Resolve -> not_found",
         {},
         Resolve{},
         t0,
         {},
         Then::rejected,
         std::nullopt,
         Errc::not_found},
        {"InUse + Resolve -> Resolved(holder)",
         {use_started},
         Resolve{},
         at_ms(10),
         {},
         Then::reply,
         Resolved{.transaction_id = tx1}},
        {"InUse past expiry + Resolve -> not_found",
         {use_started},
         Resolve{},
         expiry,
         {},
         Then::rejected,
         std::nullopt,
         Errc::not_found},
        {"Unused after a use + Resolve -> not_found",
         {use_started, expired_at_late},
         Resolve{},
         at_ms(10),
         {},
         Then::rejected,
         std::nullopt,
         Errc::not_found},
    };
}

TEST(TokenCommands, EveryRowOfTheTable) {
    Token token;
    std::vector<CommandRow> rows = start_use_rows();
    for (auto& more : {start_use_refused_rows(), resolve_rows()}) {
        rows.insert(rows.end(), more.begin(), more.end());
    }
    for (const CommandRow& row : rows) {
        SCOPED_TRACE(row.name);
        TokenState state = given(token, row.given);
        Token::Effect effect =
            token.on_command(state, row.command, context_at(row.now, row.given.size()));
        if (row.then == Then::rejected) {
            ASSERT_TRUE(effect.is_rejected());
            EXPECT_EQ(effect.rejection().code(), row.errc);
            continue;
        }
        ASSERT_FALSE(effect.is_rejected()) << effect.rejection().to_string();
        EXPECT_EQ(effect.events(), row.then_events);
        EXPECT_EQ(effect.reply(), row.reply);
        EXPECT_TRUE(effect.side_effects().empty());
        EXPECT_FALSE(effect.wake_delay().has_value());
        // Replay: the emitted events apply to the given state.
        TokenState next = state;
        for (const TokenEvent& event : effect.events()) {
            next = token.on_event(next, event);
        }
        if (!row.then_events.empty()) {
            EXPECT_EQ(next.phase, TokenPhase::in_use);
            EXPECT_EQ(next.holder, std::get<UseStarted>(row.then_events.back()).transaction_id);
        }
    }
}

TEST(TokenEvents, UseStartedThenExpiredReturnsToUnused) {
    Token token;
    TokenState in_use = token.on_event(TokenState{}, use_started);
    EXPECT_EQ(in_use,
              (TokenState{.phase = TokenPhase::in_use, .holder = tx1, .expires_at = expiry}));
    TokenState unused = token.on_event(in_use, Expired{.expires_at = expiry, .at = expiry});
    EXPECT_EQ(unused, TokenState{});
}

TEST(TokenEventsDeathTest, ForbiddenTransitionsAreBrokenInvariants) {
    Token token;
    TokenState in_use = token.on_event(TokenState{}, use_started);
    EXPECT_DEATH((void)token.on_event(in_use, use_started), "UseStarted applies to an unused");
    EXPECT_DEATH((void)token.on_event(TokenState{}, Expired{.expires_at = expiry, .at = expiry}),
                 "Expired applies to a token in use");
    EXPECT_DEATH((void)token.on_event(in_use, Expired{.expires_at = t0, .at = expiry}),
                 "Expired names the use's deadline");
}

TEST(TokenWake, ExpiresOnlyInUseAndAtOrAfterTheDeadline) {
    Token token;
    TokenState in_use = token.on_event(TokenState{}, use_started);
    struct Row {
        TokenState state;
        UnixMs now;
        std::vector<TokenEvent> then_events;
    };
    std::vector<Row> rows = {
        {TokenState{}, expiry, {}},
        {in_use, at_ms(299'999), {}},
        {in_use, expiry, {Expired{.expires_at = expiry, .at = expiry}}},
        {in_use, at_ms(301'000), {Expired{.expires_at = expiry, .at = at_ms(301'000)}}},
    };
    for (const Row& row : rows) {
        Token::Effect effect = token.on_wake(row.state, context_at(row.now, 1));
        ASSERT_FALSE(effect.is_rejected());
        EXPECT_EQ(effect.events(), row.then_events);
        EXPECT_FALSE(effect.reply().has_value());
        EXPECT_FALSE(effect.wake_delay().has_value());
    }
}

TEST(TokenDeadline, NoneInAnyState) {
    Token token;
    EXPECT_EQ(token.deadline(TokenState{}), std::nullopt);
    EXPECT_EQ(token.deadline(token.on_event(TokenState{}, use_started)), std::nullopt);
}

TEST(TokenCode, TwentyDecimalDigits) {
    EXPECT_TRUE(is_valid_code("12345678901234567890"));
    EXPECT_TRUE(is_valid_code("00000000000000000000"));
    EXPECT_FALSE(is_valid_code("1234567890123456789"));
    EXPECT_FALSE(is_valid_code("123456789012345678901"));
    EXPECT_FALSE(is_valid_code("1234567890123456789a"));
    EXPECT_FALSE(is_valid_code(""));
}

// ---- codec

const Expired fixture_expired{.expires_at = UnixMs{1'700'000'300'000},
                              .at = UnixMs{1'700'000'300'500}};
const UseStarted fixture_use_started{.transaction_id = tx1,
                                     .expires_at = UnixMs{1'700'000'300'000},
                                     .at = UnixMs{1'700'000'000'000}};

TEST(TokenCodec, GoldenBytesMatchTheV1Fixture) {
    Token token;
    auto lines = testing::events_v1_lines();
    EXPECT_EQ(testing::fixture_line_of(token.encode_event(fixture_use_started)),
              lines["UseStarted"]);
    EXPECT_EQ(testing::fixture_line_of(token.encode_event(fixture_expired)), lines["Expired"]);
}

TEST(TokenCodec, DecodesEveryV1FixtureEvent) {
    Token token;
    auto lines = testing::events_v1_lines();
    TokenEvent use = token.decode_event(testing::stored_event_of(lines["UseStarted"]));
    const auto& decoded = std::get<UseStarted>(use);
    EXPECT_EQ(decoded.transaction_id.value, "tx-0001");
    EXPECT_EQ(decoded.expires_at.value, 1'700'000'300'000);
    EXPECT_EQ(decoded.at.value, 1'700'000'000'000);
    TokenEvent expired = token.decode_event(testing::stored_event_of(lines["Expired"]));
    EXPECT_EQ(std::get<Expired>(expired).expires_at.value, 1'700'000'300'000);
    EXPECT_EQ(std::get<Expired>(expired).at.value, 1'700'000'300'500);
}

TEST(TokenCodec, EventsRoundTrip) {
    Token token;
    for (const TokenEvent& event : std::vector<TokenEvent>{use_started, fixture_expired}) {
        journal::EventData data = token.encode_event(event);
        journal::StoredEvent stored{
            .seq = SequenceNr(1), .type = data.type, .payload = data.payload, .written_at = t0};
        EXPECT_EQ(token.decode_event(stored), event);
    }
}

TEST(TokenCodec, StateRoundTripsInEveryPhase) {
    Token token;
    for (const TokenState& state : {TokenState{}, token.on_event(TokenState{}, use_started)}) {
        std::string bytes = token.encode_state(state);
        EXPECT_NE(bytes.find(R"("v":1)"), std::string::npos) << bytes;
        EXPECT_EQ(token.decode_state(bytes), state);
    }
}

TEST(TokenCodecDeathTest, UnreadableBytesAreBrokenInvariants) {
    Token token;
    auto stored = [](std::string type, std::string payload) {
        return journal::StoredEvent{.seq = SequenceNr(1),
                                    .type = std::move(type),
                                    .payload = std::move(payload),
                                    .written_at = t0};
    };
    EXPECT_DEATH((void)token.decode_event(stored("Nope", "{}")), "token event type is known");
    EXPECT_DEATH((void)token.decode_event(stored("UseStarted", "{not json")), "valid JSON");
    EXPECT_DEATH((void)token.decode_event(stored("UseStarted", "[1]")), "JSON object");
    EXPECT_DEATH((void)token.decode_event(stored("Expired", R"({"v":2,"at_unix_ms":1,)"
                                                            R"("expires_at_unix_ms":1})")),
                 "known version");
    EXPECT_DEATH((void)token.decode_event(stored("UseStarted", R"({"v":1,"at_unix_ms":1})")),
                 "stored field missing: transaction_id");
    EXPECT_DEATH((void)token.decode_event(stored("Expired", R"({"v":1,"at_unix_ms":"1",)"
                                                            R"("expires_at_unix_ms":1})")),
                 "not an integer: at_unix_ms");
    EXPECT_DEATH((void)token.decode_state(R"({"v":1,"phase":"lost",)"
                                          R"("holder_transaction_id":"","expires_at_unix_ms":0})"),
                 "token phase is known");
}

}  // namespace
}  // namespace qrpay::domain
