#pragma once
// Transaction: one payment, from the code being issued to its final state (DESIGN §2).
// Entity id = the transaction id, which is also the agency's idempotency key (DESIGN §5.4).
//
//   state                          event                       next
//   (new)                          TokenGenerated              WaitingForReadToken
//   WaitingForReadToken            TokenRead                   PreparingToPayment
//   WaitingForReadToken            Expired                     Finished(expired)
//   PreparingToPayment             PaymentStarted              WaitingForPaymentExecution
//   PreparingToPayment             PaymentFailed               Finished(failed)
//   WaitingForPaymentExecution     PaymentCompleted            Finished(completed)
//   WaitingForPaymentExecution     PaymentFailed               Finished(failed)
//   Finished(completed)            CancellationStarted         WaitingForPaymentCancellation
//   WaitingForPaymentCancellation  CancellationCompleted       Finished(cancelled)
//   WaitingForPaymentCancellation  CancellationFailed          Finished(completed)
//
// Commands (errors are qrpay::Errc; every accepted command replies the TransactionView after
// its events):
//   Generate        (new) -> TokenGenerated. The same Generate again -> View; another ->
//                   conflict. Bad consumer id, code or expires_at <= now -> invalid_argument.
//   ReadToken       WaitingForReadToken before expires_at -> TokenRead + PaymentStarted, then
//                   AgencyPort::pay. With a request key, the append claims the key's
//                   request_key_claim() (journal.h, "key claim"): held by another transaction
//                   -> key_taken, nothing stored. Same merchant and request key again -> View
//                   (a retry; the caller compares pay_request_hash to tell a reuse of the key
//                   for another request). Read or finished -> conflict "code already read";
//                   expired -> not_found "code expired"; never generated -> not_found; bad
//                   input -> invalid_argument.
//   Cancel          Finished(completed), same merchant -> CancellationStarted (claiming its
//                   request key as ReadToken does), then AgencyPort::reverse. Same merchant
//                   and request key while cancelling or cancelled -> View. Another merchant or
//                   never read -> not_found (ids cannot be probed); otherwise conflict "not
//                   cancellable".
//   Get             View; not_found when never generated.
//   AgencyAnswered  sent by the transaction's own side effects (ctx.tell_self); never replies.
//
// The agency: an outcome is never guessed. PaymentFailed and CancellationFailed are recorded
// only when the agency declined; "unknown" waits and asks again (inquiry by idempotency key for
// a payment, the same reversal again for a cancellation), with a backoff that doubles from
// agency_backoff_first up to agency_backoff_max, forever: a started payment always ends in the
// agency's answer. While waiting, deadline() is the call's start plus agency_call_timeout, so a
// restarted node wakes the entity and resumes.
//
// Thread safety: a Transaction is immutable after construction and shared by every
// transaction entity on every executor; all its methods are const and thread-safe.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/clock.h"
#include "base/money.h"
#include "base/secret.h"
#include "base/strong_types.h"
#include "domain/agency_port.h"
#include "domain/expired.h"
#include "domain/ids.h"
#include "journal/journal.h"
#include "runtime/behavior.h"
#include "runtime/effect.h"
#include "runtime/forwarding.h"

