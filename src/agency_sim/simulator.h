#pragma once
// Simulator: a stand-in for the external payment agency, for development, tests and demos.
// It keeps a durable ledger (agency_sim/ledger.h), is idempotent on the key (a second pay with
// the same key returns the first outcome and never charges again), and injects failures on
// demand: declines, 5xx errors, and timeouts (the charge is recorded durably, then the answer
// comes only after timeout_delay, so the caller sees an unknown outcome).
//
// Reached two ways: over HTTP (agency_sim/simulator_http.h, the `qrpay agency-sim` command)
// or in process (agency_sim/in_process_agency.h). Both go through the calls below.
//
// Threads: the simulator owns one worker thread; every operation runs there as it arrives, its
// answer goes out `latency` after the arrival (or once the operation is done, if later), and
// `done` runs there (or on the thread calling stop(), or on the caller's thread when the
// simulator is stopped or full). Every method may be called from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agency_sim/ledger.h"
#include "base/clock.h"
#include "base/status.h"
#include "domain/agency_port.h"
#include "http/scheduler.h"

namespace qrpay::agency_sim {

struct SimulatorOptions {
    std::string data_dir{};                // holds agency-ledger.sqlite3; created if missing
    std::chrono::milliseconds latency{0};  // from a call's arrival to its answer, at least
    double decline_rate = 0.0;             // [0, 1]: share of new payments declined
    double error_5xx_rate = 0.0;           // [0, 1]: share of calls failing, nothing done
    double timeout_rate = 0.0;             // [0, 1]: share of pays/reversals answered late
    std::chrono::milliseconds timeout_delay{10'000};  // how late; above the client's timeout
    std::uint64_t seed = 1;                           // of the failure injection and references
    std::size_t operations_pending_max = 4'096;       // beyond: unavailable
    const Clock* clock = nullptr;                     // for created_at; nullptr: the system clock
};

enum class SimVerdict {
    approved,      // pay: charged (now or by the first call with this key)
    declined,      // pay: declined; reverse: nothing to reverse (declined or unknown payment)
    reversed,      // reverse: reversed (now or before); inquire: charged, then reversed
    not_found,     // inquire: no payment with this key
    invalid,       // bad input (amount, currency, ids); nothing recorded
    conflict,      // the key was used for a different payment or reversal; nothing recorded
    server_error,  // simulated 5xx, or the ledger failed; nothing recorded
    unavailable,   // too many pending operations or stopped; nothing done
};

struct SimOutcome {
    SimVerdict verdict = SimVerdict::server_error;
    std::string reference{};                // approved, reversed, and inquiries of charged payments
    std::string reason{};                   // declined, invalid, conflict, errors
    std::optional<PaymentRecord> record{};  // inquire: the stored payment
    bool answered_late = false;             // a simulated timeout: `done` ran timeout_delay late
};

class Simulator {
public:
    using Done = std::function<void(SimOutcome)>;

    // Opens (or creates) the ledger and starts the worker.
    // Errors: invalid_argument (bad options), io_error / corruption (ledger).
    static Result<std::unique_ptr<Simulator>> open(const SimulatorOptions& options);
    ~Simulator();  // stop()
    Simulator(const Simulator&) = delete;
    Simulator& operator=(const Simulator&) = delete;
    Simulator(Simulator&&) = delete;
    Simulator& operator=(Simulator&&) = delete;

    void pay(const domain::AgencyPayment& payment, Done done);
    void inquire(const std::string& idempotency_key, Done done);
    void reverse(const domain::AgencyReversal& reversal, Done done);

    // The ledger's balances now, read on the caller's thread.
    Result<std::vector<LedgerBalance>> ledger();

    // Runs pending operations now (their answers come at once), then joins the worker.
    // Idempotent. REQUIRES: not called from a `done` callback.
    void stop();

    [[nodiscard]] const SimulatorOptions& options() const { return options_; }

private:
    Simulator(const SimulatorOptions& options, std::unique_ptr<Ledger> ledger);
    void submit(std::function<SimOutcome()> operation, bool may_time_out, Done done);
    void answer(SimOutcome outcome,
                bool may_time_out,
                std::chrono::microseconds delay,
                const Done& done);
    SimOutcome run_pay(const domain::AgencyPayment& payment);
    SimOutcome record_new_payment(const domain::AgencyPayment& payment);
    SimOutcome run_inquire(const std::string& idempotency_key);
    SimOutcome run_reverse(const domain::AgencyReversal& reversal);
    bool roll(double rate);
    std::string new_reference();

    const SimulatorOptions options_;
    SystemClock system_clock_;
    const Clock& clock_;
    std::unique_ptr<Ledger> ledger_;
    std::mutex random_mutex_;  // the worker and stop()'s thread may both draw
    std::mt19937_64 random_;   // guarded by random_mutex_
    http::Scheduler worker_;   // last member: stopped (joined) before the rest goes
};

// Checks what the agency accepts: ids non-empty, at most id_bytes_max printable ASCII bytes;
// 0 < amount_minor <= amount_minor_max; an ISO 4217 currency.
// Errors: invalid_argument, saying which field.
inline constexpr std::size_t id_bytes_max = 128;
Status validate_payment(const domain::AgencyPayment& payment);
Status validate_reversal(const domain::AgencyReversal& reversal);

}  // namespace qrpay::agency_sim
