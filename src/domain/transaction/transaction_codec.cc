// Stored format of the Transaction entity, version 1. Compact JSON objects with sorted keys;
// every payload carries "v"; integers are JSON integers; times are Unix milliseconds; amounts
// are integer minor units with an ISO 4217 currency.
//
//   event type             payload
//   TokenGenerated         {"at_unix_ms","code","consumer_id","expires_at_unix_ms","v":1}
//   TokenRead              {"amount_minor","at_unix_ms","currency","merchant_id","order_id",
//                           "request_hash"?,"request_key","v":1}
//   Expired                {"at_unix_ms","expires_at_unix_ms","v":1}
//   PaymentStarted         {"amount_minor","at_unix_ms","currency","idempotency_key",
//                           "merchant_id","order_id","v":1}
//   PaymentCompleted       {"agency_reference","at_unix_ms","v":1}
//   PaymentFailed          {"at_unix_ms","reason","v":1}
//   CancellationStarted    {"at_unix_ms","merchant_id","request_hash"?,"request_key","v":1}
//   CancellationCompleted  {"at_unix_ms","v":1}
//   CancellationFailed     {"at_unix_ms","reason","v":1}
//   snapshot               every TransactionState field, "phase" and "outcome" as DESIGN §2
//                          words ("WaitingForReadToken", "completed"), "v":1
//
// "field"? is written only when not empty and read as "" when absent: request_hash was added
// to v1 after its first release, and the events without it mean what they always meant.
//
// A stored event never changes meaning: a new meaning is a new type or a new "v", and the
// decoder keeps reading every version it ever wrote (testdata/events_v1.jsonl proves v1).

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "base/assert.h"
#include "domain/codec_json.h"
#include "domain/limits.h"
#include "domain/token/token.h"
#include "domain/transaction/transaction.h"

