#pragma once
// PaymentFlows: DESIGN §3's flows across the two entities. Each step is one command to one
// entity; the flows hold no state of their own, so a crash between steps leaves at most a
// Token held until its expiry (never a payment half-made).
//
//   issue_code  draw a code (CSPRNG) -> Token StartUse and Transaction Generate at once, so
//               both appends share one group commit. A code already in use (StartUse
//               refused; odds about open codes / 10^20) is drawn again for a new transaction,
//               at most code_draws_max times; the transaction generated with the taken code
//               cannot be read through it (the Token names another holder) and expires.
//   pay         Token Resolve (the code's open transaction) -> Transaction ReadToken
//   cancel      Transaction Cancel
//   get         Transaction Get
//   find_by_request_key
//               the transaction that took a merchant's request key with its ReadToken or
//               Cancel (a key claim in the journal, kept for the journal's key retention)
//
// Every callback gets the transaction's view after the step, or the error of the step that
// refused (codes as documented in token.h and transaction.h). Callbacks run on an entity's
// executor (find_by_request_key's on the calling thread) and must not block. Thread-safe; the
// hosts, random source and clock must outlive this object.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/random.h"
#include "domain/token/token.h"
#include "domain/transaction/transaction.h"
#include "runtime/entity_host.h"

namespace qrpay::domain {

// True for an id issue_code() could have made: "tx_" and 32 lowercase hex digits. Lets the
// API refuse a malformed id without loading anything.
bool is_well_formed_transaction_id(std::string_view id);

// A merchant's idempotency key and the fingerprint of the request it came with; both empty
// for a request without a key.
struct RequestKey {
    std::string key;
    std::string request_hash;
};

struct FlowOptions {
    std::chrono::milliseconds code_ttl{std::chrono::minutes(5)};  // how long a code is valid
    int code_draws_max = 8;  // codes drawn before giving up (each already in use)
};

class PaymentFlows {
public:
    using ViewCallback = std::function<void(Result<TransactionView>)>;
    using FoundCallback = std::function<void(Result<std::optional<TransactionId>>)>;

    PaymentFlows(runtime::EntityHost<Token>& tokens,
                 runtime::EntityHost<Transaction>& transactions,
                 RandomSource& random,
                 const Clock& clock,
                 FlowOptions options);

    void issue_code(const ConsumerId& consumer, ViewCallback done);
    void pay(const MerchantId& merchant,
             const std::string& code,
             const Money& amount,
             const std::string& order_id,
             const RequestKey& key,
             ViewCallback done);
    void cancel(const MerchantId& merchant,
                const TransactionId& transaction,
                const RequestKey& key,
                ViewCallback done);
    void get(const TransactionId& transaction, ViewCallback done);
    // Whether the transaction's entity runs on this node now (its persists are heard here);
    // else another node of the cluster runs it.
    [[nodiscard]] bool runs_here(const TransactionId& transaction) const;
    void find_by_request_key(const MerchantId& merchant,
                             const std::string& request_key,
                             FoundCallback done);

private:
    void draw_code(const ConsumerId& consumer, int draws_left, ViewCallback done);

    runtime::EntityHost<Token>& tokens_;
    runtime::EntityHost<Transaction>& transactions_;
    RandomSource& random_;
    const Clock& clock_;
    FlowOptions options_;
};

}  // namespace qrpay::domain
