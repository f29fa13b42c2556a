#include "api/idempotency.h"

#include <gtest/gtest.h>

namespace qrpay::api {
namespace {

using Context = runtime::CommandContext<KeyCommand>;

Context at(std::int64_t now_ms) {
    return Context{
        .now = UnixMs{now_ms}, .entity_id = "m|k", .seq = SequenceNr(0), .tell_self = {}};
}

KeyState apply(const IdempotencyKey& key,
               KeyState state,
               runtime::Effect<KeyEvent, KeyReply>& effect) {
    for (const auto& event : effect.events()) {
        state = key.on_event(std::move(state), event);
    }
    return state;
}

TEST(IdempotencyKey, FirstBeginProceedsAndClaims) {
    IdempotencyKey key;
    auto effect = key.on_command({}, BeginRequest{"h1"}, at(1000));
    ASSERT_FALSE(effect.is_rejected());
    ASSERT_TRUE(std::holds_alternative<Proceed>(*effect.reply()));
    KeyState state = apply(key, {}, effect);
    EXPECT_EQ(state.phase, KeyPhase::in_flight);
    EXPECT_EQ(state.request_hash, "h1");
}

TEST(IdempotencyKey, ADifferentRequestIsReusedAndChangesNothing) {
    IdempotencyKey key;
    KeyState state{KeyPhase::in_flight, "h1", UnixMs{1000}, {}};
    auto effect = key.on_command(state, BeginRequest{"h2"}, at(2000));
    ASSERT_FALSE(effect.is_rejected());
    EXPECT_TRUE(std::holds_alternative<Reused>(*effect.reply()));
    EXPECT_TRUE(effect.events().empty());
}

// KeyClaims admits one request per key, so a Begin that meets a claim in flight comes from a
// retry whose first request is gone (crash, or a Finish that could not be written): at once,
// not after a waiting time.
TEST(IdempotencyKey, AClaimWhoseRequestIsGoneIsTakenOverAtOnce) {
    IdempotencyKey key;
    KeyState state{KeyPhase::in_flight, "h1", UnixMs{1000}, {}};
    auto effect = key.on_command(state, BeginRequest{"h1"}, at(1001));
    ASSERT_FALSE(effect.is_rejected());
    EXPECT_TRUE(std::holds_alternative<Proceed>(*effect.reply()));
    EXPECT_EQ(apply(key, state, effect).claimed_at, UnixMs{1001});
}

TEST(KeyScope, PairsThatJoinToTheSameTextHaveTheirOwnScopes) {
    EXPECT_NE(key_scope_id("shop|a", "k"), key_scope_id("shop", "a|k"));
    EXPECT_NE(key_scope_id("shop1", "2k"), key_scope_id("shop", "12k"));
    EXPECT_NE(key_scope_id("ab", ""), key_scope_id("a", "b"));
    EXPECT_EQ(key_scope_id("shop", "k"), key_scope_id("shop", "k"));
}

TEST(KeyScope, EveryScopeHasOneLengthThatFitsTheJournal) {
    std::string longest_merchant(128, 'm');
    std::string longest_key(128, 'k');
    std::string id = key_scope_id(longest_merchant, longest_key);
    EXPECT_EQ(id.size(), key_scope_id("m", "k").size());
    EXPECT_LE(id.size() + IdempotencyKey::type_name.size() + 1, journal::persistence_id_bytes_max);
    EXPECT_EQ(id.find(longest_key), std::string::npos);  // the key itself is not in the id
}

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

TEST(IdempotencyKey, FinishedKeyReplaysItsOutcome) {
    IdempotencyKey key;
    KeyState state{KeyPhase::in_flight, "h1", UnixMs{1000}, {}};
    KeyOutcome outcome{"tx_1", 0, "", ""};
    auto finish = key.on_command(state, FinishRequest{outcome}, at(1500));
    state = apply(key, state, finish);
    EXPECT_EQ(state.phase, KeyPhase::done);
    auto replay = key.on_command(state, BeginRequest{"h1"}, at(90'000'000));
    ASSERT_FALSE(replay.is_rejected());
    EXPECT_EQ(std::get<Replay>(*replay.reply()).outcome, outcome);
    EXPECT_TRUE(replay.events().empty());
    EXPECT_TRUE(std::holds_alternative<Reused>(
        *key.on_command(state, BeginRequest{"h2"}, at(2000)).reply()));
}

TEST(IdempotencyKey, ReleaseReturnsTheKeyToUnused) {
    IdempotencyKey key;
    KeyState state{KeyPhase::in_flight, "h1", UnixMs{1000}, {}};
    auto release = key.on_command(state, ReleaseRequest{}, at(1200));
    state = apply(key, state, release);
    EXPECT_EQ(state.phase, KeyPhase::none);
    EXPECT_EQ(key.on_command({}, ReleaseRequest{}, at(1)).rejection().code(), Errc::conflict);
    EXPECT_EQ(key.on_command({}, FinishRequest{}, at(1)).rejection().code(), Errc::conflict);
}

TEST(IdempotencyKey, CodecRoundTripsEveryEventAndState) {
    IdempotencyKey key;
    std::vector<KeyEvent> events = {KeyClaimed{"h", UnixMs{5}},
                                    KeyFinished{KeyOutcome{"", 409, "code_already_read", "d"}},
                                    KeyReleased{}};
    for (const auto& event : events) {
        auto data = key.encode_event(event);
        auto decoded = key.decode_event({SequenceNr(1), data.type, data.payload, UnixMs{}});
        EXPECT_EQ(decoded.index(), event.index());
        EXPECT_EQ(key.encode_event(decoded).payload, data.payload);
    }
    KeyState state{KeyPhase::done, "h", UnixMs{7}, KeyOutcome{"tx_9", 0, "", ""}};
    KeyState back = key.decode_state(key.encode_state(state));
    EXPECT_EQ(back.phase, state.phase);
    EXPECT_EQ(back.outcome, state.outcome);
    EXPECT_EQ(back.claimed_at, state.claimed_at);
}

}  // namespace
}  // namespace qrpay::api