namespace qrpay::domain {
namespace {

using codec::Json;

Json header(UnixMs at) { return Json{{"v", codec::version_1}, {"at_unix_ms", at.value}}; }

// ---- encoders: one per event type, each returning {type, payload}

journal::EventData encode(const TokenGenerated& event) {
    QRPAY_ASSERT(is_valid_code(event.code.reveal()), "TokenGenerated carries a valid code");
    Json object = header(event.at);
    object["consumer_id"] = event.consumer_id.value;
    object["code"] = event.code.reveal();
    object["expires_at_unix_ms"] = event.expires_at.value;
    return {"TokenGenerated", codec::dump(object)};
}

journal::EventData encode(const TokenRead& event) {
    Json object = header(event.at);
    object["merchant_id"] = event.merchant_id.value;
    codec::put_money(object, event.amount);
    object["order_id"] = event.order_id;
    object["request_key"] = event.request_key;
    if (!event.request_hash.empty()) {
        object["request_hash"] = event.request_hash;
    }
    return {"TokenRead", codec::dump(object)};
}

journal::EventData encode(const Expired& event) {
    return {std::string(codec::expired_type), codec::encode_expired(event)};
}

journal::EventData encode(const PaymentStarted& event) {
    QRPAY_ASSERT(!event.idempotency_key.empty(), "PaymentStarted carries its key");
    Json object = header(event.at);
    object["idempotency_key"] = event.idempotency_key;
    object["merchant_id"] = event.merchant_id.value;
    codec::put_money(object, event.amount);
    object["order_id"] = event.order_id;
    return {"PaymentStarted", codec::dump(object)};
}

journal::EventData encode(const PaymentCompleted& event) {
    Json object = header(event.at);
    object["agency_reference"] = event.agency_reference;
    return {"PaymentCompleted", codec::dump(object)};
}

journal::EventData encode(const PaymentFailed& event) {
    Json object = header(event.at);
    object["reason"] = event.reason;
    return {"PaymentFailed", codec::dump(object)};
}

journal::EventData encode(const CancellationStarted& event) {
    Json object = header(event.at);
    object["merchant_id"] = event.merchant_id.value;
    object["request_key"] = event.request_key;
    if (!event.request_hash.empty()) {
        object["request_hash"] = event.request_hash;
    }
    return {"CancellationStarted", codec::dump(object)};
}

journal::EventData encode(const CancellationCompleted& event) {
    return {"CancellationCompleted", codec::dump(header(event.at))};
}

journal::EventData encode(const CancellationFailed& event) {
    Json object = header(event.at);
    object["reason"] = event.reason;
    return {"CancellationFailed", codec::dump(object)};
}

// ---- decoders: one per event type

UnixMs at_of(const Json& object) { return codec::unix_ms_field(object, "at_unix_ms"); }

TransactionEvent decode_token_generated(const Json& object) {
    TokenGenerated event{.consumer_id = {codec::string_field(object, "consumer_id")},
                         .code = Secret(codec::string_field(object, "code")),
                         .expires_at = codec::unix_ms_field(object, "expires_at_unix_ms"),
                         .at = at_of(object)};
    QRPAY_ASSERT(is_valid_code(event.code.reveal()), "a stored TokenGenerated has a valid code");
    return event;
}

TransactionEvent decode_token_read(const Json& object) {
    return TokenRead{.merchant_id = {codec::string_field(object, "merchant_id")},
                     .amount = codec::money_fields(object),
                     .order_id = codec::string_field(object, "order_id"),
                     .request_key = codec::string_field(object, "request_key"),
                     .request_hash = codec::optional_string_field(object, "request_hash"),
                     .at = at_of(object)};
}

TransactionEvent decode_expired(const Json& object) { return codec::decode_expired(object); }

TransactionEvent decode_payment_started(const Json& object) {
    PaymentStarted event{.idempotency_key = codec::string_field(object, "idempotency_key"),
                         .merchant_id = {codec::string_field(object, "merchant_id")},
                         .amount = codec::money_fields(object),
                         .order_id = codec::string_field(object, "order_id"),
                         .at = at_of(object)};
    QRPAY_ASSERT(!event.idempotency_key.empty(), "a stored PaymentStarted has its key");
    return event;
}

TransactionEvent decode_payment_completed(const Json& object) {
    return PaymentCompleted{.agency_reference = codec::string_field(object, "agency_reference"),
                            .at = at_of(object)};
}

TransactionEvent decode_payment_failed(const Json& object) {
    return PaymentFailed{.reason = codec::string_field(object, "reason"), .at = at_of(object)};
}

TransactionEvent decode_cancellation_started(const Json& object) {
    return CancellationStarted{.merchant_id = {codec::string_field(object, "merchant_id")},
                               .request_key = codec::string_field(object, "request_key"),
                               .request_hash = codec::optional_string_field(object, "request_hash"),
                               .at = at_of(object)};
}

TransactionEvent decode_cancellation_completed(const Json& object) {
    return CancellationCompleted{.at = at_of(object)};
}

TransactionEvent decode_cancellation_failed(const Json& object) {
    return CancellationFailed{.reason = codec::string_field(object, "reason"), .at = at_of(object)};
}

struct Decoder {
    std::string_view type;
    TransactionEvent (*decode)(const Json& object);
};

constexpr std::array<Decoder, std::variant_size_v<TransactionEvent>> decoders = {{
    {"TokenGenerated", decode_token_generated},
    {"TokenRead", decode_token_read},
    {codec::expired_type, decode_expired},
    {"PaymentStarted", decode_payment_started},
    {"PaymentCompleted", decode_payment_completed},
    {"PaymentFailed", decode_payment_failed},
    {"CancellationStarted", decode_cancellation_started},
    {"CancellationCompleted", decode_cancellation_completed},
    {"CancellationFailed", decode_cancellation_failed},
}};

// ---- snapshot

std::optional<TransactionPhase> phase_named(const std::string& name) {
    for (auto phase :
         {TransactionPhase::none, TransactionPhase::waiting_for_read_token,
          TransactionPhase::preparing_to_payment, TransactionPhase::waiting_for_payment_execution,
          TransactionPhase::waiting_for_payment_cancellation, TransactionPhase::finished}) {
        if (transaction_phase_name(phase) == name) {
            return phase;
        }
    }
    return std::nullopt;
}

std::optional<TransactionOutcome> outcome_named(const std::string& name) {
    for (auto outcome :
         {TransactionOutcome::none, TransactionOutcome::completed, TransactionOutcome::failed,
          TransactionOutcome::expired, TransactionOutcome::cancelled}) {
        if (transaction_outcome_name(outcome) == name) {
            return outcome;
        }
    }
    return std::nullopt;
}

// An amount is known only once read; before that (and when expired unread) Money is empty.
bool has_amount(const TransactionState& state) {
    return state.phase != TransactionPhase::none &&
           state.phase != TransactionPhase::waiting_for_read_token &&
           state.outcome != TransactionOutcome::expired;
}

}  // namespace

journal::EventData encode_transaction_event(const TransactionEvent& event) {
    return std::visit([](const auto& e) { return encode(e); }, event);
}

TransactionEvent decode_transaction_event(const journal::StoredEvent& stored) {
    for (const Decoder& decoder : decoders) {
        if (decoder.type == stored.type) {
            return decoder.decode(codec::parse_payload(stored.payload, codec::version_1));
        }
    }
    QRPAY_ASSERT(false, "a stored transaction event type is known");
    return CancellationCompleted{};
}

std::string encode_transaction_state(const TransactionState& state) {
    Json object{{"v", codec::version_1},
                {"phase", transaction_phase_name(state.phase)},
                {"outcome", transaction_outcome_name(state.outcome)},
                {"consumer_id", state.consumer_id.value},
                {"code", state.code.reveal()},
                {"expires_at_unix_ms", state.expires_at.value},
                {"merchant_id", state.merchant_id.value},
                {"amount_minor", state.amount.amount_minor},
                {"currency", state.amount.currency},
                {"order_id", state.order_id},
                {"pay_request_key", state.pay_request_key},
                {"pay_request_hash", state.pay_request_hash},
                {"cancel_request_key", state.cancel_request_key},
                {"cancel_request_hash", state.cancel_request_hash},
                {"agency_idempotency_key", state.agency_idempotency_key},
                {"agency_reference", state.agency_reference},
                {"failure_reason", state.failure_reason},
                {"cancellation_failure_reason", state.cancellation_failure_reason},
                {"created_at_unix_ms", state.created_at.value},
                {"updated_at_unix_ms", state.updated_at.value},
                {"agency_call_started_at_unix_ms", state.agency_call_started_at.value}};
    QRPAY_ASSERT(!has_amount(state) || is_valid_amount(state.amount),
                 "a read transaction has a valid amount");
    QRPAY_ASSERT(
        (state.phase == TransactionPhase::finished) == (state.outcome != TransactionOutcome::none),
        "a transaction has an outcome exactly when finished");
    return codec::dump(object);
}

Result<TransactionState> read_transaction_state(std::string_view bytes) {
    Result<codec::MessageReader> reader = codec::MessageReader::parse(bytes, codec::version_1);
    if (!reader.ok()) {
        return reader.status();
    }
    codec::MessageReader& in = *reader;
    const std::optional<TransactionPhase> phase = phase_named(in.string("phase"));
    const std::optional<TransactionOutcome> outcome = outcome_named(in.string("outcome"));
    TransactionState state{
        .phase = phase.value_or(TransactionPhase::none),
        .outcome = outcome.value_or(TransactionOutcome::none),
        .consumer_id = {in.string("consumer_id")},
        .code = Secret(in.string("code")),
        .expires_at = UnixMs{in.integer("expires_at_unix_ms")},
        .merchant_id = {in.string("merchant_id")},
        .amount = {.amount_minor = in.integer("amount_minor"), .currency = in.string("currency")},
        .order_id = in.string("order_id"),
        .pay_request_key = in.string("pay_request_key"),
        .pay_request_hash = in.optional_string("pay_request_hash"),
        .cancel_request_key = in.string("cancel_request_key"),
        .cancel_request_hash = in.optional_string("cancel_request_hash"),
        .agency_idempotency_key = in.string("agency_idempotency_key"),
        .agency_reference = in.string("agency_reference"),
        .failure_reason = in.string("failure_reason"),
        .cancellation_failure_reason = in.string("cancellation_failure_reason"),
        .created_at = UnixMs{in.integer("created_at_unix_ms")},
        .updated_at = UnixMs{in.integer("updated_at_unix_ms")},
        .agency_call_started_at = UnixMs{in.integer("agency_call_started_at_unix_ms")}};
    if (!phase || !outcome) {
        in.fail("unknown transaction phase or outcome");
    }
    if (has_amount(state) && !is_valid_amount(state.amount)) {
        in.fail("a read transaction's amount is not valid");
    }
    if ((state.phase == TransactionPhase::finished) !=
        (state.outcome != TransactionOutcome::none)) {
        in.fail("a transaction has an outcome exactly when it is finished");
    }
    if (!in.status().ok()) {
        return in.status();
    }
    return state;
}

TransactionState decode_transaction_state(std::string_view bytes) {
    Result<TransactionState> state = read_transaction_state(bytes);
    QRPAY_ASSERT(state.ok(), ("a stored transaction state is readable: " +
                              (state.ok() ? std::string() : state.status().message()))
                                 .c_str());
    return std::move(state).value();
}

}  // namespace qrpay::domain
