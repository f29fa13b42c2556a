#pragma once
// The payment domain's ceilings, in one place (STYLE 2.5). Commands refuse input beyond them
// with Errc::invalid_argument; text from the agency is cut to fit, because an answer must never
// make an event too large to store (journal::event_payload_bytes_max).

#include <cstddef>

#include "base/money.h"
#include "journal/journal.h"

namespace qrpay::domain {

inline constexpr std::size_t id_bytes_max = 128;            // transaction, consumer, merchant
inline constexpr std::size_t order_id_bytes_max = 128;      // the merchant's order id
inline constexpr std::size_t request_key_bytes_max = 128;   // the merchant's idempotency key
inline constexpr std::size_t request_hash_bytes_max = 128;  // a request's fingerprint
inline constexpr std::size_t agency_text_bytes_max = 256;   // an agency reference or reason

// Every field of an event at its ceiling still fits one stored payload, with room for keys.
static_assert(4 * id_bytes_max + order_id_bytes_max + request_key_bytes_max +
                      request_hash_bytes_max + 2 * agency_text_bytes_max + 1024 <
                  journal::event_payload_bytes_max,
              "a domain event always fits a journal payload");

// 0 < amount_minor <= amount_minor_max and an active ISO 4217 currency (DESIGN §5.8).
inline bool is_valid_amount(const Money& amount) {
    return amount.amount_minor > 0 && amount.amount_minor <= amount_minor_max &&
           is_iso4217_currency(amount.currency);
}

}  // namespace qrpay::domain
