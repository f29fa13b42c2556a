#pragma once
// JSON renderings of domain views for the HTTP API. Field names are fixed by the API
// (issue 4): transaction_id, status, version, amount, merchant_id, consumer_id, order_id,
// created_at, updated_at, failure_reason.

#include <string>

#include "base/clock.h"
#include "domain/transaction/transaction.h"

namespace qrpay::api {

using domain::status_word;  // the status words are the domain's (transaction.h)
// Final: the payment has its answer (completed, failed, expired, cancelled).
bool is_final(const domain::TransactionState& state);
// A final state with no way out (transaction.h's table): failed, expired, cancelled. An event
// stream ends after showing one. Completed is not one: Cancel leads on from it.
bool ends_event_stream(const domain::TransactionState& state);

// RFC 3339 UTC with milliseconds: "2026-11-26T10:02:52.123Z".
std::string rfc3339(UnixMs at);

std::string transaction_json(const domain::TransactionView& view);

}  // namespace qrpay::api
