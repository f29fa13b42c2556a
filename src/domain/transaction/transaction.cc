#include "domain/transaction/transaction.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "base/sha256.h"
#include "base/status.h"
#include "domain/limits.h"
#include "domain/token/token.h"

namespace qrpay::domain {
namespace {

using Effect = Transaction::Effect;
using Context = Transaction::Context;
using SideEffect = Effect::SideEffect;
using runtime::no_effect;
using runtime::persist;
using runtime::reject;
using runtime::reply;

template <class... Handlers>
struct Overloaded : Handlers... {
    using Handlers::operator()...;
};
template <class... Handlers>
Overloaded(Handlers...) -> Overloaded<Handlers...>;

// ---- event handler (pure, total over DESIGN §2's rows; anything else is a broken invariant)

TransactionState apply(TransactionState state, const TokenGenerated& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::none, "TokenGenerated starts a transaction");
    QRPAY_ASSERT(is_valid_code(event.code.reveal()), "TokenGenerated carries a valid code");
    state.phase = TransactionPhase::waiting_for_read_token;
    state.consumer_id = event.consumer_id;
    state.code = event.code;
    state.expires_at = event.expires_at;
    state.created_at = event.at;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const TokenRead& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::waiting_for_read_token,
                 "TokenRead applies while WaitingForReadToken");
    QRPAY_ASSERT(event.at < state.expires_at, "TokenRead happens before the code expires");
    QRPAY_ASSERT(is_valid_amount(event.amount), "TokenRead carries a valid amount");
    state.phase = TransactionPhase::preparing_to_payment;
    state.merchant_id = event.merchant_id;
    state.amount = event.amount;
    state.order_id = event.order_id;
    state.pay_request_key = event.request_key;
    state.pay_request_hash = event.request_hash;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const Expired& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::waiting_for_read_token,
                 "Expired applies while WaitingForReadToken");
    QRPAY_ASSERT(event.expires_at == state.expires_at, "Expired names the code's deadline");
    QRPAY_ASSERT(event.at >= event.expires_at, "Expired is recorded after its deadline");
    state.phase = TransactionPhase::finished;
    state.outcome = TransactionOutcome::expired;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const PaymentStarted& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::preparing_to_payment,
                 "PaymentStarted applies while PreparingToPayment");
    QRPAY_ASSERT(!event.idempotency_key.empty(), "PaymentStarted carries its key");
    QRPAY_ASSERT(event.merchant_id == state.merchant_id && event.amount == state.amount &&
                     event.order_id == state.order_id,
                 "PaymentStarted asks for what TokenRead recorded");
    state.phase = TransactionPhase::waiting_for_payment_execution;
    state.agency_idempotency_key = event.idempotency_key;
    state.agency_call_started_at = event.at;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const PaymentCompleted& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::waiting_for_payment_execution,
                 "PaymentCompleted applies while WaitingForPaymentExecution");
    state.phase = TransactionPhase::finished;
    state.outcome = TransactionOutcome::completed;
    state.agency_reference = event.agency_reference;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const PaymentFailed& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::preparing_to_payment ||
                     state.phase == TransactionPhase::waiting_for_payment_execution,
                 "PaymentFailed applies while PreparingToPayment or WaitingForPaymentExecution");
    state.phase = TransactionPhase::finished;
    state.outcome = TransactionOutcome::failed;
    state.failure_reason = event.reason;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const CancellationStarted& event) {
    QRPAY_ASSERT(
        state.phase == TransactionPhase::finished && state.outcome == TransactionOutcome::completed,
        "CancellationStarted applies to Finished(completed)");
    QRPAY_ASSERT(event.merchant_id == state.merchant_id, "only the paid merchant cancels");
    state.phase = TransactionPhase::waiting_for_payment_cancellation;
    state.outcome = TransactionOutcome::none;
    state.cancel_request_key = event.request_key;
    state.cancel_request_hash = event.request_hash;
    state.agency_call_started_at = event.at;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const CancellationCompleted& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::waiting_for_payment_cancellation,
                 "CancellationCompleted applies while WaitingForPaymentCancellation");
    state.phase = TransactionPhase::finished;
    state.outcome = TransactionOutcome::cancelled;
    state.updated_at = event.at;
    return state;
}

