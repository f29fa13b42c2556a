#pragma once
// AgencyPort: what the payment domain needs from a payment agency. Declared here, implemented
// by agency/ (HTTP client) so the domain knows no HTTP (STYLE 2.1).
//
// Every call carries the transaction id as idempotency key: calling twice with the same key
// never charges or reverses twice. Calls are asynchronous; `done` runs exactly once, on any
// thread, and must not block.

#include <functional>
#include <string>

#include "base/money.h"

namespace qrpay::domain {

enum class AgencyVerdict {
    approved,   // charged (pay), reversed (reverse), or charged (inquire)
    declined,   // the agency said no; nothing was charged or reversed
    not_found,  // inquire only: the agency has no request with this key
    unknown,    // timeout, 5xx or connection failure: the outcome is not known; ask again
};

struct AgencyOutcome {
    AgencyVerdict verdict = AgencyVerdict::unknown;
    std::string reference;  // the agency's reference when approved
    std::string reason;     // why, when declined or unknown
};

struct AgencyPayment {
    std::string idempotency_key;  // the transaction id
    std::string merchant_id;
    Money amount;
    std::string order_id;
};

struct AgencyReversal {
    std::string idempotency_key;  // the transaction id; the agency reverses that payment
    std::string merchant_id;
    Money amount;
};

class AgencyPort {
public:
    using Done = std::function<void(AgencyOutcome)>;
    virtual ~AgencyPort() = default;

    virtual void pay(const AgencyPayment& payment, Done done) = 0;
    // The outcome of an earlier pay() with this key.
    virtual void inquire(const std::string& idempotency_key, Done done) = 0;
    virtual void reverse(const AgencyReversal& reversal, Done done) = 0;
};

}  // namespace qrpay::domain
