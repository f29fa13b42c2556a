#pragma once
// Idempotency keys of merchant writes, kept as an event-sourced entity so they survive
// restarts and will move with their shard in the cluster.
//
// Entity id: key_scope_id(merchant, key), a hash of the length-prefixed pair, so that two
// (merchant, key) pairs never share a scope whatever bytes they hold, and the id has one
// length whatever the lengths of its parts. States:
//   (none) --Begin(hash)--> in_flight --Finish(outcome)--> done
//                           in_flight --Release--> (none)   (a transient failure: retry may run)
// Begin with another hash replies Reused (422); Begin on a done key replays its outcome.
// Begin with the same hash while in flight takes the key over: the claim's request is gone
// (its process died, or its Finish could not be written), because KeyClaims admits one request
// per key at a time in this process, and a request that is still running is refused there
// (409) before it reaches the entity.
// Keys are never deleted by qrpay itself, so they are kept at least the 24 hours promised.
//
// Stored events (versioned JSON, "v": 1):
//   KeyClaimed  {v, request_hash, claimed_at_unix_ms}
//   KeyFinished {v, transaction_id, problem_status, problem_code, problem_detail}
//   KeyReleased {v}

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
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
struct Reused {};  // the key was used with another request: 422, nothing changed
using KeyReply = std::variant<Proceed, Replay, Finished, Reused>;

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
};

static_assert(runtime::Behavior<IdempotencyKey>);

// The entity id of `key` in `merchant`'s scope: "k" and the hex SHA-256 of the merchant's
// length, a colon, the merchant and the key. 65 bytes for any lengths.
std::string key_scope_id(const std::string& merchant, const std::string& key);

// The keys a request of this process holds right now: at most one request per key at a time.
// A Hold gives its key back when released or destroyed; it shares the set with KeyClaims, so
// a Hold still in a queue when the API is destroyed (shutdown) stays safe. Thread-safe; the
// set is bounded by the requests in flight, which the HTTP server bounds.
//
// Why a retry may take over a claim the entity has in flight: the first request is gone, and
// running the request again is safe because the Transaction answers a ReadToken or Cancel with
// the same merchant and request key as a retry (transaction.h), so nothing happens twice. In a
// cluster the set must live with the key's shard owner (requests forwarded there).
class KeyClaims {
    struct Held {
        std::mutex mutex;  // guards keys: requests run on every HTTP and entity thread
        std::unordered_set<std::string> keys;
    };

public:
    class Hold {
    public:
        Hold(std::shared_ptr<Held> held, std::string key_id)
            : held_(std::move(held)), key_id_(std::move(key_id)) {}
        ~Hold() { release(); }
        Hold(const Hold&) = delete;
        Hold& operator=(const Hold&) = delete;
        Hold(Hold&&) = delete;
        Hold& operator=(Hold&&) = delete;
        void release();  // idempotent

    private:
        std::shared_ptr<Held> held_;
        std::string key_id_;
        std::once_flag released_;
    };

    // A hold on `key_id`, or null when another request of this process holds it.
    std::shared_ptr<Hold> try_hold(const std::string& key_id);
    [[nodiscard]] std::size_t held() const;

private:
    std::shared_ptr<Held> held_ = std::make_shared<Held>();
};

}  // namespace qrpay::api