TransactionState apply(TransactionState state, const CancellationFailed& event) {
    QRPAY_ASSERT(state.phase == TransactionPhase::waiting_for_payment_cancellation,
                 "CancellationFailed applies while WaitingForPaymentCancellation");
    state.phase = TransactionPhase::finished;
    state.outcome = TransactionOutcome::completed;
    state.cancellation_failure_reason = event.reason;
    state.updated_at = event.at;
    return state;
}

TransactionState apply_event(TransactionState state, const TransactionEvent& event) {
    return std::visit([&state](const auto& e) { return apply(std::move(state), e); }, event);
}

// ---- helpers shared by the command handlers

bool is_finished_as(const TransactionState& state, TransactionOutcome outcome) {
    return state.phase == TransactionPhase::finished && state.outcome == outcome;
}

// True once a merchant read the code: the states after TokenRead.
bool was_read(const TransactionState& state) {
    switch (state.phase) {
        case TransactionPhase::none:
        case TransactionPhase::waiting_for_read_token:
            return false;
        case TransactionPhase::finished:
            return state.outcome != TransactionOutcome::expired;
        case TransactionPhase::preparing_to_payment:
        case TransactionPhase::waiting_for_payment_execution:
        case TransactionPhase::waiting_for_payment_cancellation:
            return true;
    }
    QRPAY_ASSERT(false, "every phase is handled");
    return false;
}

TransactionView view_of(const TransactionState& state,
                        const Context& context,
                        std::size_t events_appended) {
    return TransactionView{.transaction_id = {context.entity_id},
                           .state = state,
                           .version = SequenceNr(context.seq.value + events_appended)};
}

// Persists `events` and replies the View of the state they lead to.
template <class... Events>
Effect persist_and_view(const TransactionState& state, const Context& context, Events... events) {
    TransactionState next = state;
    ((next = apply(std::move(next), events)), ...);
    TransactionReply view = view_of(next, context, sizeof...(Events));
    return persist<TransactionEvent>(std::move(events)...).then_reply(std::move(view));
}

// An effect with no event and no reply that still runs `side_effect`.
Effect side_effect_only(SideEffect side_effect) {
    Effect effect = no_effect();
    return std::move(effect).and_then(std::move(side_effect));
}

std::string bounded_agency_text(const std::string& text) {
    return text.substr(0, agency_text_bytes_max);
}

// ---- side effects: each calls the agency once; the answer comes back as AgencyAnswered

SideEffect call_pay(AgencyPort& agency,
                    AgencyPayment payment,
                    const Context& context,
                    bool retry_scheduled) {
    return [&agency, payment = std::move(payment), tell_self = context.tell_self, retry_scheduled] {
        agency.pay(payment, [tell_self, retry_scheduled](AgencyOutcome outcome) {
            tell_self(AgencyAnswered{.operation = AgencyOperation::pay,
                                     .outcome = std::move(outcome),
                                     .retry_scheduled = retry_scheduled});
        });
    };
}

SideEffect call_inquire(AgencyPort& agency, std::string idempotency_key, const Context& context) {
    return [&agency, key = std::move(idempotency_key), tell_self = context.tell_self] {
        agency.inquire(key, [tell_self](AgencyOutcome outcome) {
            tell_self(AgencyAnswered{.operation = AgencyOperation::inquire,
                                     .outcome = std::move(outcome),
                                     .retry_scheduled = true});
        });
    };
}

SideEffect call_reverse(AgencyPort& agency,
                        AgencyReversal reversal,
                        const Context& context,
                        bool retry_scheduled) {
    return
        [&agency, reversal = std::move(reversal), tell_self = context.tell_self, retry_scheduled] {
            agency.reverse(reversal, [tell_self, retry_scheduled](AgencyOutcome outcome) {
                tell_self(AgencyAnswered{.operation = AgencyOperation::reverse,
                                         .outcome = std::move(outcome),
                                         .retry_scheduled = retry_scheduled});
            });
        };
}

AgencyPayment payment_request(const PaymentStarted& event) {
    return AgencyPayment{.idempotency_key = event.idempotency_key,
                         .merchant_id = event.merchant_id.value,
                         .amount = event.amount,
                         .order_id = event.order_id};
}

AgencyPayment payment_request(const TransactionState& state) {
    QRPAY_ASSERT(!state.agency_idempotency_key.empty(), "a started payment has its key");
    return AgencyPayment{.idempotency_key = state.agency_idempotency_key,
                         .merchant_id = state.merchant_id.value,
                         .amount = state.amount,
                         .order_id = state.order_id};
}

