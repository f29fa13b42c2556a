#pragma once
// Reads of the payments read model (payments_projection.h) for the query API: one party's
// payments, newest first, in keyset pages, and a merchant's daily sales. Each read runs in one
// read transaction on a connection from the store's pool, so a page is one consistent
// snapshot. The SQL is portable except for its `?` placeholders.
//
// Thread safety: the functions may run on any thread, each with its own connection.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/money.h"
#include "base/status.h"
#include "sql/connection.h"

namespace qrpay::projection::payments {

inline constexpr std::size_t history_page_rows_max = 100;
inline constexpr std::size_t sales_rows_max = 4'000;  // days x currencies of one answer

enum class Party { consumer, merchant };

struct PaymentRecord {
    std::string transaction_id;
    std::string status;
    std::string consumer_id;
    std::optional<std::string> merchant_id;
    std::optional<Money> amount;
    std::optional<std::string> order_id;
    std::optional<std::string> agency_reference;
    UnixMs created_at;
    UnixMs updated_at;
    std::optional<UnixMs> completed_at;
    std::optional<UnixMs> cancelled_at;
    bool operator==(const PaymentRecord&) const = default;
};

// A position in the newest-first order: pages continue with rows strictly older than it.
struct HistoryCursor {
    UnixMs created_at;
    std::string transaction_id;
    bool operator==(const HistoryCursor&) const = default;
};

struct HistoryQuery {
    Party party = Party::consumer;
    std::string party_id{};
    std::optional<std::string> status{};    // one of payment_statuses
    std::optional<UnixMs> created_from{};   // inclusive
    std::optional<UnixMs> created_until{};  // exclusive
    std::size_t limit = 20;                 // 1..history_page_rows_max
    std::optional<HistoryCursor> after{};
};

struct HistoryPage {
    std::vector<PaymentRecord> payments;
    std::optional<HistoryCursor> next;  // set when more rows follow
};

// io_error from the store; invalid_argument for a limit out of range.
Result<HistoryPage> read_history(sql::Connection& db, const HistoryQuery& query);

struct DailySales {
    std::string business_day;  // YYYY-MM-DD
    std::string currency;
    std::int64_t completed_count = 0;
    std::int64_t completed_amount_minor = 0;
    std::int64_t cancelled_count = 0;
    std::int64_t cancelled_amount_minor = 0;
    bool operator==(const DailySales&) const = default;
};

// Days from_day..to_day (inclusive, 'YYYY-MM-DD'), by day then currency; at most
// sales_rows_max rows. corruption when a stored total is not a non-negative 64-bit integer
// (never read back clamped).
Result<std::vector<DailySales>> read_sales(sql::Connection& db,
                                           const std::string& merchant_id,
                                           const std::string& from_day,
                                           const std::string& to_day);

}  // namespace qrpay::projection::payments
