#include "agency_sim/simulator.h"

#include <cstdio>
#include <filesystem>

#include "base/log.h"

namespace qrpay::agency_sim {
namespace {

constexpr const char* ledger_file_name = "agency-ledger.sqlite3";

Status validate_id(const std::string& id, const char* field) {
    if (id.empty() || id.size() > id_bytes_max) {
        return {Errc::invalid_argument,
                std::string(field) + " must have 1 to " + std::to_string(id_bytes_max) + " bytes"};
    }
    for (char c : id) {
        if (c <= ' ' || c >= 127) {
            return {Errc::invalid_argument, std::string(field) + " must be printable ASCII"};
        }
    }
    return {};
}

Status validate_money(const Money& amount) {
    if (amount.amount_minor <= 0 || amount.amount_minor > amount_minor_max) {
        return {Errc::invalid_argument,
                "amount.value_minor must be in 1.." + std::to_string(amount_minor_max)};
    }
    if (!is_iso4217_currency(amount.currency)) {
        return {Errc::invalid_argument,
                "amount.currency '" + amount.currency + "' is not an ISO 4217 code"};
    }
    return {};
}

Status validate_options(const SimulatorOptions& options) {
    auto is_rate = [](double rate) { return rate >= 0.0 && rate <= 1.0; };
    if (options.data_dir.empty()) {
        return {Errc::invalid_argument, "agency simulator needs a data directory"};
    }
    if (!is_rate(options.decline_rate) || !is_rate(options.error_5xx_rate) ||
        !is_rate(options.timeout_rate)) {
        return {Errc::invalid_argument, "agency simulator rates must be within [0, 1]"};
    }
    if (options.latency.count() < 0 || options.timeout_delay.count() <= 0 ||
        options.operations_pending_max < 1) {
        return {Errc::invalid_argument, "bad agency simulator latency, delay or bound"};
    }
    return {};
}

SimOutcome failed(SimVerdict verdict, std::string reason) {
    SimOutcome outcome;
    outcome.verdict = verdict;
    outcome.reason = std::move(reason);
    return outcome;
}

bool same_payment(const PaymentRecord& record, const domain::AgencyPayment& payment) {
    return record.merchant_id == payment.merchant_id && record.amount == payment.amount &&
           record.order_id == payment.order_id;
}

// The answer to a pay or an inquiry, from what the ledger holds.
SimOutcome outcome_of(const PaymentRecord& record) {
    SimOutcome outcome;
    switch (record.status) {
        case PaymentStatus::captured:
            outcome.verdict = SimVerdict::approved;
            break;
        case PaymentStatus::declined:
            outcome.verdict = SimVerdict::declined;
            break;
        case PaymentStatus::reversed:
            outcome.verdict = SimVerdict::reversed;
            break;
    }
    outcome.reference = record.reference;
    outcome.reason = record.reason;
    outcome.record = record;
    return outcome;
}

}  // namespace

Status validate_payment(const domain::AgencyPayment& payment) {
    for (Status status :
         {validate_id(payment.idempotency_key, "idempotency_key"),
          validate_id(payment.merchant_id, "merchant_id"),
          // The merchant's order id is optional (issue 4: `order_id?`).
          payment.order_id.empty() ? Status() : validate_id(payment.order_id, "order_id"),
          validate_money(payment.amount)}) {
        if (!status.ok()) {
            return status;
        }
    }
    return {};
}

Status validate_reversal(const domain::AgencyReversal& reversal) {
    for (Status status :
         {validate_id(reversal.idempotency_key, "idempotency_key"),
          validate_id(reversal.merchant_id, "merchant_id"), validate_money(reversal.amount)}) {
        if (!status.ok()) {
            return status;
        }
    }
    return {};
}

Result<std::unique_ptr<Simulator>> Simulator::open(const SimulatorOptions& options) {
    Status valid = validate_options(options);
    if (!valid.ok()) {
        return valid;
    }
    std::error_code error;
    std::filesystem::create_directories(options.data_dir, error);
    if (error) {
        return Status(Errc::io_error, "cannot create " + options.data_dir + ": " + error.message());
    }
    auto ledger =
        Ledger::open((std::filesystem::path(options.data_dir) / ledger_file_name).string());
    if (!ledger.ok()) {
        return ledger.status();
    }
    return std::unique_ptr<Simulator>(new Simulator(options, std::move(*ledger)));
}

Simulator::Simulator(const SimulatorOptions& options, std::unique_ptr<Ledger> ledger)
    : options_(options),
      clock_(options.clock != nullptr ? *options.clock : system_clock_),
      ledger_(std::move(ledger)),
      random_(options.seed),
      worker_({.threads = 1, .tasks_pending_max = options.operations_pending_max}) {}

Simulator::~Simulator() { stop(); }

void Simulator::stop() { worker_.stop(); }

void Simulator::pay(const domain::AgencyPayment& payment, Done done) {
    submit([this, payment] { return run_pay(payment); }, true, std::move(done));
}

void Simulator::inquire(const std::string& idempotency_key, Done done) {
    submit([this, idempotency_key] { return run_inquire(idempotency_key); }, false,
           std::move(done));
}

void Simulator::reverse(const domain::AgencyReversal& reversal, Done done) {
    submit([this, reversal] { return run_reverse(reversal); }, true, std::move(done));
}

Result<std::vector<LedgerBalance>> Simulator::ledger() { return ledger_->balances(); }

// The operation runs at once, on the worker; its answer goes out `latency` after the call
// arrived, or as soon as the operation is done when that took longer. So `latency` is the
// agency's response time as its caller sees it, its own ledger write included.
void Simulator::submit(std::function<SimOutcome()> operation, bool may_time_out, Done done) {
    QRPAY_ASSERT(done != nullptr, "an agency call needs a done callback");
    const auto arrived = std::chrono::steady_clock::now();
    auto scheduled = worker_.run_after(
        std::chrono::microseconds(0),
        [this, arrived, operation = std::move(operation), may_time_out, done] {
            SimOutcome outcome = operation();
            const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - arrived);
            answer(std::move(outcome), may_time_out, options_.latency - elapsed, done);
        });
    if (!scheduled.ok()) {
        done(failed(SimVerdict::unavailable, scheduled.status().to_string()));
    }
}