AgencyReversal reversal_request(const TransactionState& state) {
    QRPAY_ASSERT(!state.agency_idempotency_key.empty(), "a paid transaction has its key");
    return AgencyReversal{.idempotency_key = state.agency_idempotency_key,
                          .merchant_id = state.merchant_id.value,
                          .amount = state.amount};
}

PaymentStarted payment_started(const TransactionState& state, const Context& context) {
    return PaymentStarted{.idempotency_key = context.entity_id,
                          .merchant_id = state.merchant_id,
                          .amount = state.amount,
                          .order_id = state.order_id,
                          .at = context.now};
}

// ---- Generate

Effect generate_again(const TransactionState& state,
                      const Generate& command,
                      const Context& context) {
    if (state.consumer_id == command.consumer_id && state.code == command.code &&
        state.expires_at == command.expires_at) {
        return reply(view_of(state, context, 0));
    }
    return reject(Status(Errc::conflict, "transaction exists"));
}

Effect generate(const TransactionState& state, const Generate& command, const Context& context) {
    if (state.phase != TransactionPhase::none) {
        return generate_again(state, command, context);
    }
    if (!is_valid_id(command.consumer_id)) {
        return reject(Status(Errc::invalid_argument, "consumer id must have 1..128 bytes"));
    }
    if (!is_valid_code(command.code.reveal())) {
        return reject(Status(Errc::invalid_argument, "code must have 20 decimal digits"));
    }
    if (command.expires_at <= context.now) {
        return reject(Status(Errc::invalid_argument, "expires_at must be in the future"));
    }
    return persist_and_view(state, context,
                            TokenGenerated{.consumer_id = command.consumer_id,
                                           .code = command.code,
                                           .expires_at = command.expires_at,
                                           .at = context.now});
}

// ---- ReadToken

Status check_read_token(const ReadToken& command) {
    if (!is_valid_id(command.merchant_id)) {
        return {Errc::invalid_argument, "merchant id must have 1..128 bytes"};
    }
    if (!is_valid_amount(command.amount)) {
        return {Errc::invalid_argument,
                "amount must be 1..9007199254740991 minor units of an ISO 4217 currency"};
    }
    if (command.order_id.size() > order_id_bytes_max) {
        return {Errc::invalid_argument, "order id must have at most 128 bytes"};
    }
    if (command.request_key.size() > request_key_bytes_max ||
        command.request_hash.size() > request_hash_bytes_max) {
        return {Errc::invalid_argument, "request key and hash must have at most 128 bytes"};
    }
    return {};
}

// The effect's claim of the merchant's request key, when there is one.
Effect claiming_request_key(Effect effect, const MerchantId& merchant, const std::string& key) {
    if (key.empty()) {
        return effect;
    }
    return std::move(effect).claiming(request_key_claim(merchant, key));
}

// WaitingForReadToken: read, and start the payment in the same append.
Effect read_token_waiting(AgencyPort& agency,
                          const TransactionState& state,
                          const ReadToken& command,
                          const Context& context) {
    if (context.now >= state.expires_at) {
        return reject(Status(Errc::not_found, "code expired"));  // the timer has not run yet
    }
    TokenRead read{.merchant_id = command.merchant_id,
                   .amount = command.amount,
                   .order_id = command.order_id,
                   .request_key = command.request_key,
                   .request_hash = command.request_hash,
                   .at = context.now};
    PaymentStarted started = payment_started(apply(state, read), context);
    AgencyPayment payment = payment_request(started);
    Effect effect = persist_and_view(state, context, std::move(read), std::move(started))
                        .and_then(call_pay(agency, std::move(payment), context,
                                           /*retry_scheduled=*/false));
    return claiming_request_key(std::move(effect), command.merchant_id, command.request_key);
}

// Read already: only the same merchant's request key is answered, with the view; whether it
// is a retry of the same request or a reuse of the key is the caller's to tell, from
// pay_request_hash.
Effect read_token_again(const TransactionState& state,
                        const ReadToken& command,
                        const Context& context) {
    bool same_key = state.merchant_id == command.merchant_id && !command.request_key.empty() &&
                    command.request_key == state.pay_request_key;
    if (!same_key) {
        return reject(Status(Errc::conflict, "code already read"));
    }
    return reply(view_of(state, context, 0));
}

