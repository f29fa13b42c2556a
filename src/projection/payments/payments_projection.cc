#include "projection/payments/payments_projection.h"

#include <string>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace qrpay::projection::payments {

namespace {

using domain::status_word;
using domain::TransactionEvent;
using Phase = domain::TransactionPhase;
using Outcome = domain::TransactionOutcome;

// Where one event goes: the row of its transaction, moved from seq - 1 to seq.
struct Target {
    sql::Connection& db;
    const TableSet& tables;
    const TimeZone& zone;
    std::string transaction_id;
    SequenceNr seq;
};

// A column set by an event besides status, version and updated_at.
struct Assignment {
    const char* column;
    std::variant<std::int64_t, std::string> value;
};

std::string transaction_prefix() {
    return journal::persistence_id_of(domain::Transaction::type_name, "");
}

Status insert_row(const Target& target, const domain::TokenGenerated& event) {
    if (target.seq != SequenceNr(1)) {
        return {Errc::corruption, "TokenGenerated of " + target.transaction_id + " at seq " +
                                      std::to_string(target.seq.value) + ", not 1"};
    }
    auto insert =
        target.db.prepare("INSERT INTO " + target.tables.table("payments") +
                          " (transaction_id, version, status, consumer_id, created_at_unix_ms, "
                          "updated_at_unix_ms) VALUES (?, ?, ?, ?, ?, ?)");
    if (!insert.ok()) {
        return insert.status();
    }
    insert->bind_text(1, target.transaction_id);
    insert->bind_int(2, sql::to_column(target.seq.value));
    insert->bind_text(3, status_word(Phase::waiting_for_read_token));
    insert->bind_text(4, event.consumer_id.value);
    insert->bind_int(5, event.at.value);
    insert->bind_int(6, event.at.value);
    return insert->run("insert payment");
}

// Moves the row from version seq - 1 to seq with `status`; corruption when it is not there.
Status advance(const Target& target,
               std::string_view status,
               UnixMs at,
               const std::vector<Assignment>& extra = {}) {
    std::string sql = "UPDATE " + target.tables.table("payments") +
                      " SET status = ?, version = ?, updated_at_unix_ms = ?";
    for (const Assignment& assignment : extra) {
        sql += std::string(", ") + assignment.column + " = ?";
    }
    sql += " WHERE transaction_id = ? AND version = ?";
    auto update = target.db.prepare(sql);
    if (!update.ok()) {
        return update.status();
    }
    int index = 1;
    update->bind_text(index++, status);
    update->bind_int(index++, sql::to_column(target.seq.value));
    update->bind_int(index++, at.value);
    for (const Assignment& assignment : extra) {
        if (const auto* number = std::get_if<std::int64_t>(&assignment.value)) {
            update->bind_int(index++, *number);
        } else {
            update->bind_text(index++, std::get<std::string>(assignment.value));
        }
    }
    update->bind_text(index++, target.transaction_id);
    update->bind_int(index, sql::to_column(target.seq.value) - 1);
    if (Status done = update->run("update payment"); !done.ok()) {
        return done;
    }
    if (target.db.changes() != 1) {
        return {Errc::corruption, "payments row of " + target.transaction_id +
                                      " is missing or not at version " +
                                      std::to_string(target.seq.value - 1)};
    }
    return {};
}

enum class SaleKind { completed, cancelled };

// What the sales upsert returns: 1 when every total is still an exact integer. SQLite turns
// an integer sum that overflows into a float, which this detects; PostgreSQL refuses the
// overflow with a data exception instead, so its totals are exact whenever the upsert works.
std::string exact_totals(sql::Dialect dialect) {
    if (dialect == sql::Dialect::postgres) {
        return "1";
    }
    return "typeof(completed_count) = 'integer' AND typeof(completed_amount_minor) = 'integer' "
           "AND typeof(cancelled_count) = 'integer' AND typeof(cancelled_amount_minor) = "
           "'integer'";
}

// Counts the transaction's amount on the business day of `at`, with SQL's `+` in one upsert.
// A total that would overflow fails the event (invalid_argument, README "Query side"). The
// engine then rolls back its savepoint, so the day keeps its last exact total and the shard
// stops at this event instead of keeping a wrong number.
Status add_sale(const Target& target, SaleKind kind, UnixMs at) {
    auto select = target.db.prepare("SELECT merchant_id, amount_minor, currency FROM " +
                                    target.tables.table("payments") + " WHERE transaction_id = ?");
    if (!select.ok()) {
        return select.status();
    }
    select->bind_text(1, target.transaction_id);
    if (select->step() != sql::Step::row || select->column_is_null(0) ||
        select->column_is_null(1) || select->column_is_null(2)) {
        return {Errc::corruption, "payments row of " + target.transaction_id + " has no amount"};
    }
    std::string merchant = select->column_text(0);
    std::int64_t amount = select->column_int(1);
    std::string currency = select->column_text(2);
    QRPAY_ASSERT(amount > 0, "a sale's amount is positive");
    const std::string day = format_iso_date(target.zone.local_day(at));
    const std::string table = target.tables.table("daily_sales");
    auto upsert = target.db.prepare(
        "INSERT INTO " + table +
        " (merchant_id, business_day, currency, completed_count, completed_amount_minor, "
        "cancelled_count, cancelled_amount_minor) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (merchant_id, business_day, currency) DO UPDATE SET "
        "completed_count = " + table + ".completed_count + excluded.completed_count, "
        "completed_amount_minor = " + table + ".completed_amount_minor + "
        "excluded.completed_amount_minor, "
        "cancelled_count = " + table + ".cancelled_count + excluded.cancelled_count, "
        "cancelled_amount_minor = " + table + ".cancelled_amount_minor + "
        "excluded.cancelled_amount_minor "
        "RETURNING " + exact_totals(target.db.dialect()));
    if (!upsert.ok()) {
        return upsert.status();
    }
    bool completed = kind == SaleKind::completed;
    upsert->bind_text(1, merchant);
    upsert->bind_text(2, day);
    upsert->bind_text(3, currency);
    upsert->bind_int(4, completed ? 1 : 0);
    upsert->bind_int(5, completed ? amount : 0);
    upsert->bind_int(6, completed ? 0 : 1);
    upsert->bind_int(7, completed ? 0 : amount);
    sql::Step step = upsert->step();
    bool exact = step == sql::Step::row && upsert->column_int(0) == 1;
    if (step == sql::Step::error) {
        Status failed = upsert->error("add sale");
        if (failed.code() != Errc::invalid_argument) {  // PostgreSQL's bigint overflow is
            return failed;                              // a data exception (SQLSTATE 22003)
        }
    } else if (step != sql::Step::row) {
        return upsert->error("add sale");
    }
    if (exact && upsert->step() != sql::Step::done) {
        return upsert->error("add sale");
    }
    if (!exact) {
        return {Errc::invalid_argument,
                "amount overflow: the " + std::string(completed ? "completed" : "cancelled") +
                    " amount of merchant " + merchant + " on " + day + " in " + currency +
                    " would exceed 2^63-1 minor units with " + target.transaction_id};
    }
    return {};
}

Status on(const Target& target, const domain::TokenGenerated& event) {
    return insert_row(target, event);
}

Status on(const Target& target, const domain::TokenRead& event) {
    std::vector<Assignment> extra = {{"merchant_id", event.merchant_id.value},
                                     {"amount_minor", event.amount.amount_minor},
                                     {"currency", event.amount.currency}};
    if (!event.order_id.empty()) {
        extra.push_back({"order_id", event.order_id});
    }
    return advance(target, status_word(Phase::preparing_to_payment), event.at, extra);
}

Status on(const Target& target, const domain::Expired& event) {
    return advance(target, status_word(Outcome::expired), event.at);
}

Status on(const Target& target, const domain::PaymentStarted& event) {
    return advance(target, status_word(Phase::waiting_for_payment_execution), event.at);
}

Status on(const Target& target, const domain::PaymentCompleted& event) {
    Status advanced = advance(
        target, status_word(Outcome::completed), event.at,
        {{"agency_reference", event.agency_reference}, {"completed_at_unix_ms", event.at.value}});
    return advanced.ok() ? add_sale(target, SaleKind::completed, event.at) : advanced;
}

Status on(const Target& target, const domain::PaymentFailed& event) {
    return advance(target, status_word(Outcome::failed), event.at,
                   {{"failure_reason", event.reason}});
}

Status on(const Target& target, const domain::CancellationStarted& event) {
    return advance(target, status_word(Phase::waiting_for_payment_cancellation), event.at);
}

Status on(const Target& target, const domain::CancellationCompleted& event) {
    Status advanced = advance(target, status_word(Outcome::cancelled), event.at,
                              {{"cancelled_at_unix_ms", event.at.value}});
    return advanced.ok() ? add_sale(target, SaleKind::cancelled, event.at) : advanced;
}

Status on(const Target& target, const domain::CancellationFailed& event) {
    return advance(target, status_word(Outcome::completed), event.at);  // the payment stands
}

}  // namespace

