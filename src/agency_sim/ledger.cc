// Ledger file format, version 1 (PRAGMA user_version = 1):
//
//   CREATE TABLE payments (
//     key                 TEXT PRIMARY KEY,  -- the idempotency key (transaction id)
//     merchant            TEXT NOT NULL,
//     amount_minor        INTEGER NOT NULL,  -- > 0
//     currency            TEXT NOT NULL,     -- ISO 4217
//     order_id            TEXT NOT NULL,
//     status              TEXT NOT NULL,     -- 'captured' | 'declined' | 'reversed'
//     reference           TEXT NOT NULL,     -- '' unless captured (kept after reversal)
//     reason              TEXT NOT NULL,     -- '' unless declined
//     created_at_unix_ms  INTEGER NOT NULL)
//
// A row is inserted once per key and only its status changes after (captured -> reversed).

#include "agency_sim/ledger.h"

#include <chrono>
#include <utility>

#include "base/assert.h"
#include "sqlite/connection.h"

namespace qrpay::agency_sim {
namespace {

using sqlite::Connection;
using sqlite::Statement;
using sqlite::Step;

constexpr int schema_version = 1;
constexpr std::chrono::milliseconds lock_wait_max{5'000};

constexpr const char* create_sql = R"(
CREATE TABLE IF NOT EXISTS payments (
  key TEXT PRIMARY KEY,
  merchant TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  order_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('captured', 'declined', 'reversed')),
  reference TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
)";

const char* status_text(PaymentStatus status) {
    switch (status) {
        case PaymentStatus::captured:
            return "captured";
        case PaymentStatus::declined:
            return "declined";
        case PaymentStatus::reversed:
            return "reversed";
    }
    QRPAY_ASSERT(false, "unknown payment status");
    return "";
}

std::optional<PaymentStatus> status_from_text(std::string_view text) {
    if (text == "captured") {
        return PaymentStatus::captured;
    }
    if (text == "declined") {
        return PaymentStatus::declined;
    }
    if (text == "reversed") {
        return PaymentStatus::reversed;
    }
    return std::nullopt;
}

Result<PaymentRecord> read_record(const Statement& row) {
    PaymentRecord record;
    record.idempotency_key = row.column_text(0);
    record.merchant_id = row.column_text(1);
    record.amount = Money{row.column_int(2), row.column_text(3)};
    record.order_id = row.column_text(4);
    auto status = status_from_text(row.column_text(5));
    if (!status) {
        return Status(Errc::corruption,
                      "agency ledger: unknown status in row " + record.idempotency_key);
    }
    record.status = *status;
    record.reference = row.column_text(6);
    record.reason = row.column_text(7);
    record.created_at = UnixMs{row.column_int(8)};
    return record;
}

Result<std::int64_t> read_schema_version(Connection& db) {
    Result<Statement> version = db.prepare("PRAGMA user_version");
    if (!version.ok()) {
        return version.status();
    }
    if (version->step() != Step::row) {
        return version->error("agency ledger: read schema version");
    }
    return version->column_int(0);
}

}  // namespace

Ledger::Ledger(std::unique_ptr<Connection> db) : db_(std::move(db)) {}

Ledger::~Ledger() = default;

Result<std::unique_ptr<Ledger>> Ledger::open(const std::string& path) {
    Result<std::unique_ptr<Connection>> db =
        Connection::open(path, sqlite::OpenMode::writer, lock_wait_max);
    if (!db.ok()) {
        return Status(db.status().code(), "agency ledger: " + db.status().message());
    }
    Result<std::int64_t> found = read_schema_version(**db);
    if (!found.ok()) {
        return found.status();
    }
    if (*found == 0) {
        if (Status created = (*db)->run_script(create_sql); !created.ok()) {
            return created;
        }
    } else if (*found != schema_version) {
        return Status(Errc::corruption,
                      "agency ledger: schema version " + std::to_string(*found) + " unknown");
    }
    return std::unique_ptr<Ledger>(new Ledger(std::move(db).value()));
}

Result<std::optional<PaymentRecord>> Ledger::find(const std::string& idempotency_key) {
    std::lock_guard lock(mutex_);
    Result<Statement> row = db_->prepare(
        "SELECT key, merchant, amount_minor, currency, order_id, status, "
        "reference, reason, created_at_unix_ms FROM payments WHERE key = ?1");
    if (!row.ok()) {
        return row.status();
    }
    row->bind_text(1, idempotency_key);
    Step step = row->step();
    if (step == Step::done) {
        return std::optional<PaymentRecord>();
    }
    if (step == Step::error) {
        return row->error("agency ledger: find");
    }
    auto record = read_record(*row);
    if (!record.ok()) {
        return record.status();
    }
    return std::optional<PaymentRecord>(std::move(*record));
}

Status Ledger::insert(const PaymentRecord& record) {
    QRPAY_ASSERT(record.amount.amount_minor > 0, "the ledger stores positive amounts only");
    std::lock_guard lock(mutex_);
    Result<Statement> insert = db_->prepare(
        "INSERT INTO payments (key, merchant, amount_minor, currency, "
        "order_id, status, reference, reason, created_at_unix_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!insert.ok()) {
        return insert.status();
    }
    insert->bind_text(1, record.idempotency_key);
    insert->bind_text(2, record.merchant_id);
    insert->bind_int(3, record.amount.amount_minor);
    insert->bind_text(4, record.amount.currency);
    insert->bind_text(5, record.order_id);
    insert->bind_text(6, status_text(record.status));
    insert->bind_text(7, record.reference);
    insert->bind_text(8, record.reason);
    insert->bind_int(9, record.created_at.value);
    return insert->run("agency ledger: insert");
}

Status Ledger::mark_reversed(const std::string& idempotency_key) {
    std::lock_guard lock(mutex_);
    Result<Statement> update = db_->prepare(
        "UPDATE payments SET status = 'reversed' WHERE key = ?1 AND status = 'captured'");
    if (!update.ok()) {
        return update.status();
    }
    update->bind_text(1, idempotency_key);
    if (Status done = update->run("agency ledger: reverse"); !done.ok()) {
        return done;
    }
    if (db_->changes() != 1) {
        return {Errc::not_found, "no captured payment with this key"};
    }
    return {};
}

// SQLite's SUM() never wraps or rounds: a sum beyond 2^63 - 1 fails the query with "integer
// overflow", which is refused as a whole (invalid_argument), never clamped.
Result<std::vector<LedgerBalance>> Ledger::balances() {
    std::lock_guard lock(mutex_);
    Result<Statement> rows = db_->prepare(
        "SELECT merchant, currency, SUM(amount_minor), "
        "SUM(CASE WHEN status = 'reversed' THEN amount_minor ELSE 0 END), "
        "COUNT(*), SUM(CASE WHEN status = 'reversed' THEN 1 ELSE 0 END) "
        "FROM payments WHERE status IN ('captured', 'reversed') "
        "GROUP BY merchant, currency ORDER BY merchant, currency");
    if (!rows.ok()) {
        return rows.status();
    }
    std::vector<LedgerBalance> balances;
    Step step = Step::done;
    while ((step = rows->step()) == Step::row) {
        LedgerBalance balance;
        balance.merchant_id = rows->column_text(0);
        balance.currency = rows->column_text(1);
        balance.captured_minor = rows->column_int(2);
        balance.reversed_minor = rows->column_int(3);
        // Amounts are positive (insert) and reversed ones a part of the captured: it fits.
        QRPAY_ASSERT(balance.reversed_minor <= balance.captured_minor, "reversed part of captured");
        balance.net_minor = balance.captured_minor - balance.reversed_minor;
        balance.captured_count = rows->column_int(4);
        balance.reversed_count = rows->column_int(5);
        balances.push_back(std::move(balance));
    }
    if (step == Step::error) {
        Status failed = rows->error("agency ledger: balances");
        if (failed.message().find("integer overflow") != std::string::npos) {
            return Status(Errc::invalid_argument,
                          "amount overflow: a balance exceeds 2^63-1 minor units");
        }
        return failed;
    }
    return balances;
}

}  // namespace qrpay::agency_sim
