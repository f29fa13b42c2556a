#pragma once
// PaymentsProjection: the payments read model, fed from the Transaction entity's events
// (DESIGN §2, §3). The engine stays generic; this is where events become rows.
//
//   payments     one row per transaction: transaction_id (PRIMARY KEY), version (the sequence
//                number of the last event applied: each event must be the next one),
//                status (the API's words: waiting_for_read_token, preparing_to_payment,
//                waiting_for_payment_execution, completed, failed, expired,
//                waiting_for_payment_cancellation, cancelled), consumer_id, merchant_id,
//                amount_minor, currency, order_id, agency_reference, failure_reason,
//                created_at_unix_ms, updated_at_unix_ms, completed_at_unix_ms,
//                cancelled_at_unix_ms. Indexed by (consumer_id | merchant_id,
//                created_at_unix_ms, transaction_id) for keyset pages, newest first.
//   daily_sales  per (merchant_id, business_day 'YYYY-MM-DD', currency): completed_count,
//                completed_amount_minor (PaymentCompleted, on the business day of its time)
//                and cancelled_count, cancelled_amount_minor (CancellationCompleted, on the
//                business day of the cancellation). Net = completed - cancelled amounts.
//
// Times are the events' own `at` (when the entity decided), so a rebuild gives equal rows.
// The business day depends on the time zone: after changing it, rebuild the projection.
// Events of other entity types are ignored. The code of a payment is never stored here.
//
// Thread safety: immutable after construction.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "domain/transaction/transaction.h"
#include "projection/projection.h"
#include "projection/time_zone.h"

namespace qrpay::projection::payments {

inline constexpr std::string_view projection_name = "payments";

// Every status word a payments row can hold: the domain's.
inline constexpr const auto& payment_statuses = domain::status_words;

class PaymentsProjection final : public Projection {
public:
    explicit PaymentsProjection(TimeZone business_zone);
    ~PaymentsProjection() override = default;
    PaymentsProjection(const PaymentsProjection&) = delete;
    PaymentsProjection& operator=(const PaymentsProjection&) = delete;
    PaymentsProjection(PaymentsProjection&&) = delete;
    PaymentsProjection& operator=(PaymentsProjection&&) = delete;

    [[nodiscard]] std::string_view name() const override { return projection_name; }
    [[nodiscard]] std::vector<std::string> table_names() const override;
    Status create_tables(sql::Connection& db, const TableSet& tables) const override;
    Status apply(sql::Connection& db,
                 const TableSet& tables,
                 const journal::ShardEvent& event) const override;

    [[nodiscard]] const TimeZone& business_zone() const { return zone_; }

private:
    TimeZone zone_;
};

// Every row of a table set, in key order, one line per row: for comparing a rebuild with the
// live tables (tests, verification).
Result<std::string> dump_tables(sql::Connection& db, const TableSet& tables);

}  // namespace qrpay::projection::payments