Effect read_token(AgencyPort& agency,
                  const TransactionState& state,
                  const ReadToken& command,
                  const Context& context) {
    if (Status input = check_read_token(command); !input.ok()) {
        return reject(std::move(input));
    }
    if (state.phase == TransactionPhase::none) {
        return reject(Status(Errc::not_found, "no such transaction"));
    }
    if (is_finished_as(state, TransactionOutcome::expired)) {
        return reject(Status(Errc::not_found, "code expired"));
    }
    if (state.phase == TransactionPhase::waiting_for_read_token) {
        return read_token_waiting(agency, state, command, context);
    }
    QRPAY_ASSERT(was_read(state), "every other state follows a read");
    return read_token_again(state, command, context);
}

// ---- Cancel

// Finished(completed): start the reversal.
Effect cancel_completed(AgencyPort& agency,
                        const TransactionState& state,
                        const Cancel& command,
                        const Context& context) {
    CancellationStarted started{.merchant_id = command.merchant_id,
                                .request_key = command.request_key,
                                .request_hash = command.request_hash,
                                .at = context.now};
    Effect effect = persist_and_view(state, context, std::move(started))
                        .and_then(call_reverse(agency, reversal_request(state), context, false));
    return claiming_request_key(std::move(effect), command.merchant_id, command.request_key);
}

Effect cancel(AgencyPort& agency,
              const TransactionState& state,
              const Cancel& command,
              const Context& context) {
    if (command.request_key.size() > request_key_bytes_max ||
        command.request_hash.size() > request_hash_bytes_max) {
        return reject(
            Status(Errc::invalid_argument, "request key and hash must have at most 128 bytes"));
    }
    if (!was_read(state) || state.merchant_id != command.merchant_id) {
        return reject(Status(Errc::not_found, "no such payment"));  // ids cannot be probed
    }
    // The same request again answers with what it led to: cancelling, cancelled, or
    // completed after its CancellationFailed.
    if (!command.request_key.empty() && command.request_key == state.cancel_request_key) {
        return reply(view_of(state, context, 0));
    }
    if (is_finished_as(state, TransactionOutcome::completed)) {
        return cancel_completed(agency, state, command, context);
    }
    return reject(Status(Errc::conflict, "not cancellable"));
}

// ---- Get

Effect get(const TransactionState& state, const Context& context) {
    if (state.phase == TransactionPhase::none) {
        return reject(Status(Errc::not_found, "no such transaction"));
    }
    return reply(view_of(state, context, 0));
}

// ---- AgencyAnswered

// "unknown": ask again later, unless the call came from on_wake, which already scheduled it.
Effect retry_later(const AgencyAnswered& answer, std::chrono::milliseconds backoff) {
    Effect effect = no_effect();
    if (answer.retry_scheduled) {
        return effect;
    }
    return std::move(effect).wake_after(backoff);
}

std::string decline_reason(const AgencyOutcome& outcome) {
    return outcome.reason.empty() ? "declined by the agency" : bounded_agency_text(outcome.reason);
}

// WaitingForPaymentExecution: an answer to pay or inquire.
Effect payment_answered(AgencyPort& agency,
                        const TransactionState& state,
                        const AgencyAnswered& answer,
                        const Context& context,
                        std::chrono::milliseconds backoff) {
    QRPAY_ASSERT(answer.operation != AgencyOperation::reverse, "a payment answer");
    switch (answer.outcome.verdict) {
        case AgencyVerdict::approved:
            return persist<TransactionEvent>(
                       PaymentCompleted{
                           .agency_reference = bounded_agency_text(answer.outcome.reference),
                           .at = context.now})
                .no_reply();
        case AgencyVerdict::declined:
            return persist<TransactionEvent>(
                       PaymentFailed{.reason = decline_reason(answer.outcome), .at = context.now})
                .no_reply();
        case AgencyVerdict::not_found:
            if (answer.operation == AgencyOperation::inquire) {
                // The agency never received the payment: send it again, same key.
                return side_effect_only(
                    call_pay(agency, payment_request(state), context, answer.retry_scheduled));
            }
            return retry_later(answer, backoff);  // not an answer to pay: ask again
        case AgencyVerdict::unknown:
            return retry_later(answer, backoff);
    }
    QRPAY_ASSERT(false, "every verdict is handled");
    return no_effect();
}

