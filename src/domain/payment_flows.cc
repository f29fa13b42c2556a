#include "domain/payment_flows.h"

#include "base/log.h"

namespace qrpay::domain {
namespace {

constexpr std::size_t transaction_id_random_bytes = 16;

// Unwraps the one reply alternative a transaction has.
Result<TransactionView> as_view(Result<TransactionReply> reply) {
    if (!reply.ok()) {
        return reply.status();
    }
    return std::get<TransactionView>(std::move(reply).value());
}

}  // namespace

bool is_well_formed_transaction_id(std::string_view id) {
    constexpr std::string_view prefix = "tx_";
    return id.size() == prefix.size() + 2 * transaction_id_random_bytes &&
           id.substr(0, prefix.size()) == prefix &&
           id.find_first_not_of("0123456789abcdef", prefix.size()) == std::string_view::npos;
}

PaymentFlows::PaymentFlows(runtime::EntityHost<Token>& tokens,
                           runtime::EntityHost<Transaction>& transactions,
                           RandomSource& random,
                           const Clock& clock,
                           FlowOptions options)
    : tokens_(tokens),
      transactions_(transactions),
      random_(random),
      clock_(clock),
      options_(options) {
    QRPAY_ASSERT(options_.code_ttl.count() > 0, "codes need a positive validity");
    QRPAY_ASSERT(options_.code_draws_max > 0, "at least one code draw");
}

void PaymentFlows::issue_code(const ConsumerId& consumer, ViewCallback done) {
    TransactionId transaction{"tx_" + random_.hex(transaction_id_random_bytes)};
    QRPAY_ASSERT(is_well_formed_transaction_id(transaction.value), "issued ids are well formed");
    draw_code(consumer, transaction, options_.code_draws_max, std::move(done));
}

void PaymentFlows::draw_code(const ConsumerId& consumer,
                             const TransactionId& transaction,
                             int draws_left,
                             ViewCallback done) {
    std::string code = random_.decimal_digits(static_cast<int>(code_digits));
    UnixMs expires_at{clock_.wall_now().value + options_.code_ttl.count()};
    tokens_.ask_new(
        code, StartUse{transaction, expires_at},
        [this, consumer, transaction, code, expires_at, draws_left,
         done = std::move(done)](const Result<TokenReply>& reply) mutable {
            if (!reply.ok() && reply.status().code() == Errc::conflict && draws_left > 1) {
                draw_code(consumer, transaction, draws_left - 1, std::move(done));
                return;
            }
            if (!reply.ok()) {
                done(reply.status());
                return;
            }
            transactions_.ask_new(transaction.value, Generate{consumer, Secret(code), expires_at},
                                  [done = std::move(done)](Result<TransactionReply> view) {
                                      done(as_view(std::move(view)));
                                  });
        });
}

void PaymentFlows::pay(const MerchantId& merchant,
                       const std::string& code,
                       const Money& amount,
                       const std::string& order_id,
                       const std::string& request_key,
                       ViewCallback done) {
    if (!is_valid_code(code)) {
        done(Status(Errc::not_found, "unknown code"));
        return;
    }
    ReadToken read{merchant, amount, order_id, request_key};
    tokens_.ask(
        code, Resolve{},
        [this, read = std::move(read), done = std::move(done)](Result<TokenReply> reply) mutable {
            if (!reply.ok()) {
                done(reply.status());
                return;
            }
            const auto& resolved = std::get<Resolved>(reply.value());
            transactions_.ask(resolved.transaction_id.value, std::move(read),
                              [done = std::move(done)](Result<TransactionReply> view) {
                                  done(as_view(std::move(view)));
                              });
        });
}

void PaymentFlows::cancel(const MerchantId& merchant,
                          const TransactionId& transaction,
                          const std::string& request_key,
                          ViewCallback done) {
    transactions_.ask(transaction.value, Cancel{merchant, request_key},
                      [done = std::move(done)](Result<TransactionReply> view) {
                          done(as_view(std::move(view)));
                      });
}

void PaymentFlows::get(const TransactionId& transaction, ViewCallback done) {
    transactions_.ask(transaction.value, Get{},
                      [done = std::move(done)](Result<TransactionReply> view) {
                          done(as_view(std::move(view)));
                      });
}

}  // namespace qrpay::domain
