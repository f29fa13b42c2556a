#include "projection/payments/payments_queries.h"

#include <limits>

#include "base/assert.h"
#include "sql/connection.h"

namespace qrpay::projection::payments {

namespace {

constexpr std::int64_t time_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t time_max = std::numeric_limits<std::int64_t>::max();

// One statement per party and status filter, so each uses its index; the keyset condition
// with (time_max, "") as "no cursor" admits every row (no row is created at time_max).
std::string history_sql(Party party, bool with_status) {
    std::string owner = party == Party::consumer ? "consumer_id" : "merchant_id";
    return "SELECT transaction_id, status, consumer_id, merchant_id, amount_minor, currency, "
           "order_id, agency_reference, created_at_unix_ms, updated_at_unix_ms, "
           "completed_at_unix_ms, cancelled_at_unix_ms FROM payments WHERE " +
           owner + " = ?" + (with_status ? " AND status = ?" : "") +
           " AND created_at_unix_ms >= ? AND created_at_unix_ms < ?"
           " AND (created_at_unix_ms < ? OR (created_at_unix_ms = ? AND transaction_id < ?))"
           " ORDER BY created_at_unix_ms DESC, transaction_id DESC LIMIT ?";
}

PaymentRecord record_of(const sql::Statement& row) {
    PaymentRecord record;
    record.transaction_id = row.column_text(0);
    record.status = row.column_text(1);
    record.consumer_id = row.column_text(2);
    record.merchant_id = row.column_optional_text(3);
    if (!row.column_is_null(4) && !row.column_is_null(5)) {
        record.amount = Money{row.column_int(4), row.column_text(5)};
    }
    record.order_id = row.column_optional_text(6);
    record.agency_reference = row.column_optional_text(7);
    record.created_at = UnixMs{row.column_int(8)};
    record.updated_at = UnixMs{row.column_int(9)};
    if (auto completed = row.column_optional_int(10)) {
        record.completed_at = UnixMs{*completed};
    }
    if (auto cancelled = row.column_optional_int(11)) {
        record.cancelled_at = UnixMs{*cancelled};
    }
    return record;
}

Result<HistoryPage> select_history(sql::Connection& db, const HistoryQuery& query) {
    auto select = db.prepare(history_sql(query.party, query.status.has_value()));
    if (!select.ok()) {
        return select.status();
    }
    int index = 1;
    select->bind_text(index++, query.party_id);
    if (query.status) {
        select->bind_text(index++, *query.status);
    }
    select->bind_int(index++, query.created_from ? query.created_from->value : time_min);
    select->bind_int(index++, query.created_until ? query.created_until->value : time_max);
    std::int64_t after_time = query.after ? query.after->created_at.value : time_max;
    select->bind_int(index++, after_time);
    select->bind_int(index++, after_time);
    select->bind_text(index++, query.after ? query.after->transaction_id : std::string());
    select->bind_int(index,
                     static_cast<std::int64_t>(query.limit) + 1);  // one more: is there a next?
    HistoryPage page;
    sql::Step step = sql::Step::done;
    while ((step = select->step()) == sql::Step::row) {
        page.payments.push_back(record_of(*select));
    }
    if (step == sql::Step::error) {
        return select->error("read history");
    }
    if (page.payments.size() > query.limit) {
        page.payments.resize(query.limit);
        const PaymentRecord& last = page.payments.back();
        page.next = HistoryCursor{last.created_at, last.transaction_id};
    }
    return page;
}

}  // namespace

Result<HistoryPage> read_history(sql::Connection& db, const HistoryQuery& query) {
    if (query.limit < 1 || query.limit > history_page_rows_max) {
        return Status(Errc::invalid_argument, "limit must be 1 to 100");
    }
    Result<HistoryPage> page = Status(Errc::io_error, "not read");
    Status read = sql::in_transaction(db, sql::Begin::deferred, [&]() -> Status {
        page = select_history(db, query);
        return page.status();
    });
    if (!read.ok()) {
        return read;
    }
    return page;
}

Result<std::vector<DailySales>> read_sales(sql::Connection& db,
                                           const std::string& merchant_id,
                                           const std::string& from_day,
                                           const std::string& to_day) {
    // SQLite may hold a float where an old version let a sum overflow; PostgreSQL's bigint
    // refuses the overflow itself, so its totals are exact by construction.
    const std::string exact = db.dialect() == sql::Dialect::sqlite
                                  ? "typeof(completed_amount_minor) = 'integer' AND "
                                    "typeof(cancelled_amount_minor) = 'integer'"
                                  : "1";
    auto select = db.prepare(
        "SELECT business_day, currency, completed_count, completed_amount_minor, "
        "cancelled_count, cancelled_amount_minor, " +
        exact +
        " FROM daily_sales WHERE merchant_id = ? "
        "AND business_day >= ? AND business_day <= ? ORDER BY business_day, currency LIMIT ?");
    if (!select.ok()) {
        return select.status();
    }
    select->bind_text(1, merchant_id);
    select->bind_text(2, from_day);
    select->bind_text(3, to_day);
    select->bind_int(4, static_cast<std::int64_t>(sales_rows_max));
    std::vector<DailySales> rows;
    sql::Step step = sql::Step::done;
    while ((step = select->step()) == sql::Step::row) {
        rows.push_back({select->column_text(0), select->column_text(1), select->column_int(2),
                        select->column_int(3), select->column_int(4), select->column_int(5)});
        // A float here is a sum that overflowed in SQL before sums were checked (a read model
        // written by an older version): refused, never read back clamped.
        const DailySales& row = rows.back();
        if (select->column_int(6) != 1 || row.completed_count < 0 ||
            row.completed_amount_minor < 0 || row.cancelled_count < 0 ||
            row.cancelled_amount_minor < 0) {
            return Status(Errc::corruption, "daily sales of " + merchant_id + " on " +
                                                row.business_day + " in " + row.currency +
                                                " are not 64-bit totals: rebuild the projection");
        }
    }
    if (step == sql::Step::error) {
        return select->error("read sales");
    }
    QRPAY_ASSERT(rows.size() <= sales_rows_max, "the sales read is bounded");
    return rows;
}

}  // namespace qrpay::projection::payments
