#include "domain/payment_flows.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>

#include "base/log.h"

namespace qrpay::domain {
namespace {

// A transaction id is "tx_" and 32 hex digits: the creation time (Unix milliseconds, 12
// digits) then 10 random bytes. Ids made close in time sort close together, so the journal's
// and the read model's indexes on them take new ids at their right edge instead of dirtying a
// random page per payment (a third of the journal writer's cost was such pages); 80 random
// bits per millisecond keep them unique and unguessable. The time is the transaction's
// created_at, which both parties see anyway.
constexpr std::size_t transaction_id_bytes = 16;
constexpr std::size_t transaction_id_time_hex_digits = 12;
constexpr std::size_t transaction_id_random_bytes = 10;
static_assert(transaction_id_time_hex_digits + 2 * transaction_id_random_bytes ==
                  2 * transaction_id_bytes,
              "time and randomness fill the id");

std::string transaction_id_time_hex(UnixMs now) {
    constexpr std::string_view digits = "0123456789abcdef";
    auto value = static_cast<std::uint64_t>(std::max<std::int64_t>(now.value, 0));
    std::string hex(transaction_id_time_hex_digits, '0');
    for (std::size_t i = transaction_id_time_hex_digits; i-- > 0; value >>= 4U) {
        hex[i] = digits[value & 15U];
    }
    return hex;
}

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
    return id.size() == prefix.size() + 2 * transaction_id_bytes &&
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
    draw_code(consumer, options_.code_draws_max, std::move(done));
}

// Both appends at once; the view is answered once both are durable. The shared state lives
// on the two entities' executors, so it is guarded.
void PaymentFlows::draw_code(const ConsumerId& consumer, int draws_left, ViewCallback done) {
    TransactionId transaction{"tx_" + transaction_id_time_hex(clock_.wall_now()) +
                              random_.hex(transaction_id_random_bytes)};
    QRPAY_ASSERT(is_well_formed_transaction_id(transaction.value), "issued ids are well formed");
    std::string code = random_.decimal_digits(static_cast<int>(code_digits));
    UnixMs expires_at{clock_.wall_now().value + options_.code_ttl.count()};
    struct Join {
        std::mutex mutex;
        int answers_left = 2;
        Status token_status;
        Result<TransactionReply> view = Status(Errc::unavailable, "no answer yet");
    };
    auto join = std::make_shared<Join>();
    auto finish = [this, consumer, draws_left, join, done = std::move(done)]() mutable {
        Status token = std::move(join->token_status);
        if (!token.ok() && token.code() == Errc::conflict && draws_left > 1) {
            draw_code(consumer, draws_left - 1, std::move(done));
            return;
        }
        if (!token.ok()) {
            done(std::move(token));
            return;
        }
        done(as_view(std::move(join->view)));
    };
    auto shared_finish = std::make_shared<decltype(finish)>(std::move(finish));
    auto arrive = [join, shared_finish](auto record) {
        bool last = false;
        {
            std::lock_guard lock(join->mutex);
            record(*join);
            last = --join->answers_left == 0;
        }
        if (last) {
            (*shared_finish)();
        }
    };
    tokens_.ask_new(code, StartUse{transaction, expires_at},
                    [arrive](const Result<TokenReply>& reply) {
                        arrive([&reply](Join& state) { state.token_status = reply.status(); });
                    });
    transactions_.ask_new(transaction.value, Generate{consumer, Secret(code), expires_at},
                          [arrive](Result<TransactionReply> view) mutable {
                              arrive([&view](Join& state) { state.view = std::move(view); });
                          });
}

void PaymentFlows::pay(const MerchantId& merchant,
                       const std::string& code,
                       const Money& amount,
                       const std::string& order_id,
                       const RequestKey& key,
                       ViewCallback done) {
    if (!is_valid_code(code)) {
        done(Status(Errc::not_found, "unknown code"));
        return;
    }
    ReadToken read{merchant, amount, order_id, key.key, key.request_hash};
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
                          const RequestKey& key,
                          ViewCallback done) {
    transactions_.ask(transaction.value, Cancel{merchant, key.key, key.request_hash},
                      [done = std::move(done)](Result<TransactionReply> view) {
                          done(as_view(std::move(view)));
                      });
}

void PaymentFlows::find_by_request_key(const MerchantId& merchant,
                                       const std::string& request_key,
                                       FoundCallback done) {
    transactions_.find_key_holder(
        request_key_claim(merchant, request_key),
        [&done](Result<std::optional<std::string>> holder) {
            if (!holder.ok()) {
                done(holder.status());
                return;
            }
            done(*holder ? std::optional<TransactionId>(TransactionId{**holder})
                         : std::optional<TransactionId>());
        });
}

bool PaymentFlows::runs_here(const TransactionId& transaction) const {
    return transactions_.served_here(transaction.value);
}

void PaymentFlows::get(const TransactionId& transaction, ViewCallback done) {
    transactions_.ask(transaction.value, Get{},
                      [done = std::move(done)](Result<TransactionReply> view) {
                          done(as_view(std::move(view)));
                      });
}

}  // namespace qrpay::domain
