#pragma once
// PaymentApi: the consumer and merchant HTTP API (issue 4's table). Routes, authentication,
// idempotency keys and waits live here; payment decisions stay in the domain.
//
//   POST /v1/payment-codes                   consumer  201 {transaction_id, code, expires_at,
//                                                          qr_svg, qr_png}
//   GET  /v1/transactions/{id}[?wait=S&after_version=N]  its consumer or merchant (long-poll)
//   GET  /v1/transactions/{id}/qr.svg|qr.png its consumer
//   POST /v1/payments                        merchant  200 final / 202 still waiting
//   POST /v1/transactions/{id}/cancel        its merchant
//
// Another party's transaction answers 404, never 403, so ids cannot be probed.
// Thread safety: handle() may be called from any thread; it never blocks.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "api/auth.h"
#include "api/change_feed.h"
#include "api/code_limiter.h"
#include "api/idempotency.h"
#include "api/problem.h"
#include "domain/payment_flows.h"
#include "http/server.h"

namespace qrpay::api {

struct ApiOptions {
    // POST /v1/payments and cancel wait this long for a final state before answering 202.
    std::chrono::milliseconds pay_wait_max{std::chrono::seconds(5)};
    // The longest ?wait= a client may ask for, in seconds.
    int long_poll_wait_s_max = 30;
    // How many codes one consumer may ask for (api/code_limiter.h).
    CodeLimits code_limits{};
};

class PaymentApi {
public:
    PaymentApi(domain::PaymentFlows& flows,
               const TokenSigner& signer,
               const Clock& clock,
               ChangeFeed& feed,
               ApiOptions options);

    void handle(http::Request request, http::Responder responder);

private:
    using ViewResult = Result<domain::TransactionView>;
    using ViewCallback = std::function<void(ViewResult)>;
    using Start = std::function<void(const domain::RequestKey&, ViewCallback)>;

    struct Call {
        http::Request request;
        http::Responder responder;
        Principal principal;
    };

    void route(Call call);
    void route_transaction(Call call, const std::string& rest);
    void create_code(Call call);
    // 429 (or 503) when `consumer` may not have another code now.
    std::optional<Problem> refused_by_limits(const std::string& consumer);
    void get_transaction(Call call, const std::string& id);
    void get_qr(Call call, const std::string& id, bool png);
    void pay(Call call);
    void cancel(Call call, const std::string& id);

    // Runs `start` under the request's Idempotency-Key (if any), then answers with the
    // transaction once final or after pay_wait_max. `conflict_code` names a domain conflict.
    //
    // A key is taken by the transaction itself: its ReadToken or Cancel claims the key in the
    // journal with the same append (domain::request_key_claim), so a key costs no write of
    // its own. A request first looks the key up: a key already taken answers the request it
    // was taken by again (replay, with a direct read's visibility check), or 422 when this is
    // another request. A request refused by the domain takes no key: a retry runs again and
    // meets the same refusal, or succeeds if what refused it has changed.
    void run_idempotent(Call call,
                        const std::string& canonical_body,
                        Start start,
                        const std::string& not_found_code,
                        const std::string& conflict_code);
    // A request under an Idempotency-Key: the key with this request's fingerprint, this
    // request's hold on it, and the problem codes its route gives a domain not_found and
    // conflict.
    struct Keyed {
        domain::RequestKey key;
        std::shared_ptr<KeyClaims::Hold> hold;
        std::string not_found_code;
        std::string conflict_code;
    };
    void on_key_looked_up(const Keyed& keyed,
                          const Call& call,
                          const Start& start,
                          Result<std::optional<domain::TransactionId>> found);
    void replay(const Keyed& keyed, const Call& call, const domain::TransactionId& transaction);
    void on_started(const Keyed& keyed, const Call& call, ViewResult result);
    // True when the view shows `keyed`'s key taken by another request than this one.
    static bool is_reused(const Keyed& keyed, const domain::TransactionView& view);
    void answer_when_final(const http::Responder& responder,
                           domain::TransactionView seen,
                           std::optional<Principal> viewer = std::nullopt);

    // Fetches the view visible to `principal`: another party's transaction is not_found.
    void visible_view(const Principal& principal, const std::string& id, ViewCallback done);
    // Calls `done` with the view once `ready(view)` holds or `deadline` passes. A transaction
    // another node runs is not heard through the change feed: it is read again after `poll`,
    // then after twice that, up to remote_poll_max.
    void await_view(const std::string& id,
                    std::function<bool(const domain::TransactionView&)> ready,
                    std::chrono::steady_clock::time_point deadline,
                    ViewCallback done,
                    std::chrono::milliseconds poll = remote_poll_first);
    static constexpr std::chrono::milliseconds remote_poll_first{5};
    static constexpr std::chrono::milliseconds remote_poll_max{160};
    static constexpr std::chrono::milliseconds local_wait_max{1'000};

    domain::PaymentFlows& flows_;
    const TokenSigner& signer_;
    const Clock& clock_;
    ChangeFeed& feed_;
    ApiOptions options_;
    KeyClaims claims_;
    CodeLimiter code_limiter_;
};

// Who may see a transaction: its consumer, its merchant, and an admin. Anyone else is answered
// 404, never 403, so ids cannot be probed.
bool is_visible_to(const Principal& principal, const domain::TransactionState& state);

// Sends a problem+json response.
void respond_problem(const http::Responder& responder, const Problem& problem);

}  // namespace qrpay::api