// Sends the outcome after `delay` (now when it is not positive), or -- a simulated timeout,
// only for what reached the ledger -- after timeout_delay.
void Simulator::answer(SimOutcome outcome,
                       bool may_time_out,
                       std::chrono::microseconds delay,
                       const Done& done) {
    bool recorded = outcome.verdict == SimVerdict::approved ||
                    outcome.verdict == SimVerdict::declined ||
                    outcome.verdict == SimVerdict::reversed;
    if (may_time_out && recorded && roll(options_.timeout_rate)) {
        outcome.answered_late = true;
        delay = options_.timeout_delay;
    }
    if (delay.count() > 0) {
        auto later = worker_.run_after(delay, [done, outcome] { done(outcome); });
        if (later.ok()) {
            return;
        }
    }
    done(std::move(outcome));
}

SimOutcome Simulator::run_pay(const domain::AgencyPayment& payment) {
    if (roll(options_.error_5xx_rate)) {
        return failed(SimVerdict::server_error, "simulated agency error");
    }
    Status valid = validate_payment(payment);
    if (!valid.ok()) {
        return failed(SimVerdict::invalid, valid.message());
    }
    auto existing = ledger_->find(payment.idempotency_key);
    if (!existing.ok()) {
        return failed(SimVerdict::server_error, existing.status().to_string());
    }
    if (existing->has_value()) {
        if (!same_payment(**existing, payment)) {
            return failed(SimVerdict::conflict,
                          "idempotency key already used for a different payment");
        }
        SimOutcome first = outcome_of(**existing);
        if (first.verdict == SimVerdict::reversed) {
            first.verdict = SimVerdict::approved;  // the pay itself was approved
        }
        return first;
    }
    return record_new_payment(payment);
}

SimOutcome Simulator::record_new_payment(const domain::AgencyPayment& payment) {
    PaymentRecord record{.idempotency_key = payment.idempotency_key,
                         .merchant_id = payment.merchant_id,
                         .amount = payment.amount,
                         .order_id = payment.order_id,
                         .status = PaymentStatus::captured,
                         .reference = "",
                         .reason = "",
                         .created_at = clock_.wall_now()};
    if (roll(options_.decline_rate)) {
        record.status = PaymentStatus::declined;
        record.reason = "simulated decline";
    } else {
        record.reference = new_reference();
    }
    Status stored = ledger_->insert(record);
    if (!stored.ok()) {
        QRPAY_LOG_ERROR("agency simulator: %s", stored.to_string().c_str());
        return failed(SimVerdict::server_error, stored.to_string());
    }
    return outcome_of(record);
}

SimOutcome Simulator::run_inquire(const std::string& idempotency_key) {
    if (roll(options_.error_5xx_rate)) {
        return failed(SimVerdict::server_error, "simulated agency error");
    }
    auto existing = ledger_->find(idempotency_key);
    if (!existing.ok()) {
        return failed(SimVerdict::server_error, existing.status().to_string());
    }
    if (!existing->has_value()) {
        return failed(SimVerdict::not_found, "no payment with this key");
    }
    return outcome_of(**existing);
}

SimOutcome Simulator::run_reverse(const domain::AgencyReversal& reversal) {
    if (roll(options_.error_5xx_rate)) {
        return failed(SimVerdict::server_error, "simulated agency error");
    }
    Status valid = validate_reversal(reversal);
    if (!valid.ok()) {
        return failed(SimVerdict::invalid, valid.message());
    }
    auto existing = ledger_->find(reversal.idempotency_key);
    if (!existing.ok()) {
        return failed(SimVerdict::server_error, existing.status().to_string());
    }
    if (!existing->has_value()) {
        return failed(SimVerdict::declined, "no payment with this key");
    }
    const PaymentRecord& record = **existing;
    if (record.merchant_id != reversal.merchant_id || !(record.amount == reversal.amount)) {
        return failed(SimVerdict::conflict, "reversal does not match the payment");
    }
    if (record.status == PaymentStatus::declined) {
        return failed(SimVerdict::declined, "payment was declined; nothing to reverse");
    }
    if (record.status == PaymentStatus::captured) {
        Status reversed = ledger_->mark_reversed(record.idempotency_key);
        if (!reversed.ok()) {
            return failed(SimVerdict::server_error, reversed.to_string());
        }
    }
    SimOutcome outcome;
    outcome.verdict = SimVerdict::reversed;  // now, or idempotently again
    outcome.reference = record.reference;
    return outcome;
}

bool Simulator::roll(double rate) {
    if (rate <= 0.0) {
        return false;
    }
    if (rate >= 1.0) {
        return true;
    }
    std::lock_guard lock(random_mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(random_) < rate;
}

std::string Simulator::new_reference() {
    std::uint64_t value = 0;
    {
        std::lock_guard lock(random_mutex_);
        value = random_();
    }
    char text[32];
    std::snprintf(text, sizeof text, "sim-%016llx", static_cast<unsigned long long>(value));
    return text;
}

}  // namespace qrpay::agency_sim
