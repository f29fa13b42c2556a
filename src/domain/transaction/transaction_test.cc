#include "domain/transaction/transaction.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/events_fixture.h"

namespace qrpay::domain {
namespace {

using std::chrono::milliseconds;

// ---- a recording AgencyPort: the real client lives in agency/; this double records calls and
// lets a test answer them.

struct AgencyCall {
    AgencyOperation operation;
    std::string idempotency_key;
    std::string merchant_id;
    Money amount;
    std::string order_id;
    AgencyPort::Done done;
};

class RecordingAgency final : public AgencyPort {
public:
    void pay(const AgencyPayment& payment, Done done) override {
        calls.push_back({AgencyOperation::pay, payment.idempotency_key, payment.merchant_id,
                         payment.amount, payment.order_id, std::move(done)});
    }
    void inquire(const std::string& idempotency_key, Done done) override {
        calls.push_back({AgencyOperation::inquire, idempotency_key, "", {}, "", std::move(done)});
    }
    void reverse(const AgencyReversal& reversal, Done done) override {
        calls.push_back({AgencyOperation::reverse, reversal.idempotency_key, reversal.merchant_id,
                         reversal.amount, "", std::move(done)});
    }

    std::vector<AgencyCall> calls;
};

AgencyOutcome outcome_of(AgencyVerdict verdict, std::string text = "") {
    AgencyOutcome outcome;
    outcome.verdict = verdict;
    (verdict == AgencyVerdict::approved ? outcome.reference : outcome.reason) = std::move(text);
    return outcome;
}

// ---- fixed histories

constexpr std::string_view tx_id = "tx-0001";
constexpr UnixMs t0{1'700'000'000'000};
constexpr UnixMs expiry{t0.value + 300'000};
UnixMs at_ms(std::int64_t offset_ms) { return UnixMs{t0.value + offset_ms}; }

const MerchantId merchant{"merchant-1"};
const MerchantId other_merchant{"merchant-2"};
const Money amount{.amount_minor = 1500, .currency = "JPY"};

const TokenGenerated generated{.consumer_id = {"consumer-1"},
                               .code = Secret("12345678901234567890"),
                               .expires_at = expiry,
                               .at = t0};
const TokenRead read{.merchant_id = merchant,
                     .amount = amount,
                     .order_id = "order-42",
                     .request_key = "req-1",
                     .request_hash = "",
                     .at = at_ms(10'000)};
const PaymentStarted started{.idempotency_key = std::string(tx_id),
                             .merchant_id = merchant,
                             .amount = amount,
                             .order_id = "order-42",
                             .at = at_ms(10'000)};
const PaymentCompleted completed{.agency_reference = "agency-ref-9", .at = at_ms(11'000)};
const PaymentFailed failed{.reason = "insufficient funds", .at = at_ms(11'000)};
const Expired expired{.expires_at = expiry, .at = at_ms(300'500)};
const CancellationStarted cancel_started{
    .merchant_id = merchant, .request_key = "cancel-1", .request_hash = "", .at = at_ms(20'000)};
const CancellationCompleted cancel_completed{.at = at_ms(21'000)};
const CancellationFailed cancel_failed{.reason = "reversal window closed", .at = at_ms(21'000)};

using History = std::vector<TransactionEvent>;
const History h_none = {};
const History h_waiting = {generated};
const History h_preparing = {generated, read};
const History h_executing = {generated, read, started};
const History h_completed = {generated, read, started, completed};
const History h_failed = {generated, read, started, failed};
const History h_failed_preparing = {generated, read, failed};
const History h_expired = {generated, expired};
const History h_cancelling = {generated, read, started, completed, cancel_started};
const History h_cancelled = {generated, read, started, completed, cancel_started, cancel_completed};
const History h_cancel_failed = {generated, read,           started,
                                 completed, cancel_started, cancel_failed};

struct NamedHistory {
    const char* name;
    const History* events;
};
const std::vector<NamedHistory> every_state = {
    {"(new)", &h_none},
    {"WaitingForReadToken", &h_waiting},
    {"PreparingToPayment", &h_preparing},
    {"WaitingForPaymentExecution", &h_executing},
    {"Finished(completed)", &h_completed},
    {"Finished(failed)", &h_failed},
    {"Finished(failed) from PreparingToPayment", &h_failed_preparing},
    {"Finished(expired)", &h_expired},
    {"WaitingForPaymentCancellation", &h_cancelling},
    {"Finished(cancelled)", &h_cancelled},
    {"Finished(completed) after CancellationFailed", &h_cancel_failed},
};

TransactionState replay(const Transaction& behavior, const History& events) {
    TransactionState state;
    for (const TransactionEvent& event : events) {
        state = behavior.on_event(state, event);
    }
    return state;
}

struct Harness {
    RecordingAgency agency;
    Transaction behavior{agency};
    std::vector<TransactionCommand> told;

    Transaction::Context context_at(UnixMs now, std::size_t seq) {
        return Transaction::Context{.now = now,
                                    .entity_id = std::string(tx_id),
                                    .seq = SequenceNr(seq),
                                    .tell_self = [this](TransactionCommand command) {
                                        told.push_back(std::move(command));
                                    }};
    }
    void run_side_effects(Transaction::Effect& effect) {
        for (auto& side_effect : effect.side_effects()) {
            side_effect();
        }
    }
};

// ---- the command table: given events, when a command, then events and an answer

enum class Then { view, rejected, silent };

struct Row {
    std::string name;
    History given;
    TransactionCommand command;
    UnixMs now;
    History then_events;
    Then then = Then::view;
    Errc errc = Errc::ok;
    std::vector<AgencyOperation> calls = {};  // agency calls made by the side effects
    std::optional<milliseconds> wake = std::nullopt;
};

Row accepted(std::string name,
             History given,
             TransactionCommand command,
             UnixMs now,
             History then_events,
             std::vector<AgencyOperation> calls = {}) {
    return Row{std::move(name),        std::move(given), std::move(command), now,
               std::move(then_events), Then::view,       Errc::ok,           std::move(calls)};
}

Row rejected(std::string name, History given, TransactionCommand command, UnixMs now, Errc errc) {
    return Row{
        std::move(name), std::move(given), std::move(command), now, {}, Then::rejected, errc};
}

Row silent(std::string name,
           History given,
           TransactionCommand command,
           UnixMs now,
           History then_events,
           std::vector<AgencyOperation> calls = {},
           std::optional<milliseconds> wake = std::nullopt) {
    return Row{std::move(name), std::move(given), std::move(command), now, std::move(then_events),
               Then::silent,    Errc::ok,         std::move(calls),   wake};
}

void check_row(const Row& row) {
    SCOPED_TRACE(row.name);
    Harness h;
    TransactionState state = replay(h.behavior, row.given);
    Transaction::Effect effect =
        h.behavior.on_command(state, row.command, h.context_at(row.now, row.given.size()));
    if (row.then == Then::rejected) {
        ASSERT_TRUE(effect.is_rejected()) << "expected " << errc_name(row.errc);
        EXPECT_EQ(effect.rejection().code(), row.errc) << effect.rejection().to_string();
        EXPECT_TRUE(effect.side_effects().empty());
        return;
    }
    ASSERT_FALSE(effect.is_rejected()) << effect.rejection().to_string();
    EXPECT_EQ(effect.events(), row.then_events);
    // Replay: the emitted events, applied through on_event, give the state the reply shows.
    History all = row.given;
    all.insert(all.end(), row.then_events.begin(), row.then_events.end());
    TransactionState next = replay(h.behavior, all);
    if (row.then == Then::view) {
        ASSERT_TRUE(effect.reply().has_value());
        EXPECT_EQ(std::get<TransactionView>(*effect.reply()),
                  (TransactionView{.transaction_id = {std::string(tx_id)},
                                   .state = next,
                                   .version = SequenceNr(all.size())}));
    } else {
        EXPECT_FALSE(effect.reply().has_value());
    }
    EXPECT_EQ(effect.wake_delay(), row.wake);
    h.run_side_effects(effect);
    ASSERT_EQ(h.agency.calls.size(), row.calls.size());
    for (std::size_t i = 0; i < row.calls.size(); ++i) {
        EXPECT_EQ(h.agency.calls[i].operation, row.calls[i]);
        EXPECT_EQ(h.agency.calls[i].idempotency_key, tx_id);  // always the transaction
    }
}

const Generate generate{
    .consumer_id = {"consumer-1"}, .code = Secret("12345678901234567890"), .expires_at = expiry};
const ReadToken read_token{.merchant_id = merchant,
                           .amount = amount,
                           .order_id = "order-42",
                           .request_key = "req-1",
                           .request_hash = ""};
const Cancel cancel{.merchant_id = merchant, .request_key = "cancel-1", .request_hash = ""};

ReadToken read_with(Money money) {
    ReadToken command = read_token;
    command.amount = std::move(money);
    return command;
}

std::vector<Row> generate_rows() {
    Generate short_code = generate;
    short_code.code = Secret("1234567890123456789");
    Generate letter_code = generate;
    letter_code.code = Secret("1234567890123456789x");
    Generate no_consumer = generate;
    no_consumer.consumer_id = {};
    return {
        accepted("(new) + Generate -> TokenGenerated", h_none, generate, t0, {generated}),
        rejected("Generate expiring now", h_none, Generate{generate.consumer_id, generate.code, t0},
                 t0, Errc::invalid_argument),
        rejected("Generate with a short code", h_none, short_code, t0, Errc::invalid_argument),
        rejected("Generate with a letter in the code", h_none, letter_code, t0,
                 Errc::invalid_argument),
        rejected("Generate without consumer", h_none, no_consumer, t0, Errc::invalid_argument),
    };
}

// An existing transaction is never generated again: the same command is a retry.
std::vector<Row> generate_again_rows() {
    Generate other_consumer = generate;
    other_consumer.consumer_id = {"consumer-2"};
    Generate other_expiry = generate;
    other_expiry.expires_at = at_ms(600'000);
    std::vector<Row> rows;
    for (const NamedHistory& state : every_state) {
        if (state.events->empty()) {
            continue;
        }
        std::string name = state.name;
        rows.push_back(accepted(name + " + the same Generate -> View", *state.events, generate,
                                at_ms(400'000), {}));
        rows.push_back(rejected(name + " + Generate for another consumer", *state.events,
                                other_consumer, at_ms(5), Errc::conflict));
        rows.push_back(rejected(name + " + Generate with another expiry", *state.events,
                                other_expiry, at_ms(5), Errc::conflict));
    }
    return rows;
}

std::vector<Row> read_token_rows() {
    const auto pay = std::vector<AgencyOperation>{AgencyOperation::pay};
    const TransactionEvent read_event = read;
    const TransactionEvent started_event = started;
    ReadToken long_order = read_token;
    long_order.order_id = std::string(129, 'o');
    ReadToken long_key = read_token;
    long_key.request_key = std::string(129, 'k');
    ReadToken no_merchant = read_token;
    no_merchant.merchant_id = {};
    return {
        accepted("WaitingForReadToken + ReadToken -> TokenRead + PaymentStarted", h_waiting,
                 read_token, at_ms(10'000), {read_event, started_event}, pay),
        accepted("ReadToken a millisecond before expiry", h_waiting, read_token, at_ms(299'999),
                 {TokenRead{read.merchant_id, amount, "order-42", "req-1", "", at_ms(299'999)},
                  PaymentStarted{std::string(tx_id), merchant, amount, "order-42", at_ms(299'999)}},
                 pay),
        rejected("WaitingForReadToken past expires_at", h_waiting, read_token, expiry,
                 Errc::not_found),
        rejected("(new) + ReadToken", h_none, read_token, t0, Errc::not_found),
        rejected("Finished(expired) + ReadToken", h_expired, read_token, at_ms(400'000),
                 Errc::not_found),
        rejected("ReadToken with amount 0", h_waiting, read_with({0, "JPY"}), t0,
                 Errc::invalid_argument),
        rejected("ReadToken with a negative amount", h_waiting, read_with({-1, "JPY"}), t0,
                 Errc::invalid_argument),
        rejected("ReadToken above amount_minor_max", h_waiting,
                 read_with({amount_minor_max + 1, "JPY"}), t0, Errc::invalid_argument),
        rejected("ReadToken with an unknown currency", h_waiting, read_with({1, "XXY"}), t0,
                 Errc::invalid_argument),
        rejected("ReadToken with a lowercase currency", h_waiting, read_with({1, "jpy"}), t0,
                 Errc::invalid_argument),
        rejected("ReadToken without merchant", h_waiting, no_merchant, t0, Errc::invalid_argument),
        rejected("ReadToken with a 129-byte order id", h_waiting, long_order, t0,
                 Errc::invalid_argument),
        rejected("ReadToken with a 129-byte request key", h_waiting, long_key, t0,
                 Errc::invalid_argument),
        accepted(
            "ReadToken at amount_minor_max", h_waiting, read_with({amount_minor_max, "USD"}),
            at_ms(10'000),
            {TokenRead{merchant, {amount_minor_max, "USD"}, "order-42", "req-1", "", at_ms(10'000)},
             PaymentStarted{std::string(tx_id),
                            merchant,
                            {amount_minor_max, "USD"},
                            "order-42",
                            at_ms(10'000)}},
            pay),
    };
}

// Every state after the read: the same merchant's key answers the view (a retry, or a reuse of
// the key the caller tells from pay_request_hash); anything else a conflict.
std::vector<Row> read_token_again_rows() {
    ReadToken other_key = read_token;
    other_key.request_key = "req-2";
    ReadToken other_merchant_read = read_token;
    other_merchant_read.merchant_id = other_merchant;
    ReadToken no_key = read_token;
    no_key.request_key = "";
    ReadToken other_order = read_token;
    other_order.order_id = "order-43";
    std::vector<Row> rows;
    for (const History* history :
         {&h_preparing, &h_executing, &h_completed, &h_failed, &h_failed_preparing, &h_cancelling,
          &h_cancelled, &h_cancel_failed}) {
        std::string state = "read state #" + std::to_string(history->size());
        rows.push_back(accepted(state + " + the same ReadToken -> View", *history, read_token,
                                at_ms(30'000), {}));
        rows.push_back(rejected(state + " + ReadToken with another key", *history, other_key,
                                at_ms(30'000), Errc::conflict));
        rows.push_back(rejected(state + " + ReadToken by another merchant", *history,
                                other_merchant_read, at_ms(30'000), Errc::conflict));
        rows.push_back(accepted(state + " + ReadToken with the same key, another order", *history,
                                other_order, at_ms(30'000), {}));
        rows.push_back(accepted(state + " + ReadToken with the same key, another amount", *history,
                                read_with({1501, "JPY"}), at_ms(30'000), {}));
    }
    rows.push_back(rejected("a read without request key is never retried", h_executing, no_key,
                            at_ms(30'000), Errc::conflict));
    return rows;
}

std::vector<Row> cancel_rows() {
    const auto reverse = std::vector<AgencyOperation>{AgencyOperation::reverse};
    const CancellationStarted started_at_30s{merchant, "cancel-1", "", at_ms(30'000)};
    Cancel by_other = cancel;
    by_other.merchant_id = other_merchant;
    Cancel other_key = cancel;
    other_key.request_key = "cancel-2";
    Cancel no_key = cancel;
    no_key.request_key = "";
    Cancel long_key = cancel;
    long_key.request_key = std::string(129, 'k');
    std::vector<Row> rows = {
        accepted("Finished(completed) + Cancel -> CancellationStarted", h_completed, cancel,
                 at_ms(30'000), {started_at_30s}, reverse),
        accepted("Finished(completed) + Cancel without key", h_completed, no_key, at_ms(30'000),
                 {CancellationStarted{merchant, "", "", at_ms(30'000)}}, reverse),
        rejected("Finished(completed) + Cancel by another merchant", h_completed, by_other,
                 at_ms(30'000), Errc::not_found),
        rejected("Cancel with a 129-byte key", h_completed, long_key, at_ms(30'000),
                 Errc::invalid_argument),
        accepted("WaitingForPaymentCancellation + the same Cancel -> View", h_cancelling, cancel,
                 at_ms(30'000), {}),
        accepted("Finished(cancelled) + the same Cancel -> View", h_cancelled, cancel,
                 at_ms(30'000), {}),
        accepted("Finished(completed) after CancellationFailed + the same Cancel -> View",
                 h_cancel_failed, cancel, at_ms(30'000), {}),
        accepted("Finished(completed) after CancellationFailed + a new Cancel", h_cancel_failed,
                 other_key, at_ms(30'000),
                 {CancellationStarted{merchant, "cancel-2", "", at_ms(30'000)}}, reverse),
        rejected("WaitingForPaymentCancellation + Cancel with another key", h_cancelling, other_key,
                 at_ms(30'000), Errc::conflict),
        rejected("WaitingForPaymentCancellation + Cancel without key", h_cancelling, no_key,
                 at_ms(30'000), Errc::conflict),
        rejected("Finished(cancelled) + Cancel with another key", h_cancelled, other_key,
                 at_ms(30'000), Errc::conflict),
        rejected("PreparingToPayment + Cancel", h_preparing, cancel, at_ms(30'000), Errc::conflict),
        rejected("WaitingForPaymentExecution + Cancel", h_executing, cancel, at_ms(30'000),
                 Errc::conflict),
        rejected("Finished(failed) + Cancel", h_failed, cancel, at_ms(30'000), Errc::conflict),
        rejected("Finished(failed) from PreparingToPayment + Cancel", h_failed_preparing, cancel,
                 at_ms(30'000), Errc::conflict),
    };
    // Never read: nothing to cancel, and the answer does not tell that the id exists.
    for (const History* history : {&h_none, &h_waiting, &h_expired}) {
        rows.push_back(rejected("never read #" + std::to_string(history->size()) + " + Cancel",
                                *history, cancel, at_ms(30'000), Errc::not_found));
    }
    // Another merchant learns nothing, whatever the state.
    for (const History* history :
         {&h_preparing, &h_executing, &h_failed, &h_cancelling, &h_cancelled, &h_cancel_failed}) {
        rows.push_back(
            rejected("read #" + std::to_string(history->size()) + " + Cancel by another merchant",
                     *history, by_other, at_ms(30'000), Errc::not_found));
    }
    return rows;
}

std::vector<Row> get_rows() {
    std::vector<Row> rows = {rejected("(new) + Get", h_none, Get{}, t0, Errc::not_found)};
    for (const NamedHistory& state : every_state) {
        if (!state.events->empty()) {
            rows.push_back(accepted(std::string(state.name) + " + Get -> View", *state.events,
                                    Get{}, at_ms(500'000), {}));
        }
    }
    return rows;
}

AgencyAnswered answer(AgencyOperation operation,
                      AgencyVerdict verdict,
                      std::string text = "",
                      bool retry_scheduled = false) {
    return AgencyAnswered{.operation = operation,
                          .outcome = outcome_of(verdict, std::move(text)),
                          .retry_scheduled = retry_scheduled};
}

std::vector<Row> payment_answer_rows() {
    using enum AgencyOperation;
    using enum AgencyVerdict;
    const UnixMs now = at_ms(10'050);  // 50 ms after PaymentStarted
    return {
        silent("pay approved -> PaymentCompleted", h_executing, answer(pay, approved, "ref-1"), now,
               {PaymentCompleted{"ref-1", now}}),
        silent("inquire approved -> PaymentCompleted", h_executing,
               answer(inquire, approved, "ref-2", true), now, {PaymentCompleted{"ref-2", now}}),
        silent("pay declined -> PaymentFailed", h_executing, answer(pay, declined, "no funds"), now,
               {PaymentFailed{"no funds", now}}),
        silent("inquire declined -> PaymentFailed", h_executing,
               answer(inquire, declined, "no funds", true), now, {PaymentFailed{"no funds", now}}),
        silent("declined without reason", h_executing, answer(pay, declined), now,
               {PaymentFailed{"declined by the agency", now}}),
        silent("an over-long reference is cut to agency_text_bytes_max", h_executing,
               answer(pay, approved, std::string(300, 'r')), now,
               {PaymentCompleted{std::string(agency_text_bytes_max, 'r'), now}}),
        silent("pay unknown -> ask again after the first backoff", h_executing,
               answer(pay, unknown, "timeout"), now, {}, {}, milliseconds(200)),
        silent("pay unknown 3 s after the start -> 3.2 s", h_executing,
               answer(pay, unknown, "timeout"), at_ms(13'000), {}, {}, milliseconds(3'200)),
        silent("inquire unknown: on_wake already scheduled the next try", h_executing,
               answer(inquire, unknown, "timeout", true), now, {}),
        silent("inquire not_found -> pay again with the same key", h_executing,
               answer(inquire, not_found, "", true), now, {}, {pay}),
        silent("pay not_found is no answer -> ask again", h_executing, answer(pay, not_found), now,
               {}, {}, milliseconds(200)),
        silent("reverse answer while paying is late -> nothing", h_executing,
               answer(reverse, approved, "x"), now, {}),
    };
}

std::vector<Row> cancellation_answer_rows() {
    using enum AgencyOperation;
    using enum AgencyVerdict;
    const UnixMs now = at_ms(20'100);  // 100 ms after CancellationStarted
    return {
        silent("reverse approved -> CancellationCompleted", h_cancelling,
               answer(reverse, approved, "rev-1"), now, {CancellationCompleted{now}}),
        silent("reverse declined -> CancellationFailed", h_cancelling,
               answer(reverse, declined, "too late"), now, {CancellationFailed{"too late", now}}),
        silent("reverse unknown -> ask again", h_cancelling, answer(reverse, unknown), now, {}, {},
               milliseconds(200)),
        silent("reverse unknown from on_wake -> already scheduled", h_cancelling,
               answer(reverse, unknown, "", true), now, {}),
        silent("reverse not_found is not a decline -> ask again", h_cancelling,
               answer(reverse, not_found), now, {}, {}, milliseconds(200)),
        silent("pay answer while cancelling is late -> nothing", h_cancelling,
               answer(pay, approved, "ref"), now, {}),
        silent("inquire answer while cancelling is late -> nothing", h_cancelling,
               answer(inquire, declined, "x", true), now, {}),
    };
}

// Answers that do not fit the state (late duplicates, or none expected) change nothing.
std::vector<Row> late_answer_rows() {
    std::vector<Row> rows;
    for (const NamedHistory& state : every_state) {
        if (state.events == &h_executing || state.events == &h_cancelling) {
            continue;
        }
        for (AgencyOperation operation :
             {AgencyOperation::pay, AgencyOperation::inquire, AgencyOperation::reverse}) {
            for (AgencyVerdict verdict : {AgencyVerdict::approved, AgencyVerdict::declined,
                                          AgencyVerdict::not_found, AgencyVerdict::unknown}) {
                rows.push_back(silent(std::string(state.name) + " + a late answer", *state.events,
                                      answer(operation, verdict, "late"), at_ms(40'000), {}));
            }
        }
    }
    return rows;
}

TEST(TransactionCommands, Generate) {
    for (const Row& row : generate_rows()) {
        check_row(row);
    }
    for (const Row& row : generate_again_rows()) {
        check_row(row);
    }
}

TEST(TransactionCommands, ReadToken) {
    for (const Row& row : read_token_rows()) {
        check_row(row);
    }
    for (const Row& row : read_token_again_rows()) {
        check_row(row);
    }
}

TEST(TransactionCommands, Cancel) {
    for (const Row& row : cancel_rows()) {
        check_row(row);
    }
}

// A read or a cancellation with a request key claims the key in its append; without one, none.
TEST(TransactionCommands, AKeyedReadOrCancelClaimsItsKey) {
    Harness h;
    Transaction::Context context = h.context_at(at_ms(10'000), 1);
    Transaction::Effect keyed =
        h.behavior.on_command(replay(h.behavior, h_waiting), read_token, context);
    EXPECT_EQ(keyed.claimed_keys(), std::vector<std::string>{request_key_claim(merchant, "req-1")});
    ReadToken unkeyed = read_token;
    unkeyed.request_key.clear();
    Transaction::Effect plain =
        h.behavior.on_command(replay(h.behavior, h_waiting), unkeyed, context);
    EXPECT_TRUE(plain.claimed_keys().empty());
    Transaction::Effect cancelled = h.behavior.on_command(replay(h.behavior, h_completed), cancel,
                                                          h.context_at(at_ms(30'000), 5));
    EXPECT_EQ(cancelled.claimed_keys(),
              std::vector<std::string>{request_key_claim(merchant, "cancel-1")});
}

TEST(RequestKeyClaim, PairsThatJoinToTheSameTextHaveTheirOwnClaims) {
    EXPECT_NE(request_key_claim({"shop|a"}, "k"), request_key_claim({"shop"}, "a|k"));
    EXPECT_NE(request_key_claim({"shop1"}, "2k"), request_key_claim({"shop"}, "12k"));
    EXPECT_NE(request_key_claim({"ab"}, ""), request_key_claim({"a"}, "b"));
    EXPECT_EQ(request_key_claim({"shop"}, "k"), request_key_claim({"shop"}, "k"));
}

TEST(RequestKeyClaim, EveryClaimHasOneLengthThatFitsTheJournal) {
    std::string longest_key(request_key_bytes_max, 'k');
    std::string claim = request_key_claim({std::string(id_bytes_max, 'm')}, longest_key);
    EXPECT_EQ(claim.size(), request_key_claim({"m"}, "k").size());
    EXPECT_LE(claim.size(), journal::claimed_key_bytes_max);
    EXPECT_EQ(claim.find(longest_key), std::string::npos);  // the key itself is not stored
}

TEST(TransactionCommands, Get) {
    for (const Row& row : get_rows()) {
        check_row(row);
    }
}

TEST(TransactionCommands, AgencyAnsweredWhilePaying) {
    for (const Row& row : payment_answer_rows()) {
        check_row(row);
    }
}

TEST(TransactionCommands, AgencyAnsweredWhileCancelling) {
    for (const Row& row : cancellation_answer_rows()) {
        check_row(row);
    }
}

TEST(TransactionCommands, LateAnswersChangeNothing) {
    for (const Row& row : late_answer_rows()) {
        check_row(row);
    }
}

// ---- side effects: what is sent, and how the answer comes back

TEST(TransactionSideEffects, ReadTokenPaysWithTheTransactionAsKeyAndTellsTheAnswer) {
    Harness h;
    TransactionState state = replay(h.behavior, h_waiting);
    auto effect = h.behavior.on_command(state, read_token, h.context_at(at_ms(10'000), 1));
    EXPECT_TRUE(h.agency.calls.empty()) << "side effects run only after the append";
    h.run_side_effects(effect);
    ASSERT_EQ(h.agency.calls.size(), 1U);
    const AgencyCall& call = h.agency.calls[0];
    EXPECT_EQ(call.operation, AgencyOperation::pay);
    EXPECT_EQ(call.idempotency_key, tx_id);
    EXPECT_EQ(call.merchant_id, "merchant-1");
    EXPECT_EQ(call.amount, amount);
    EXPECT_EQ(call.order_id, "order-42");
    call.done(outcome_of(AgencyVerdict::approved, "ref-7"));
    ASSERT_EQ(h.told.size(), 1U);
    const auto& told = std::get<AgencyAnswered>(h.told[0]);
    EXPECT_EQ(told.operation, AgencyOperation::pay);
    EXPECT_EQ(told.outcome.verdict, AgencyVerdict::approved);
    EXPECT_EQ(told.outcome.reference, "ref-7");
    EXPECT_FALSE(told.retry_scheduled);
}

TEST(TransactionSideEffects, CancelReversesThePaidAmountAndTellsTheAnswer) {
    Harness h;
    TransactionState state = replay(h.behavior, h_completed);
    auto effect = h.behavior.on_command(state, cancel, h.context_at(at_ms(30'000), 4));
    h.run_side_effects(effect);
    ASSERT_EQ(h.agency.calls.size(), 1U);
    EXPECT_EQ(h.agency.calls[0].operation, AgencyOperation::reverse);
    EXPECT_EQ(h.agency.calls[0].idempotency_key, tx_id);
    EXPECT_EQ(h.agency.calls[0].merchant_id, "merchant-1");
    EXPECT_EQ(h.agency.calls[0].amount, amount);
    h.agency.calls[0].done(outcome_of(AgencyVerdict::unknown));
    ASSERT_EQ(h.told.size(), 1U);
    EXPECT_EQ(std::get<AgencyAnswered>(h.told[0]).operation, AgencyOperation::reverse);
    EXPECT_FALSE(std::get<AgencyAnswered>(h.told[0]).retry_scheduled);
}

// ---- on_wake in every state

struct WakeRow {
    const char* name;
    const History* given;
    UnixMs now;
    History then_events;
    std::vector<AgencyOperation> calls;
    std::optional<milliseconds> wake;
};

TEST(TransactionWake, EveryState) {
    using enum AgencyOperation;
    const std::vector<WakeRow> rows = {
        {"(new)", &h_none, at_ms(1), {}, {}, std::nullopt},
        {"WaitingForReadToken before expiry", &h_waiting, at_ms(299'999), {}, {}, std::nullopt},
        {"WaitingForReadToken at expiry -> Expired",
         &h_waiting,
         expiry,
         {Expired{expiry, expiry}},
         {},
         std::nullopt},
        {"WaitingForReadToken after expiry -> Expired",
         &h_waiting,
         at_ms(300'500),
         {expired},
         {},
         std::nullopt},
        {"PreparingToPayment -> PaymentStarted and pay",
         &h_preparing,
         at_ms(12'000),
         {PaymentStarted{std::string(tx_id), merchant, amount, "order-42", at_ms(12'000)}},
         {pay},
         std::nullopt},
        {"WaitingForPaymentExecution -> inquire",
         &h_executing,
         at_ms(10'200),
         {},
         {inquire},
         milliseconds(400)},
        {"WaitingForPaymentExecution long after -> inquire at the cap",
         &h_executing,
         at_ms(3'600'000),
         {},
         {inquire},
         milliseconds(10'000)},
        {"WaitingForPaymentCancellation -> reverse again",
         &h_cancelling,
         at_ms(20'700),
         {},
         {reverse},
         milliseconds(800)},
        {"Finished(completed)", &h_completed, at_ms(400'000), {}, {}, std::nullopt},
        {"Finished(failed)", &h_failed, at_ms(400'000), {}, {}, std::nullopt},
        {"Finished(expired)", &h_expired, at_ms(400'000), {}, {}, std::nullopt},
        {"Finished(cancelled)", &h_cancelled, at_ms(400'000), {}, {}, std::nullopt},
        {"Finished(completed) after CancellationFailed",
         &h_cancel_failed,
         at_ms(400'000),
         {},
         {},
         std::nullopt},
    };
    for (const WakeRow& row : rows) {
        SCOPED_TRACE(row.name);
        Harness h;
        TransactionState state = replay(h.behavior, *row.given);
        auto effect = h.behavior.on_wake(state, h.context_at(row.now, row.given->size()));
        ASSERT_FALSE(effect.is_rejected());
        EXPECT_EQ(effect.events(), row.then_events);
        EXPECT_FALSE(effect.reply().has_value());
        EXPECT_EQ(effect.wake_delay(), row.wake);
        History all = *row.given;
        all.insert(all.end(), row.then_events.begin(), row.then_events.end());
        (void)replay(h.behavior, all);  // the emitted events apply
        h.run_side_effects(effect);
        ASSERT_EQ(h.agency.calls.size(), row.calls.size());
        for (std::size_t i = 0; i < row.calls.size(); ++i) {
            EXPECT_EQ(h.agency.calls[i].operation, row.calls[i]);
            EXPECT_EQ(h.agency.calls[i].idempotency_key, tx_id);
            h.agency.calls[i].done(outcome_of(AgencyVerdict::unknown));
        }
        // Answers to on_wake's calls do not schedule a second try: on_wake did.
        for (const TransactionCommand& told : h.told) {
            EXPECT_EQ(std::get<AgencyAnswered>(told).retry_scheduled, row.wake.has_value());
        }
    }
}

// ---- deadline in every state

TEST(TransactionDeadline, EveryState) {
    Harness h;
    const std::vector<std::pair<const History*, std::optional<UnixMs>>> rows = {
        {&h_none, std::nullopt},
        {&h_waiting, expiry},
        {&h_preparing, read.at},
        {&h_executing, at_ms(10'000 + 10'000)},
        {&h_completed, std::nullopt},
        {&h_failed, std::nullopt},
        {&h_failed_preparing, std::nullopt},
        {&h_expired, std::nullopt},
        {&h_cancelling, at_ms(20'000 + 10'000)},
        {&h_cancelled, std::nullopt},
        {&h_cancel_failed, std::nullopt},
    };
    for (const auto& [history, deadline] : rows) {
        SCOPED_TRACE(history->size());
        EXPECT_EQ(h.behavior.deadline(replay(h.behavior, *history)), deadline);
    }
}

TEST(TransactionDeadline, CallTimeoutIsAnOption) {
    RecordingAgency agency;
    Transaction behavior(agency, {.agency_call_timeout = milliseconds(2'500)});
    EXPECT_EQ(behavior.deadline(replay(behavior, h_executing)), at_ms(12'500));
}

TEST(TransactionBackoff, DoublesPerTryUpToTheCap) {
    Harness h;
    TransactionState state = replay(h.behavior, h_executing);
    // Each try waits the backoff computed at its answer; the waits double.
    std::int64_t elapsed_ms = 0;
    std::vector<std::int64_t> waits_ms;
    for (int attempt = 0; attempt < 9; ++attempt) {
        milliseconds wait = h.behavior.agency_backoff(state, at_ms(10'000 + elapsed_ms));
        waits_ms.push_back(wait.count());
        elapsed_ms += wait.count();
    }
    EXPECT_EQ(waits_ms, (std::vector<std::int64_t>{200, 400, 800, 1'600, 3'200, 6'400, 10'000,
                                                   10'000, 10'000}));
    EXPECT_EQ(h.behavior.agency_backoff(state, at_ms(9'000)), milliseconds(200));
}

TEST(TransactionBackoff, StartAndCapAreOptions) {
    RecordingAgency agency;
    Transaction behavior(agency, {.agency_backoff_first = milliseconds(50),
                                  .agency_backoff_max = milliseconds(120)});
    TransactionState state = replay(behavior, h_executing);
    EXPECT_EQ(behavior.agency_backoff(state, at_ms(10'000)), milliseconds(50));
    EXPECT_EQ(behavior.agency_backoff(state, at_ms(10'050)), milliseconds(100));
    EXPECT_EQ(behavior.agency_backoff(state, at_ms(10'100)), milliseconds(120));
}

TEST(TransactionOptionsDeathTest, BadOptionsAreRefusedAtConstruction) {
    RecordingAgency agency;
    EXPECT_DEATH(Transaction(agency, {.agency_backoff_first = milliseconds(0)}),
                 "agency_backoff_first > 0");
    EXPECT_DEATH(Transaction(agency, {.agency_backoff_first = milliseconds(20),
                                      .agency_backoff_max = milliseconds(10)}),
                 "agency_backoff_first <= agency_backoff_max");
    EXPECT_DEATH(Transaction(agency, {.agency_call_timeout = milliseconds(0)}),
                 "agency_call_timeout > 0");
}

// ---- on_event: every row of DESIGN §2, and every pair it forbids

struct TransitionRow {
    const History* from;
    TransactionEvent event;
    TransactionPhase phase;
    TransactionOutcome outcome;
};

std::vector<TransitionRow> design_rows() {
    using P = TransactionPhase;
    using O = TransactionOutcome;
    return {
        {&h_none, generated, P::waiting_for_read_token, O::none},
        {&h_waiting, read, P::preparing_to_payment, O::none},
        {&h_waiting, expired, P::finished, O::expired},
        {&h_preparing, started, P::waiting_for_payment_execution, O::none},
        {&h_preparing, failed, P::finished, O::failed},
        {&h_executing, completed, P::finished, O::completed},
        {&h_executing, failed, P::finished, O::failed},
        {&h_completed, cancel_started, P::waiting_for_payment_cancellation, O::none},
        {&h_cancel_failed, cancel_started, P::waiting_for_payment_cancellation, O::none},
        {&h_cancelling, cancel_completed, P::finished, O::cancelled},
        {&h_cancelling, cancel_failed, P::finished, O::completed},
    };
}

TEST(TransactionEvents, EveryRowOfTheDesignTable) {
    Harness h;
    for (const TransitionRow& row : design_rows()) {
        SCOPED_TRACE(h.behavior.encode_event(row.event).type + " after " +
                     std::to_string(row.from->size()) + " events");
        TransactionState before = replay(h.behavior, *row.from);
        TransactionState after = h.behavior.on_event(before, row.event);
        EXPECT_EQ(after.phase, row.phase);
        EXPECT_EQ(after.outcome, row.outcome);
        EXPECT_EQ(after.updated_at, std::visit([](const auto& e) { return e.at; }, row.event));
    }
}

TEST(TransactionEvents, StateKeepsWhatTheEventsSaid) {
    Harness h;
    TransactionState state = replay(h.behavior, h_cancel_failed);
    EXPECT_EQ(state.consumer_id.value, "consumer-1");
    EXPECT_EQ(state.code.reveal(), "12345678901234567890");
    EXPECT_EQ(state.expires_at, expiry);
    EXPECT_EQ(state.merchant_id, merchant);
    EXPECT_EQ(state.amount, amount);
    EXPECT_EQ(state.order_id, "order-42");
    EXPECT_EQ(state.pay_request_key, "req-1");
    EXPECT_EQ(state.cancel_request_key, "cancel-1");
    EXPECT_EQ(state.agency_idempotency_key, tx_id);
    EXPECT_EQ(state.agency_reference, "agency-ref-9");
    EXPECT_EQ(state.failure_reason, "");
    EXPECT_EQ(state.cancellation_failure_reason, "reversal window closed");
    EXPECT_EQ(state.created_at, t0);
    EXPECT_EQ(state.updated_at, cancel_failed.at);
    EXPECT_EQ(state.agency_call_started_at, cancel_started.at);
    EXPECT_EQ(replay(h.behavior, h_failed).failure_reason, "insufficient funds");
}

TEST(TransactionEventsDeathTest, EveryForbiddenPairIsABrokenInvariant) {
    Harness h;
    const History every_event = {generated,    read,   expired,        started,
                                 completed,    failed, cancel_started, cancel_completed,
                                 cancel_failed};
    std::size_t forbidden = 0;
    for (const NamedHistory& state : every_state) {
        for (const TransactionEvent& event : every_event) {
            bool allowed = false;
            for (const TransitionRow& row : design_rows()) {
                allowed = allowed || (row.from == state.events && row.event == event);
            }
            if (allowed) {
                continue;
            }
            SCOPED_TRACE(std::string(state.name) + " + " + h.behavior.encode_event(event).type);
            TransactionState before = replay(h.behavior, *state.events);
            EXPECT_DEATH((void)h.behavior.on_event(before, event), "applies|assertion failed");
            ++forbidden;
        }
    }
    EXPECT_EQ(forbidden, every_state.size() * every_event.size() - design_rows().size());
}

// ---- replay: a whole life, driven through the commands, rebuilt from the emitted events

struct Driver {
    Harness h;
    History journal;
    TransactionState state;

    std::optional<milliseconds> last_wake;
    bool last_replied = false;

    void command(const TransactionCommand& command, UnixMs now) {
        auto effect = h.behavior.on_command(state, command, h.context_at(now, journal.size()));
        commit(effect);
    }
    void wake(UnixMs now) {
        auto effect = h.behavior.on_wake(state, h.context_at(now, journal.size()));
        commit(effect);
    }
    void commit(Transaction::Effect& effect) {
        ASSERT_FALSE(effect.is_rejected()) << effect.rejection().to_string();
        last_wake = effect.wake_delay();
        last_replied = effect.reply().has_value();
        for (const TransactionEvent& event : effect.events()) {
            state = h.behavior.on_event(state, event);
            journal.push_back(event);
        }
        // What a restart would rebuild: from the events, and from a snapshot.
        EXPECT_EQ(replay(h.behavior, journal), state);
        EXPECT_EQ(h.behavior.decode_state(h.behavior.encode_state(state)), state);
        h.run_side_effects(effect);
    }
    // Answers the oldest open agency call and delivers the answer as the runtime would.
    void answer_next(AgencyVerdict verdict, std::string text, UnixMs now) {
        ASSERT_FALSE(h.agency.calls.empty());
        AgencyCall call = std::move(h.agency.calls.front());
        h.agency.calls.erase(h.agency.calls.begin());
        call.done(outcome_of(verdict, std::move(text)));
        ASSERT_EQ(h.told.size(), 1U);
        TransactionCommand told = std::move(h.told.front());
        h.told.clear();
        command(told, now);
        EXPECT_FALSE(last_replied);
    }
};

TEST(TransactionReplay, PayThroughUnknownAndInquiryThenCancelTwice) {
    Driver d;
    d.command(generate, t0);
    d.command(read_token, at_ms(10'000));
    EXPECT_EQ(d.state.phase, TransactionPhase::waiting_for_payment_execution);
    d.answer_next(AgencyVerdict::unknown, "timeout", at_ms(15'000));
    d.wake(at_ms(16'400));
    EXPECT_EQ(d.last_wake, milliseconds(10'000));
    ASSERT_EQ(d.h.agency.calls.size(), 1U);
    EXPECT_EQ(d.h.agency.calls[0].operation, AgencyOperation::inquire);
    d.answer_next(AgencyVerdict::not_found, "", at_ms(16'500));
    ASSERT_EQ(d.h.agency.calls.size(), 1U);
    EXPECT_EQ(d.h.agency.calls[0].operation, AgencyOperation::pay);
    EXPECT_EQ(d.h.agency.calls[0].idempotency_key, tx_id);
    d.answer_next(AgencyVerdict::approved, "ref-77", at_ms(16'600));
    EXPECT_EQ(d.state.outcome, TransactionOutcome::completed);
    EXPECT_EQ(d.state.agency_reference, "ref-77");
    d.command(cancel, at_ms(20'000));
    d.answer_next(AgencyVerdict::declined, "window closed", at_ms(20'100));
    EXPECT_EQ(d.state.outcome, TransactionOutcome::completed);
    Cancel again = cancel;
    again.request_key = "cancel-2";
    d.command(again, at_ms(21'000));
    d.wake(at_ms(21'300));  // a reminder while the reversal is open: reverse again, same key
    d.answer_next(AgencyVerdict::approved, "rev-1", at_ms(21'400));
    d.answer_next(AgencyVerdict::approved, "rev-1", at_ms(21'500));  // the duplicate: no-op
    EXPECT_EQ(d.state.phase, TransactionPhase::finished);
    EXPECT_EQ(d.state.outcome, TransactionOutcome::cancelled);
    EXPECT_EQ(d.journal.size(), 8U);
    EXPECT_EQ(d.h.behavior.deadline(d.state), std::nullopt);
}

TEST(TransactionReplay, CodeExpiresUnread) {
    Driver d;
    d.command(generate, t0);
    d.wake(at_ms(100));
    EXPECT_EQ(d.journal.size(), 1U);
    d.wake(expiry);
    EXPECT_EQ(d.state.outcome, TransactionOutcome::expired);
    Harness h;
    auto late = h.behavior.on_command(d.state, read_token, h.context_at(expiry, 2));
    ASSERT_TRUE(late.is_rejected());
    EXPECT_EQ(late.rejection().code(), Errc::not_found);
    EXPECT_EQ(late.rejection().message(), "code expired");
}

// ---- codec

const std::vector<TransactionEvent> fixture_events = {
    generated,
    read,
    Expired{.expires_at = expiry, .at = at_ms(300'500)},
    started,
    completed,
    failed,
    cancel_started,
    CancellationCompleted{.at = at_ms(21'000)},
    cancel_failed,
};

TEST(TransactionCodec, GoldenBytesMatchTheV1Fixture) {
    Harness h;
    auto lines = testing::events_v1_lines();
    for (const TransactionEvent& event : fixture_events) {
        journal::EventData data = h.behavior.encode_event(event);
        SCOPED_TRACE(data.type);
        EXPECT_EQ(testing::fixture_line_of(data), lines[data.type]);
    }
}

TEST(TransactionCodec, DecodesEveryV1FixtureEvent) {
    Harness h;
    auto lines = testing::events_v1_lines();
    auto decode = [&](const char* type) {
        return h.behavior.decode_event(testing::stored_event_of(lines[type]));
    };
    auto generated_v1 = std::get<TokenGenerated>(decode("TokenGenerated"));
    EXPECT_EQ(generated_v1.consumer_id.value, "consumer-1");
    EXPECT_EQ(generated_v1.code.reveal(), "12345678901234567890");
    EXPECT_EQ(generated_v1.expires_at.value, 1'700'000'300'000);
    EXPECT_EQ(generated_v1.at.value, 1'700'000'000'000);
    auto read_v1 = std::get<TokenRead>(decode("TokenRead"));
    EXPECT_EQ(read_v1.merchant_id.value, "merchant-1");
    EXPECT_EQ(read_v1.amount, (Money{.amount_minor = 1500, .currency = "JPY"}));
    EXPECT_EQ(read_v1.order_id, "order-42");
    EXPECT_EQ(read_v1.request_key, "req-1");
    EXPECT_EQ(read_v1.at.value, 1'700'000'010'000);
    auto expired_v1 = std::get<Expired>(decode("Expired"));
    EXPECT_EQ(expired_v1.expires_at.value, 1'700'000'300'000);
    EXPECT_EQ(expired_v1.at.value, 1'700'000'300'500);
    auto started_v1 = std::get<PaymentStarted>(decode("PaymentStarted"));
    EXPECT_EQ(started_v1.idempotency_key, "tx-0001");
    EXPECT_EQ(started_v1.merchant_id.value, "merchant-1");
    EXPECT_EQ(started_v1.amount, (Money{.amount_minor = 1500, .currency = "JPY"}));
    EXPECT_EQ(started_v1.order_id, "order-42");
    EXPECT_EQ(started_v1.at.value, 1'700'000'010'000);
    auto completed_v1 = std::get<PaymentCompleted>(decode("PaymentCompleted"));
    EXPECT_EQ(completed_v1.agency_reference, "agency-ref-9");
    EXPECT_EQ(completed_v1.at.value, 1'700'000'011'000);
    auto failed_v1 = std::get<PaymentFailed>(decode("PaymentFailed"));
    EXPECT_EQ(failed_v1.reason, "insufficient funds");
    EXPECT_EQ(failed_v1.at.value, 1'700'000'011'000);
    auto cancel_started_v1 = std::get<CancellationStarted>(decode("CancellationStarted"));
    EXPECT_EQ(cancel_started_v1.merchant_id.value, "merchant-1");
    EXPECT_EQ(cancel_started_v1.request_key, "cancel-1");
    EXPECT_EQ(cancel_started_v1.at.value, 1'700'000'020'000);
    EXPECT_EQ(std::get<CancellationCompleted>(decode("CancellationCompleted")).at.value,
              1'700'000'021'000);
    auto cancel_failed_v1 = std::get<CancellationFailed>(decode("CancellationFailed"));
    EXPECT_EQ(cancel_failed_v1.reason, "reversal window closed");
    EXPECT_EQ(cancel_failed_v1.at.value, 1'700'000'021'000);
}

TEST(TransactionCodec, FixtureHoldsEveryEventTypeOfBothEntities) {
    auto lines = testing::events_v1_lines();
    EXPECT_EQ(lines.size(), std::variant_size_v<TransactionEvent> + 1);  // + UseStarted
    EXPECT_EQ(lines.count("UseStarted"), 1U);
}

TEST(TransactionCodec, EventsRoundTripWithUnicodeAndEdgeValues) {
    Harness h;
    std::vector<TransactionEvent> events = fixture_events;
    events.push_back(PaymentFailed{.reason = "refusé \"quoted\" \n", .at = UnixMs{0}});
    events.push_back(TokenRead{merchant, {amount_minor_max, "USD"}, "", "", "", UnixMs{-1}});
    for (const TransactionEvent& event : events) {
        journal::EventData data = h.behavior.encode_event(event);
        journal::StoredEvent stored{
            .seq = SequenceNr(1), .type = data.type, .payload = data.payload, .written_at = t0};
        EXPECT_EQ(h.behavior.decode_event(stored), event) << data.payload;
    }
}

TEST(TransactionCodec, StateRoundTripsInEveryState) {
    Harness h;
    for (const NamedHistory& named : every_state) {
        SCOPED_TRACE(named.name);
        TransactionState state = replay(h.behavior, *named.events);
        std::string bytes = h.behavior.encode_state(state);
        EXPECT_NE(bytes.find(R"("v":1)"), std::string::npos) << bytes;
        EXPECT_EQ(h.behavior.decode_state(bytes), state);
    }
}

TEST(TransactionCodecDeathTest, UnreadableBytesAreBrokenInvariants) {
    Harness h;
    auto decode = [&](std::string type, std::string payload) {
        return h.behavior.decode_event(journal::StoredEvent{.seq = SequenceNr(1),
                                                            .type = std::move(type),
                                                            .payload = std::move(payload),
                                                            .written_at = t0});
    };
    EXPECT_DEATH((void)decode("UseStarted", "{}"), "transaction event type is known");
    EXPECT_DEATH((void)decode("PaymentFailed", ""), "valid JSON");
    EXPECT_DEATH((void)decode("PaymentFailed", R"({"at_unix_ms":1,"reason":"x"})"),
                 "stored field missing: v");
    EXPECT_DEATH((void)decode("PaymentFailed", R"({"v":1,"at_unix_ms":1,"reason":7})"),
                 "not a string: reason");
    EXPECT_DEATH(
        (void)decode("TokenRead", R"({"v":1,"at_unix_ms":1,"amount_minor":0,"currency":"JPY",)"
                                  R"("merchant_id":"m","order_id":"","request_key":""})"),
        "stored amount is valid");
    EXPECT_DEATH(
        (void)decode("TokenRead", R"({"v":1,"at_unix_ms":1,"amount_minor":18446744073709551615,)"
                                  R"("currency":"JPY","merchant_id":"m","order_id":"",)"
                                  R"("request_key":""})"),
        "stored integer out of range: amount_minor");
    EXPECT_DEATH((void)h.behavior.decode_state("{\"v\":1}"),
                 "stored transaction state is readable: message field \"phase\" is not a string");
}

}  // namespace
}  // namespace qrpay::domain