namespace qrpay::domain {

enum class TransactionPhase {
    none,  // no event yet: the transaction does not exist
    waiting_for_read_token,
    preparing_to_payment,
    waiting_for_payment_execution,
    waiting_for_payment_cancellation,
    finished,
};

// Meaningful only when the phase is finished.
enum class TransactionOutcome { none, completed, failed, expired, cancelled };

// DESIGN §2's words: "WaitingForReadToken", ..., "Finished"; and "completed", ...
std::string_view transaction_phase_name(TransactionPhase phase);
std::string_view transaction_outcome_name(TransactionOutcome outcome);

// The status words the API shows and the read model stores, written here once: a waiting
// phase's own word ("waiting_for_read_token", ...), and once finished its outcome's word
// ("completed", ...). "unknown" for a transaction that does not exist.
std::string_view status_word(TransactionPhase phase);  // REQUIRES: not finished
std::string_view status_word(TransactionOutcome outcome);
struct TransactionState;
std::string_view status_word(const TransactionState& state);
// Every status word a transaction can show, in the order of its life.
inline constexpr std::string_view status_words[] = {
    "waiting_for_read_token",
    "preparing_to_payment",
    "waiting_for_payment_execution",
    "completed",
    "failed",
    "expired",
    "waiting_for_payment_cancellation",
    "cancelled",
};

struct TransactionState {  // the whole truth; nothing outside it survives a restart
    TransactionPhase phase = TransactionPhase::none;
    TransactionOutcome outcome = TransactionOutcome::none;
    ConsumerId consumer_id;
    Secret code;
    UnixMs expires_at;       // the code's; after it, nobody can read it
    MerchantId merchant_id;  // from TokenRead on
    Money amount;
    std::string order_id;
    std::string pay_request_key;         // the merchant's key of its ReadToken (idempotent retries)
    std::string pay_request_hash;        // the fingerprint of that request ("" without a key)
    std::string cancel_request_key;      // the merchant's key of its latest Cancel
    std::string cancel_request_hash;     // the fingerprint of that request
    std::string agency_idempotency_key;  // from PaymentStarted on (= the transaction id)
    std::string agency_reference;        // from PaymentCompleted
    std::string failure_reason;          // from PaymentFailed
    std::string cancellation_failure_reason;  // from the latest CancellationFailed
    UnixMs created_at;
    UnixMs updated_at;
    UnixMs agency_call_started_at;  // PaymentStarted or CancellationStarted: the current wait
    bool operator==(const TransactionState&) const = default;
};

// Events (DESIGN §2 names); `at` is when the entity decided it (ctx.now).
struct TokenGenerated {
    ConsumerId consumer_id;
    Secret code;
    UnixMs expires_at;
    UnixMs at;
    bool operator==(const TokenGenerated&) const = default;
};
struct TokenRead {
    MerchantId merchant_id;
    Money amount;
    std::string order_id;
    std::string request_key;
    std::string request_hash;
    UnixMs at;
    bool operator==(const TokenRead&) const = default;
};
struct PaymentStarted {  // the agency request, as sent
    std::string idempotency_key;
    MerchantId merchant_id;
    Money amount;
    std::string order_id;
    UnixMs at;
    bool operator==(const PaymentStarted&) const = default;
};
struct PaymentCompleted {
    std::string agency_reference;
    UnixMs at;
    bool operator==(const PaymentCompleted&) const = default;
};
struct PaymentFailed {
    std::string reason;
    UnixMs at;
    bool operator==(const PaymentFailed&) const = default;
};
struct CancellationStarted {
    MerchantId merchant_id;
    std::string request_key;
    std::string request_hash;
    UnixMs at;
    bool operator==(const CancellationStarted&) const = default;
};
struct CancellationCompleted {
    UnixMs at;
    bool operator==(const CancellationCompleted&) const = default;
};
struct CancellationFailed {
    std::string reason;
    UnixMs at;
    bool operator==(const CancellationFailed&) const = default;
};
using TransactionEvent = std::variant<TokenGenerated,
                                      TokenRead,
                                      Expired,
                                      PaymentStarted,
                                      PaymentCompleted,
                                      PaymentFailed,
                                      CancellationStarted,
                                      CancellationCompleted,
                                      CancellationFailed>;

// Commands.
struct Generate {
    ConsumerId consumer_id;
    Secret code;  // code_digits decimal digits; the Token entity must hold it for this id
    UnixMs expires_at;
};
struct ReadToken {
    MerchantId merchant_id;
    Money amount;
    std::string order_id;     // at most order_id_bytes_max bytes; may be empty
    std::string request_key;  // at most request_key_bytes_max; empty: no idempotent retry
    // The request's fingerprint under its key (at most request_hash_bytes_max), stored so a
    // later use of the key can be told apart from a retry.
    std::string request_hash;
};
struct Cancel {
    MerchantId merchant_id;
    std::string request_key;  // at most request_key_bytes_max; empty: no idempotent retry
    std::string request_hash;
};
struct Get {};

enum class AgencyOperation { pay, inquire, reverse };
struct AgencyAnswered {
    AgencyOperation operation = AgencyOperation::pay;
    AgencyOutcome outcome;
    // True when the call came from on_wake, which already scheduled the next try: an
    // "unknown" answer then schedules nothing more, so tries never multiply.
    bool retry_scheduled = false;
};
using TransactionCommand = std::variant<Generate, ReadToken, Cancel, Get, AgencyAnswered>;

// Reply: the state after the command's events, and its version.
struct TransactionView {
    TransactionId transaction_id;
    TransactionState state;
    SequenceNr version;  // the sequence number of the last event included
    bool operator==(const TransactionView&) const = default;
};
using TransactionReply = std::variant<TransactionView>;

struct TransactionOptions {
    // How long an agency call may take before the entity counts it as unfinished work: the
    // durable deadline of the two waiting states is the call's start plus this.
    std::chrono::milliseconds agency_call_timeout{10'000};
    // The first wait before asking again after "unknown"; doubles per try up to the max.
    std::chrono::milliseconds agency_backoff_first{200};
    std::chrono::milliseconds agency_backoff_max{10'000};
};

// A transaction's events and state without the behaviour (no agency, no options): the fold
// and the versioned codec (transaction_codec.cc, its grammar there). The behaviour's own
// methods below are these; the projection and the query side use them directly.
[[nodiscard]] TransactionState apply_transaction_event(TransactionState state,
                                                       const TransactionEvent& event);
[[nodiscard]] journal::EventData encode_transaction_event(const TransactionEvent& event);
[[nodiscard]] TransactionEvent decode_transaction_event(const journal::StoredEvent& stored);
[[nodiscard]] std::string encode_transaction_state(const TransactionState& state);
[[nodiscard]] TransactionState decode_transaction_state(std::string_view bytes);
// The same for bytes from another process (a forwarded reply): invalid_argument, never an
// assertion, for bytes it cannot read.
[[nodiscard]] Result<TransactionState> read_transaction_state(std::string_view bytes);

// The key a transaction claims in the journal for a merchant's request key: "k" and the hex
// SHA-256 of the merchant's length, a colon, the merchant and the key, so that two (merchant,
// key) pairs never share a claim whatever bytes they hold. 65 bytes for any lengths.
std::string request_key_claim(const MerchantId& merchant, const std::string& request_key);

class Transaction {
public:
    using State = TransactionState;
    using Event = TransactionEvent;
    using Command = TransactionCommand;
    using Reply = TransactionReply;
    using Context = runtime::CommandContext<Command>;
    using Effect = runtime::Effect<Event, Reply>;

    static constexpr std::string_view type_name = "transaction";

    // REQUIRES: `agency` outlives this object and every side effect it returns, and may be
    // called from any thread. Asserts 0 < backoff_first <= backoff_max and a positive timeout.
    explicit Transaction(AgencyPort& agency, TransactionOptions options = {});

    [[nodiscard]] State on_event(State state, const Event& event) const {
        return apply_transaction_event(std::move(state), event);
    }
    [[nodiscard]] Effect on_command(const State& state,
                                    const Command& command,
                                    const Context& context) const;
    [[nodiscard]] Effect on_wake(const State& state, const Context& context) const;
    [[nodiscard]] std::optional<UnixMs> deadline(const State& state) const;

    // The wait before the next agency try, `now` being this long after the call started:
    // the smallest backoff_first * 2^k above the elapsed time, at most backoff_max. Derived
    // from stored time rather than a counter, so it needs no event and survives a restart.
    [[nodiscard]] std::chrono::milliseconds agency_backoff(const State& state, UnixMs now) const;

    // Codec: the free functions above.
    [[nodiscard]] journal::EventData encode_event(const Event& event) const {
        return encode_transaction_event(event);
    }
    [[nodiscard]] Event decode_event(const journal::StoredEvent& stored) const {
        return decode_transaction_event(stored);
    }
    [[nodiscard]] std::string encode_state(const State& state) const {
        return encode_transaction_state(state);
    }
    [[nodiscard]] State decode_state(std::string_view bytes) const {
        return decode_transaction_state(bytes);
    }

    // Forwarding codec (transaction_message_codec.cc): commands and replies sent between nodes
    // (runtime/forwarding.h), versioned JSON; the decoders refuse what they cannot read.
    [[nodiscard]] std::optional<std::string> encode_command(const Command& command) const;
    [[nodiscard]] Result<Command> decode_command(std::string_view bytes) const;
    [[nodiscard]] std::string encode_reply(const Reply& reply) const;
    [[nodiscard]] Result<Reply> decode_reply(std::string_view bytes) const;

private:
    [[nodiscard]] Effect on_agency_answered(const State& state,
                                            const AgencyAnswered& answer,
                                            const Context& context) const;

    AgencyPort& agency_;
    TransactionOptions options_;
};

static_assert(runtime::Behavior<Transaction>);
static_assert(runtime::ForwardableBehavior<Transaction>);

}  // namespace qrpay::domain