PaymentsProjection::PaymentsProjection(TimeZone business_zone) : zone_(std::move(business_zone)) {}

std::vector<std::string> PaymentsProjection::table_names() const {
    return {"payments", "daily_sales"};
}

Status PaymentsProjection::create_tables(sql::Connection& db, const TableSet& tables) const {
    const std::string payments = tables.table("payments");
    std::string script =
        "CREATE TABLE IF NOT EXISTS " + payments +
        " (transaction_id TEXT NOT NULL PRIMARY KEY, version BIGINT NOT NULL, "
        "status TEXT NOT NULL, consumer_id TEXT NOT NULL, merchant_id TEXT, amount_minor BIGINT, "
        "currency TEXT, order_id TEXT, agency_reference TEXT, failure_reason TEXT, "
        "created_at_unix_ms BIGINT NOT NULL, updated_at_unix_ms BIGINT NOT NULL, "
        "completed_at_unix_ms BIGINT, cancelled_at_unix_ms BIGINT);\n"
        "CREATE INDEX IF NOT EXISTS " +
        tables.index("payments_by_consumer") + " ON " + payments +
        " (consumer_id, created_at_unix_ms, transaction_id);\n"
        "CREATE INDEX IF NOT EXISTS " +
        tables.index("payments_by_merchant") + " ON " + payments +
        " (merchant_id, created_at_unix_ms, transaction_id);\n"
        "CREATE TABLE IF NOT EXISTS " +
        tables.table("daily_sales") +
        " (merchant_id TEXT NOT NULL, business_day TEXT NOT NULL, currency TEXT NOT NULL, "
        "completed_count BIGINT NOT NULL, completed_amount_minor BIGINT NOT NULL, "
        "cancelled_count BIGINT NOT NULL, cancelled_amount_minor BIGINT NOT NULL, "
        "PRIMARY KEY (merchant_id, business_day, currency));\n";
    return db.run_script(script);
}

