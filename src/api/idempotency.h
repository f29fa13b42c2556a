#pragma once
// Idempotency keys of merchant writes, kept as an event-sourced entity so they survive
// restarts and will move with their shard in the cluster.
//
// Entity id: "<merchant id>|<Idempotency-Key>". States:
//   (none) --Begin(hash)--> in_flight --Finish(outcome)--> done
//                           in_flight --Release--> (none)   (a transient failure: retry may run)
// Begin with the same hash while in flight is refused (409) until in_flight_ms_max passes
// (the first request's process may have died: then the retry takes the key over); Begin with
// another hash is refused (422); Begin on a done key replays its outcome.
// Keys are never deleted by qrpay itself, so they are kept at least the 24 hours promised.
//
// Stored events (versioned JSON, "v": 1):
//   KeyClaimed  {v, request_hash, claimed_at_unix_ms}
//   KeyFinished {v, transaction_id, problem_status, problem_code, problem_detail}
//   KeyReleased {v}

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "runtime/behavior.h"

namespace qrpay::api {

// What a finished request answered: a transaction (replayed as its current view) or a problem.
struct KeyOutcome {
    std::string transaction_id;  // empty when the request ended in a problem
    int problem_status = 0;
    std::string problem_code;
    std::string problem_detail;
    bool operator==(const KeyOutcome&) const = default;
};

struct KeyClaimed {
    std::string request_hash;
    UnixMs claimed_at;
};
struct KeyFinished {
    KeyOutcome outcome;
};
struct KeyReleased {};
using KeyEvent = std::variant<KeyClaimed, KeyFinished, KeyReleased>;

struct BeginRequest {
    std::string request_hash;
};
struct FinishRequest {
    KeyOutcome outcome;
};
struct ReleaseRequest {};
using KeyCommand = std::variant<BeginRequest, FinishRequest, ReleaseRequest>;

struct Proceed {};  // the caller owns the key now and must Finish it
struct Replay {
    KeyOutcome outcome;
};
struct Finished {};
using KeyReply = std::variant<Proceed, Replay, Finished>;

enum class KeyPhase { none, in_flight, done };

struct KeyState {
    KeyPhase phase = KeyPhase::none;
    std::string request_hash;
    UnixMs claimed_at;
    KeyOutcome outcome;
};

class IdempotencyKey {
public:
    using State = KeyState;
    using Command = KeyCommand;
    using Event = KeyEvent;
    using Reply = KeyReply;
    static constexpr std::string_view type_name = "idempotency";

    explicit IdempotencyKey(std::int64_t in_flight_ms_max = 60'000)
        : in_flight_ms_max_(in_flight_ms_max) {}

    [[nodiscard]] State on_event(State state, const Event& event) const;
    runtime::Effect<Event, Reply> on_command(const State& state,
                                             const Command& command,
                                             const runtime::CommandContext<Command>& context) const;
    runtime::Effect<Event, Reply> on_wake(const State& state,
                                          const runtime::CommandContext<Command>& context) const;
    [[nodiscard]] std::optional<UnixMs> deadline(const State& state) const;
    [[nodiscard]] runtime::EventData encode_event(const Event& event) const;
    [[nodiscard]] Event decode_event(const runtime::StoredEvent& stored) const;
    [[nodiscard]] std::string encode_state(const State& state) const;
    [[nodiscard]] State decode_state(std::string_view bytes) const;

private:
    std::int64_t in_flight_ms_max_;
};

static_assert(runtime::Behavior<IdempotencyKey>);

}  // namespace qrpay::api
