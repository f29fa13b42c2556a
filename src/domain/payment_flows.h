#pragma once
// PaymentFlows: DESIGN §3's flows across the two entities. Each step is one command to one
// entity; the flows hold no state of their own, so a crash between steps leaves at most a
// Token held until its expiry (never a payment half-made).
//
//   issue_code  draw a code (CSPRNG) -> Token StartUse (drawn again while in use, at most
//               code_draws_max times) -> Transaction Generate
//   pay         Token Resolve (the code's open transaction) -> Transaction ReadToken
//   cancel      Transaction Cancel
//   get         Transaction Get
//
// Every callback gets the transaction's view after the step, or the error of the step that
// refused (codes as documented in token.h and transaction.h). Callbacks run on an entity's
// executor and must not block. Thread-safe; the hosts, random source and clock must outlive
// this object.

#include <chrono>
#include <functional>
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

struct FlowOptions {
    std::chrono::milliseconds code_ttl{std::chrono::minutes(5)};  // how long a code is valid
    int code_draws_max = 8;  // codes drawn before giving up (each already in use)
};

class PaymentFlows {
public:
    using ViewCallback = std::function<void(Result<TransactionView>)>;

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
             const std::string& request_key,
             ViewCallback done);
    void cancel(const MerchantId& merchant,
                const TransactionId& transaction,
                const std::string& request_key,
                ViewCallback done);
    void get(const TransactionId& transaction, ViewCallback done);

private:
    void draw_code(const ConsumerId& consumer,
                   const TransactionId& transaction,
                   int draws_left,
                   ViewCallback done);

    runtime::EntityHost<Token>& tokens_;
    runtime::EntityHost<Transaction>& transactions_;
    RandomSource& random_;
    const Clock& clock_;
    FlowOptions options_;
};

}  // namespace qrpay::domain
