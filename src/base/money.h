#pragma once
// Money: integer minor units with an ISO 4217 currency (DESIGN §5.8). No floating point.

#include <cstdint>
#include <string>
#include <string_view>

namespace qrpay {

struct Money {
    std::int64_t amount_minor = 0;
    std::string currency;  // ISO 4217 alphabetic code, e.g. "JPY"
    bool operator==(const Money&) const = default;
};

// The largest amount qrpay accepts in one payment, in minor units (fits JavaScript's exact
// integer range so that JSON clients never round it).
inline constexpr std::int64_t amount_minor_max = 9'007'199'254'740'991;

// True for an active ISO 4217 alphabetic code ("JPY", "USD", ...).
bool is_iso4217_currency(std::string_view code);

}  // namespace qrpay