// WaitingForPaymentCancellation: an answer to reverse. A reversal the agency cannot find is
// not a decline: it is asked again, never guessed.
Effect cancellation_answered(const AgencyAnswered& answer,
                             const Context& context,
                             std::chrono::milliseconds backoff) {
    QRPAY_ASSERT(answer.operation == AgencyOperation::reverse, "a reversal answer");
    switch (answer.outcome.verdict) {
        case AgencyVerdict::approved:
            return persist<TransactionEvent>(CancellationCompleted{.at = context.now}).no_reply();
        case AgencyVerdict::declined:
            return persist<TransactionEvent>(
                       CancellationFailed{.reason = decline_reason(answer.outcome),
                                          .at = context.now})
                .no_reply();
        case AgencyVerdict::not_found:
        case AgencyVerdict::unknown:
            return retry_later(answer, backoff);
    }
    QRPAY_ASSERT(false, "every verdict is handled");
    return no_effect();
}

// ---- on_wake

Effect expire_if_due(const TransactionState& state, const Context& context) {
    if (context.now < state.expires_at) {
        return no_effect();
    }
    return persist<TransactionEvent>(Expired{.expires_at = state.expires_at, .at = context.now})
        .no_reply();
}

// PreparingToPayment at rest (imported data, or a read stored without its PaymentStarted):
// start the payment now.
Effect resume_preparing(AgencyPort& agency, const TransactionState& state, const Context& context) {
    PaymentStarted started = payment_started(state, context);
    AgencyPayment payment = payment_request(started);
    return persist<TransactionEvent>(std::move(started))
        .no_reply()
        .and_then(call_pay(agency, std::move(payment), context, /*retry_scheduled=*/false));
}

// WaitingForPaymentExecution woken (deadline, reminder or restart): ask the agency by key,
// and schedule the next try now, so that its answer need not.
Effect poll_payment(AgencyPort& agency,
                    const TransactionState& state,
                    const Context& context,
                    std::chrono::milliseconds backoff) {
    QRPAY_ASSERT(!state.agency_idempotency_key.empty(), "a started payment has its key");
    return side_effect_only(call_inquire(agency, state.agency_idempotency_key, context))
        .wake_after(backoff);
}

// WaitingForPaymentCancellation woken: send the same reversal again (idempotent by key).
Effect poll_cancellation(AgencyPort& agency,
                         const TransactionState& state,
                         const Context& context,
                         std::chrono::milliseconds backoff) {
    return side_effect_only(
               call_reverse(agency, reversal_request(state), context, /*retry_scheduled=*/true))
        .wake_after(backoff);
}

}  // namespace

std::string_view transaction_phase_name(TransactionPhase phase) {
    switch (phase) {
        case TransactionPhase::none:
            return "None";
        case TransactionPhase::waiting_for_read_token:
            return "WaitingForReadToken";
        case TransactionPhase::preparing_to_payment:
            return "PreparingToPayment";
        case TransactionPhase::waiting_for_payment_execution:
            return "WaitingForPaymentExecution";
        case TransactionPhase::waiting_for_payment_cancellation:
            return "WaitingForPaymentCancellation";
        case TransactionPhase::finished:
            return "Finished";
    }
    QRPAY_ASSERT(false, "every phase has a name");
    return "";
}

std::string_view transaction_outcome_name(TransactionOutcome outcome) {
    switch (outcome) {
        case TransactionOutcome::none:
            return "none";
        case TransactionOutcome::completed:
            return "completed";
        case TransactionOutcome::failed:
            return "failed";
        case TransactionOutcome::expired:
            return "expired";
        case TransactionOutcome::cancelled:
            return "cancelled";
    }
    QRPAY_ASSERT(false, "every outcome has a name");
    return "";
}

std::string_view status_word(TransactionPhase phase) {
    switch (phase) {
        case TransactionPhase::none:
            return "unknown";
        case TransactionPhase::waiting_for_read_token:
            return "waiting_for_read_token";
        case TransactionPhase::preparing_to_payment:
            return "preparing_to_payment";
        case TransactionPhase::waiting_for_payment_execution:
            return "waiting_for_payment_execution";
        case TransactionPhase::waiting_for_payment_cancellation:
            return "waiting_for_payment_cancellation";
        case TransactionPhase::finished:
            break;
    }
    QRPAY_ASSERT(false, "a finished transaction's word is its outcome's");
    return "unknown";
}

std::string_view status_word(TransactionOutcome outcome) {
    return outcome == TransactionOutcome::none ? "unknown" : transaction_outcome_name(outcome);
}

