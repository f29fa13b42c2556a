#include "api/idempotency.h"

#include <nlohmann/json.hpp>

#include "api/requests.h"

namespace qrpay::api {
namespace {

using Effect = runtime::Effect<KeyEvent, KeyReply>;
using Json = nlohmann::json;

Json outcome_json(const KeyOutcome& outcome) {
    return {{"transaction_id", outcome.transaction_id},
            {"problem_status", outcome.problem_status},
            {"problem_code", outcome.problem_code},
            {"problem_detail", outcome.problem_detail}};
}

KeyOutcome outcome_from(const Json& json) {
    return KeyOutcome{
        json.at("transaction_id").get<std::string>(), json.at("problem_status").get<int>(),
        json.at("problem_code").get<std::string>(), json.at("problem_detail").get<std::string>()};
}

}  // namespace

KeyState IdempotencyKey::on_event(State state, const Event& event) const {
    if (const auto* claimed = std::get_if<KeyClaimed>(&event)) {
        QRPAY_ASSERT(state.phase != KeyPhase::done, "a done key is never claimed again");
        state.phase = KeyPhase::in_flight;
        state.request_hash = claimed->request_hash;
        state.claimed_at = claimed->claimed_at;
        return state;
    }
    QRPAY_ASSERT(state.phase == KeyPhase::in_flight, "only a claimed key finishes or is released");
    if (std::holds_alternative<KeyReleased>(event)) {
        return State{};
    }
    state.phase = KeyPhase::done;
    state.outcome = std::get<KeyFinished>(event).outcome;
    return state;
}

Effect IdempotencyKey::on_command(const State& state,
                                  const Command& command,
                                  const runtime::CommandContext<Command>& context) const {
    if (std::holds_alternative<ReleaseRequest>(command)) {
        if (state.phase != KeyPhase::in_flight) {
            return runtime::reject(Status(Errc::conflict, "idempotency key is not in flight"));
        }
        return runtime::persist<Event>(KeyReleased{}).then_reply(Finished{});
    }
    if (const auto* finish = std::get_if<FinishRequest>(&command)) {
        if (state.phase != KeyPhase::in_flight) {
            return runtime::reject(Status(Errc::conflict, "idempotency key is not in flight"));
        }
        return runtime::persist<Event>(KeyFinished{finish->outcome}).then_reply(Finished{});
    }
    const auto& begin = std::get<BeginRequest>(command);
    if (state.phase == KeyPhase::none) {
        return runtime::persist<Event>(KeyClaimed{begin.request_hash, context.now})
            .then_reply(Proceed{});
    }
    if (begin.request_hash != state.request_hash) {
        return runtime::reply(Reused{});
    }
    if (state.phase == KeyPhase::done) {
        return runtime::reply(Replay{state.outcome});
    }
    // In flight, and its request is gone (see the header): this retry takes the key over.
    return runtime::persist<Event>(KeyClaimed{begin.request_hash, context.now})
        .then_reply(Proceed{});
}

Effect IdempotencyKey::on_wake(const State& /*state*/,
                               const runtime::CommandContext<Command>& /*context*/) const {
    return runtime::no_effect();
}

std::optional<UnixMs> IdempotencyKey::deadline(const State& /*state*/) const {
    return std::nullopt;  // an abandoned claim is taken over lazily by the next Begin
}

runtime::EventData IdempotencyKey::encode_event(const Event& event) const {
    if (const auto* claimed = std::get_if<KeyClaimed>(&event)) {
        Json json = {{"v", 1},
                     {"request_hash", claimed->request_hash},
                     {"claimed_at_unix_ms", claimed->claimed_at.value}};
        return {"KeyClaimed", json.dump()};
    }
    if (std::holds_alternative<KeyReleased>(event)) {
        return {"KeyReleased", Json{{"v", 1}}.dump()};
    }
    Json json = outcome_json(std::get<KeyFinished>(event).outcome);
    json["v"] = 1;
    return {"KeyFinished", json.dump()};
}

KeyEvent IdempotencyKey::decode_event(const runtime::StoredEvent& stored) const {
    Json json = Json::parse(stored.payload, nullptr, false);
    QRPAY_ASSERT(json.is_object() && json.value("v", 0) == 1, "idempotency event version 1");
    try {
        if (stored.type == "KeyClaimed") {
            return KeyClaimed{json.at("request_hash").get<std::string>(),
                              UnixMs{json.at("claimed_at_unix_ms").get<std::int64_t>()}};
        }
        if (stored.type == "KeyReleased") {
            return KeyReleased{};
        }
        QRPAY_ASSERT(stored.type == "KeyFinished", "known idempotency event type");
        return KeyFinished{outcome_from(json)};
    } catch (const Json::exception& error) {
        QRPAY_ASSERT(false, "stored idempotency event is readable");
    }
    return {};
}

std::string key_scope_id(const std::string& merchant, const std::string& key) {
    return "k" + sha256_hex(std::to_string(merchant.size()) + ":" + merchant + key);
}

void KeyClaims::Hold::release() {
    std::call_once(released_, [this] {
        std::lock_guard lock(held_->mutex);
        held_->keys.erase(key_id_);
    });
}

std::shared_ptr<KeyClaims::Hold> KeyClaims::try_hold(const std::string& key_id) {
    std::lock_guard lock(held_->mutex);
    if (!held_->keys.insert(key_id).second) {
        return nullptr;
    }
    return std::make_shared<Hold>(held_, key_id);
}

std::size_t KeyClaims::held() const {
    std::lock_guard lock(held_->mutex);
    return held_->keys.size();
}

std::string IdempotencyKey::encode_state(const State& state) const {
    Json json = {{"v", 1},
                 {"phase", static_cast<int>(state.phase)},
                 {"request_hash", state.request_hash},
                 {"claimed_at_unix_ms", state.claimed_at.value},
                 {"outcome", outcome_json(state.outcome)}};
    return json.dump();
}

KeyState IdempotencyKey::decode_state(std::string_view bytes) const {
    Json json = Json::parse(bytes, nullptr, false);
    QRPAY_ASSERT(json.is_object() && json.value("v", 0) == 1, "idempotency snapshot version 1");
    State state;
    try {
        state.phase = static_cast<KeyPhase>(json.at("phase").get<int>());
        state.request_hash = json.at("request_hash").get<std::string>();
        state.claimed_at = UnixMs{json.at("claimed_at_unix_ms").get<std::int64_t>()};
        state.outcome = outcome_from(json.at("outcome"));
    } catch (const Json::exception& error) {
        QRPAY_ASSERT(false, "stored idempotency snapshot is readable");
    }
    return state;
}

}  // namespace qrpay::api
