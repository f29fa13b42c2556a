#pragma once
// The simulated agency's durable ledger: one row per idempotency key, in SQLite (WAL,
// synchronous=FULL: a write has reached the disk when the call returns). Private to
// agency/sim; the Simulator is its only user.
//
// Thread safety: every method may be called from any thread (a mutex serialises them).
// Errors: io_error when SQLite fails; corruption for a row or schema it cannot read.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/money.h"
#include "base/status.h"

namespace qrpay::sqlite {
class Connection;
}  // namespace qrpay::sqlite

namespace qrpay::agency_sim {

enum class PaymentStatus { captured, declined, reversed };

struct PaymentRecord {
    std::string idempotency_key{};
    std::string merchant_id{};
    Money amount{};
    std::string order_id{};
    PaymentStatus status = PaymentStatus::declined;
    std::string reference{};  // the agency's reference, set when captured
    std::string reason{};     // why declined
    UnixMs created_at{};
};

// What the agency holds for one merchant in one currency (declined payments do not count).
struct LedgerBalance {
    std::string merchant_id{};
    std::string currency{};
    std::int64_t captured_minor = 0;  // every payment ever captured, reversed ones included
    std::int64_t reversed_minor = 0;
    std::int64_t net_minor = 0;  // captured_minor - reversed_minor
    std::int64_t captured_count = 0;
    std::int64_t reversed_count = 0;
    bool operator==(const LedgerBalance&) const = default;
};

class Ledger {
public:
    // Opens or creates the ledger file at `path`.
    static Result<std::unique_ptr<Ledger>> open(const std::string& path);
    ~Ledger();
    Ledger(const Ledger&) = delete;
    Ledger& operator=(const Ledger&) = delete;
    Ledger(Ledger&&) = delete;
    Ledger& operator=(Ledger&&) = delete;

    Result<std::optional<PaymentRecord>> find(const std::string& idempotency_key);
    // Durable when it returns ok. REQUIRES: no row with this key yet (a caller's bug
    // otherwise; reported as io_error by the primary key, never overwritten).
    Status insert(const PaymentRecord& record);
    // captured -> reversed. Errors: not_found when no captured row has this key.
    Status mark_reversed(const std::string& idempotency_key);
    // Sorted by merchant, then currency. invalid_argument ("amount overflow: ...") when a
    // balance does not fit in 64 bits: refused, never clamped.
    Result<std::vector<LedgerBalance>> balances();

private:
    explicit Ledger(std::unique_ptr<sqlite::Connection> db);

    std::mutex mutex_;  // SQLite connection shared by the simulator's worker and readers
    std::unique_ptr<sqlite::Connection> db_;  // guarded by mutex_
};

}  // namespace qrpay::agency_sim
