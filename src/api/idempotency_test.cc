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

TEST(IdempotencyKey, SameRequestInFlightIsConflictDifferentRequestIsInvalid) {
    IdempotencyKey key(60'000);
    KeyState state{KeyPhase::in_flight, "h1", UnixMs{1000}, {}};
    EXPECT_EQ(key.on_command(state, BeginRequest{"h1"}, at(2000)).rejection().code(),
              Errc::conflict);
    EXPECT_EQ(key.on_command(state, BeginRequest{"h2"}, at(2000)).rejection().code(),
              Errc::invalid_argument);
}

TEST(IdempotencyKey, AbandonedClaimIsTakenOverAfterTheLimit) {
    IdempotencyKey key(60'000);
    KeyState state{KeyPhase::in_flight, "h1", UnixMs{1000}, {}};
    auto effect = key.on_command(state, BeginRequest{"h1"}, at(61'001));
    ASSERT_FALSE(effect.is_rejected());
    EXPECT_TRUE(std::holds_alternative<Proceed>(*effect.reply()));
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
    EXPECT_EQ(key.on_command(state, BeginRequest{"h2"}, at(2000)).rejection().code(),
              Errc::invalid_argument);
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
