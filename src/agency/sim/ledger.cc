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

#include "agency/sim/ledger.h"

#include <sqlite3.h>

namespace qrpay::agency::sim {
namespace {

constexpr int schema_version = 1;

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

Status sqlite_error(sqlite3* db, const char* what) {
    return {Errc::io_error, std::string("agency ledger: ") + what + ": " + sqlite3_errmsg(db)};
}

// A prepared statement, finalised on scope exit.
class Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        prepared_ = sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr) == SQLITE_OK;
    }
    ~Statement() { sqlite3_finalize(statement_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    bool prepared() const { return prepared_; }
    sqlite3_stmt* get() { return statement_; }
    void bind(int index, const std::string& text) {
        sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                          SQLITE_TRANSIENT);
    }
    void bind(int index, std::int64_t value) { sqlite3_bind_int64(statement_, index, value); }
    std::string text(int column) {
        const unsigned char* bytes = sqlite3_column_text(statement_, column);
        int size = sqlite3_column_bytes(statement_, column);
        return bytes == nullptr ? std::string()
                                : std::string(reinterpret_cast<const char*>(bytes),
                                              static_cast<std::size_t>(size));
    }
    std::int64_t integer(int column) { return sqlite3_column_int64(statement_, column); }

private:
    sqlite3_stmt* statement_ = nullptr;
    bool prepared_ = false;
};

Result<PaymentRecord> read_record(Statement& row) {
    PaymentRecord record;
    record.idempotency_key = row.text(0);
    record.merchant_id = row.text(1);
    record.amount = Money{row.integer(2), row.text(3)};
    record.order_id = row.text(4);
    auto status = status_from_text(row.text(5));
    if (!status) {
        return Status(Errc::corruption,
                      "agency ledger: unknown status in row " + record.idempotency_key);
    }
    record.status = *status;
    record.reference = row.text(6);
    record.reason = row.text(7);
    record.created_at = UnixMs{row.integer(8)};
    return record;
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::open(const std::string& path) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
        Status status = sqlite_error(db, ("open " + path).c_str());
        sqlite3_close(db);
        return status;
    }
    std::unique_ptr<Ledger> ledger(new Ledger(db));
    Status status = ledger->exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        "PRAGMA busy_timeout = 5000;");
    if (!status.ok()) {
        return status;
    }
    Statement version(db, "PRAGMA user_version");
    if (!version.prepared() || sqlite3_step(version.get()) != SQLITE_ROW) {
        return sqlite_error(db, "read schema version");
    }
    std::int64_t found = version.integer(0);
    if (found == 0) {
        status = ledger->exec(create_sql);
    } else if (found != schema_version) {
        status = Status(Errc::corruption,
                        "agency ledger: schema version " + std::to_string(found) + " unknown");
    }
    if (!status.ok()) {
        return status;
    }
    return ledger;
}

Ledger::~Ledger() { sqlite3_close(db_); }

Status Ledger::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message == nullptr ? "unknown error" : message;
        sqlite3_free(message);
        return {Errc::io_error, "agency ledger: " + text};
    }
    return {};
}

Result<std::optional<PaymentRecord>> Ledger::find(const std::string& idempotency_key) {
    std::lock_guard lock(mutex_);
    Statement row(db_,
                  "SELECT key, merchant, amount_minor, currency, order_id, status, "
                  "reference, reason, created_at_unix_ms FROM payments WHERE key = ?1");
    if (!row.prepared()) {
        return sqlite_error(db_, "prepare find");
    }
    row.bind(1, idempotency_key);
    int step = sqlite3_step(row.get());
    if (step == SQLITE_DONE) {
        return std::optional<PaymentRecord>();
    }
    if (step != SQLITE_ROW) {
        return sqlite_error(db_, "find");
    }
    auto record = read_record(row);
    if (!record.ok()) {
        return record.status();
    }
    return std::optional<PaymentRecord>(std::move(*record));
}

Status Ledger::insert(const PaymentRecord& record) {
    QRPAY_ASSERT(record.amount.amount_minor > 0, "the ledger stores positive amounts only");
    std::lock_guard lock(mutex_);
    Statement insert(db_,
                     "INSERT INTO payments (key, merchant, amount_minor, currency, "
                     "order_id, status, reference, reason, created_at_unix_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!insert.prepared()) {
        return sqlite_error(db_, "prepare insert");
    }
    insert.bind(1, record.idempotency_key);
    insert.bind(2, record.merchant_id);
    insert.bind(3, record.amount.amount_minor);
    insert.bind(4, record.amount.currency);
    insert.bind(5, record.order_id);
    insert.bind(6, std::string(status_text(record.status)));
    insert.bind(7, record.reference);
    insert.bind(8, record.reason);
    insert.bind(9, record.created_at.value);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) {
        return sqlite_error(db_, "insert");
    }
    return {};
}

Status Ledger::mark_reversed(const std::string& idempotency_key) {
    std::lock_guard lock(mutex_);
    Statement update(db_,
                     "UPDATE payments SET status = 'reversed' "
                     "WHERE key = ?1 AND status = 'captured'");
    if (!update.prepared()) {
        return sqlite_error(db_, "prepare reverse");
    }
    update.bind(1, idempotency_key);
    if (sqlite3_step(update.get()) != SQLITE_DONE) {
        return sqlite_error(db_, "reverse");
    }
    if (sqlite3_changes(db_) != 1) {
        return {Errc::not_found, "no captured payment with this key"};
    }
    return {};
}

Result<std::vector<LedgerBalance>> Ledger::balances() {
    std::lock_guard lock(mutex_);
    Statement rows(db_,
                   "SELECT merchant, currency, SUM(amount_minor), "
                   "SUM(CASE WHEN status = 'reversed' THEN amount_minor ELSE 0 END), "
                   "COUNT(*), SUM(CASE WHEN status = 'reversed' THEN 1 ELSE 0 END) "
                   "FROM payments WHERE status IN ('captured', 'reversed') "
                   "GROUP BY merchant, currency ORDER BY merchant, currency");
    if (!rows.prepared()) {
        return sqlite_error(db_, "prepare balances");
    }
    std::vector<LedgerBalance> balances;
    int step = SQLITE_ROW;
    while ((step = sqlite3_step(rows.get())) == SQLITE_ROW) {
        LedgerBalance balance;
        balance.merchant_id = rows.text(0);
        balance.currency = rows.text(1);
        balance.captured_minor = rows.integer(2);
        balance.reversed_minor = rows.integer(3);
        balance.net_minor = balance.captured_minor - balance.reversed_minor;
        balance.captured_count = rows.integer(4);
        balance.reversed_count = rows.integer(5);
        balances.push_back(std::move(balance));
    }
    if (step != SQLITE_DONE) {
        return sqlite_error(db_, "balances");  // e.g. integer overflow in SUM
    }
    return balances;
}

}  // namespace qrpay::agency::sim
