// Stored format of the Token entity, version 1. Compact JSON objects with sorted keys; every
// payload carries "v"; integers are JSON integers; times are Unix milliseconds.
//
//   event type   payload
//   UseStarted   {"at_unix_ms":i64,"expires_at_unix_ms":i64,"transaction_id":str,"v":1}
//   Expired      {"at_unix_ms":i64,"expires_at_unix_ms":i64,"v":1}
//   snapshot     {"expires_at_unix_ms":i64,"holder_transaction_id":str,
//                 "phase":"unused"|"in_use","v":1}
//
// A stored event never changes meaning: a new meaning is a new type or a new "v", and the
// decoder keeps reading every version it ever wrote (testdata/events_v1.jsonl proves v1).

#include <string>
#include <utility>

#include "base/assert.h"
#include "domain/codec_json.h"
#include "domain/token/token.h"

namespace qrpay::domain {
namespace {

using codec::Json;

constexpr std::string_view use_started_type = "UseStarted";

std::string encode_use_started(const UseStarted& event) {
    QRPAY_ASSERT(is_valid_id(event.transaction_id), "UseStarted names its transaction");
    Json object{{"v", codec::version_1},
                {"transaction_id", event.transaction_id.value},
                {"expires_at_unix_ms", event.expires_at.value},
                {"at_unix_ms", event.at.value}};
    return codec::dump(object);
}

UseStarted decode_use_started(std::string_view payload) {
    Json object = codec::parse_payload(payload, codec::version_1);
    UseStarted event{.transaction_id = {codec::string_field(object, "transaction_id")},
                     .expires_at = codec::unix_ms_field(object, "expires_at_unix_ms"),
                     .at = codec::unix_ms_field(object, "at_unix_ms")};
    QRPAY_ASSERT(is_valid_id(event.transaction_id), "a stored UseStarted names its transaction");
    return event;
}

std::string_view phase_name(TokenPhase phase) {
    return phase == TokenPhase::in_use ? "in_use" : "unused";
}

TokenPhase phase_from_name(const std::string& name) {
    if (name == "in_use") {
        return TokenPhase::in_use;
    }
    QRPAY_ASSERT(name == "unused", "a stored token phase is known");
    return TokenPhase::unused;
}

}  // namespace

journal::EventData Token::encode_event(const TokenEvent& event) const {
    if (const auto* use_started = std::get_if<UseStarted>(&event)) {
        return {std::string(use_started_type), encode_use_started(*use_started)};
    }
    return {std::string(codec::expired_type), codec::encode_expired(std::get<Expired>(event))};
}

TokenEvent Token::decode_event(const journal::StoredEvent& stored) const {
    if (stored.type == use_started_type) {
        return decode_use_started(stored.payload);
    }
    QRPAY_ASSERT(stored.type == codec::expired_type, "a stored token event type is known");
    return codec::decode_expired(codec::parse_payload(stored.payload, codec::version_1));
}

std::string Token::encode_state(const TokenState& state) const {
    QRPAY_ASSERT(state.phase == TokenPhase::unused || is_valid_id(state.holder),
                 "a token in use names its holder");
    Json object{{"v", codec::version_1},
                {"phase", phase_name(state.phase)},
                {"holder_transaction_id", state.holder.value},
                {"expires_at_unix_ms", state.expires_at.value}};
    return codec::dump(object);
}

TokenState Token::decode_state(std::string_view bytes) const {
    Json object = codec::parse_payload(bytes, codec::version_1);
    TokenState state{.phase = phase_from_name(codec::string_field(object, "phase")),
                     .holder = {codec::string_field(object, "holder_transaction_id")},
                     .expires_at = codec::unix_ms_field(object, "expires_at_unix_ms")};
    QRPAY_ASSERT(state.phase == TokenPhase::unused || is_valid_id(state.holder),
                 "a stored token in use names its holder");
    return state;
}

}  // namespace qrpay::domain