Status PaymentsProjection::apply(sql::Connection& db,
                                 const TableSet& tables,
                                 const journal::ShardEvent& event) const {
    static_assert(std::variant_size_v<TransactionEvent> == 9, "every event has a handler below");
    const std::string prefix = transaction_prefix();
    if (event.persistence_id.compare(0, prefix.size(), prefix) != 0) {
        return {};  // another entity type's event
    }
    TransactionEvent decoded =
        domain::decode_transaction_event({event.seq, event.type, event.payload, event.written_at});
    Target target{db, tables, zone_, event.persistence_id.substr(prefix.size()), event.seq};
    return std::visit([&target](const auto& typed) { return on(target, typed); }, decoded);
}

Result<std::string> dump_tables(sql::Connection& db, const TableSet& tables) {
    const std::string payments_sql =
        "SELECT transaction_id, version, status, consumer_id, merchant_id, amount_minor, "
        "currency, order_id, agency_reference, failure_reason, created_at_unix_ms, "
        "updated_at_unix_ms, completed_at_unix_ms, cancelled_at_unix_ms FROM " +
        tables.table("payments") + " ORDER BY transaction_id";
    const std::string sales_sql =
        "SELECT merchant_id, business_day, currency, completed_count, completed_amount_minor, "
        "cancelled_count, cancelled_amount_minor FROM " +
        tables.table("daily_sales") + " ORDER BY merchant_id, business_day, currency";
    std::string out;
    for (const auto& [sql, columns] : {std::pair{payments_sql, 14}, std::pair{sales_sql, 7}}) {
        auto select = db.prepare(sql);
        if (!select.ok()) {
            return select.status();
        }
        sql::Step step = sql::Step::done;
        while ((step = select->step()) == sql::Step::row) {
            for (int column = 0; column < columns; ++column) {
                out += select->column_is_null(column) ? "NULL" : select->column_text(column);
                out += column + 1 < columns ? "|" : "\n";
            }
        }
        if (step == sql::Step::error) {
            return select->error("dump");
        }
        out += "--\n";
    }
    return out;
}

}  // namespace qrpay::projection::payments
