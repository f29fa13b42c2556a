#pragma once
// Strong string identities of the payment domain (STYLE 2.4), so a merchant id cannot be passed
// where a transaction id is expected. Values are opaque to the domain; the API layer issues and
// checks their format. Each is at most id_bytes_max bytes (commands refuse longer ones).

#include <compare>
#include <string>

#include "domain/limits.h"

namespace qrpay::domain {

template <class Tag>
struct StringId {
    std::string value;

    [[nodiscard]] bool empty() const { return value.empty(); }
    auto operator<=>(const StringId&) const = default;
};

using TransactionId = StringId<struct TransactionIdTag>;
using ConsumerId = StringId<struct ConsumerIdTag>;
using MerchantId = StringId<struct MerchantIdTag>;

// True when `value` can name an entity or a party: 1..id_bytes_max bytes.
template <class Tag>
bool is_valid_id(const StringId<Tag>& id) {
    return !id.value.empty() && id.value.size() <= id_bytes_max;
}

}  // namespace qrpay::domain