std::string_view status_word(const TransactionState& state) {
    return state.phase == TransactionPhase::finished ? status_word(state.outcome)
                                                     : status_word(state.phase);
}

Transaction::Transaction(AgencyPort& agency, TransactionOptions options)
    : agency_(agency), options_(options) {
    QRPAY_ASSERT(options_.agency_call_timeout.count() > 0, "agency_call_timeout > 0");
    QRPAY_ASSERT(options_.agency_backoff_first.count() > 0, "agency_backoff_first > 0");
    QRPAY_ASSERT(options_.agency_backoff_first <= options_.agency_backoff_max,
                 "agency_backoff_first <= agency_backoff_max");
    QRPAY_ASSERT(options_.agency_backoff_max <= std::chrono::hours(1), "agency_backoff_max <= 1 h");
}

TransactionState apply_transaction_event(TransactionState state, const TransactionEvent& event) {
    return apply_event(std::move(state), event);
}

Transaction::Effect Transaction::on_command(const TransactionState& state,
                                            const TransactionCommand& command,
                                            const Context& context) const {
    return std::visit(
        Overloaded{
            [&](const Generate& c) { return generate(state, c, context); },
            [&](const ReadToken& c) { return read_token(agency_, state, c, context); },
            [&](const Cancel& c) { return cancel(agency_, state, c, context); },
            [&](const Get&) { return get(state, context); },
            [&](const AgencyAnswered& c) { return on_agency_answered(state, c, context); },
        },
        command);
}

Transaction::Effect Transaction::on_agency_answered(const TransactionState& state,
                                                    const AgencyAnswered& answer,
                                                    const Context& context) const {
    std::chrono::milliseconds backoff = agency_backoff(state, context.now);
    bool is_reversal = answer.operation == AgencyOperation::reverse;
    if (state.phase == TransactionPhase::waiting_for_payment_execution && !is_reversal) {
        return payment_answered(agency_, state, answer, context, backoff);
    }
    if (state.phase == TransactionPhase::waiting_for_payment_cancellation && is_reversal) {
        return cancellation_answered(answer, context, backoff);
    }
    return no_effect();  // a late or duplicate answer: the state moved on already
}

Transaction::Effect Transaction::on_wake(const TransactionState& state,
                                         const Context& context) const {
    switch (state.phase) {
        case TransactionPhase::none:
        case TransactionPhase::finished:
            return no_effect();
        case TransactionPhase::waiting_for_read_token:
            return expire_if_due(state, context);
        case TransactionPhase::preparing_to_payment:
            return resume_preparing(agency_, state, context);
        case TransactionPhase::waiting_for_payment_execution:
            return poll_payment(agency_, state, context, agency_backoff(state, context.now));
        case TransactionPhase::waiting_for_payment_cancellation:
            return poll_cancellation(agency_, state, context, agency_backoff(state, context.now));
    }
    QRPAY_ASSERT(false, "every phase is handled");
    return no_effect();
}

std::optional<UnixMs> Transaction::deadline(const TransactionState& state) const {
    switch (state.phase) {
        case TransactionPhase::none:
        case TransactionPhase::finished:
            return std::nullopt;
        case TransactionPhase::waiting_for_read_token:
            return state.expires_at;
        case TransactionPhase::preparing_to_payment:
            return state.updated_at;  // due at once: the payment must start
        case TransactionPhase::waiting_for_payment_execution:
        case TransactionPhase::waiting_for_payment_cancellation:
            return UnixMs{state.agency_call_started_at.value +
                          options_.agency_call_timeout.count()};
    }
    QRPAY_ASSERT(false, "every phase is handled");
    return std::nullopt;
}

std::chrono::milliseconds Transaction::agency_backoff(const TransactionState& state,
                                                      UnixMs now) const {
    std::int64_t elapsed_ms = now.value - state.agency_call_started_at.value;
    std::chrono::milliseconds backoff = options_.agency_backoff_first;
    // Bounded: at most log2(max / first) + 1 doublings, since first > 0 (constructor).
    while (backoff.count() <= elapsed_ms && backoff < options_.agency_backoff_max) {
        backoff *= 2;
    }
    return std::min(backoff, options_.agency_backoff_max);
}

std::string request_key_claim(const MerchantId& merchant, const std::string& request_key) {
    return "k" +
           sha256_hex(std::to_string(merchant.value.size()) + ":" + merchant.value + request_key);
}

}  // namespace qrpay::domain
