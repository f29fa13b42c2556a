#include "api/payment_api.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "api/qr.h"
#include "api/requests.h"
#include "api/views.h"
#include "base/log.h"

namespace qrpay::api {
namespace {

using domain::TransactionView;
using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view transactions_prefix = "/v1/transactions/";
std::string persistence_id_of(const std::string& transaction_id) {
    return journal::persistence_id_of(domain::Transaction::type_name, transaction_id);
}

void respond_json(const http::Responder& responder, int status, std::string body) {
    responder(http::Response::json(status, std::move(body)));
}

Problem problem_for(const Status& status,
                    const std::string& not_found_code,
                    const std::string& conflict_code) {
    Problem problem = problem_from(status, conflict_code);
    if (status.code() == Errc::not_found) {
        problem.code = not_found_code;
    }
    return problem;
}

// Failures after which nothing of the request was stored.
bool surely_not_stored(Errc code) {
    return code == Errc::unavailable || code == Errc::unreachable || code == Errc::io_error ||
           code == Errc::fenced || code == Errc::not_owner;
}

// The answer to a request whose command was taken: the transaction, 200 once final, else 202.
// `latest` fails when the entity could not be read again: the journal lost a later write of it
// (the agency's answer, say), and it must be read back before it answers. The request was
// taken all the same and the payment goes on by itself once the journal takes writes again, so
// the answer is `seen`, the last state this request saw, never a 503 that says nothing changed.
const TransactionView& taken_view(const Result<TransactionView>& latest,
                                  const TransactionView& seen) {
    return latest.ok() ? *latest : seen;
}

void respond_taken(const http::Responder& responder, const TransactionView& view) {
    respond_json(responder, is_final(view.state) ? 200 : 202, transaction_json(view));
}

// Parses a non-negative decimal integer query value; nullopt for anything else.
std::optional<std::uint64_t> parse_count(std::string_view text) {
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

bool is_visible_to(const Principal& principal, const domain::TransactionState& state) {
    return principal.role == Role::admin ||
           (principal.role == Role::consumer && state.consumer_id.value == principal.subject) ||
           (principal.role == Role::merchant && state.merchant_id.value == principal.subject);
}

void respond_problem(const http::Responder& responder, const Problem& problem) {
    responder(to_response(problem));
}

PaymentApi::PaymentApi(domain::PaymentFlows& flows,
                       const TokenSigner& signer,
                       const Clock& clock,
                       ChangeFeed& feed,
                       ApiOptions options)
    : flows_(flows),
      signer_(signer),
      clock_(clock),
      feed_(feed),
      options_(options),
      code_limiter_(options.code_limits) {}

void PaymentApi::handle(http::Request request, http::Responder responder) {
    auto principal = signer_.verify_bearer(request.header("Authorization"), clock_.wall_now());
    if (!principal.ok()) {
        respond_problem(responder, make_problem(401, "unauthorized", principal.status().message()));
        return;
    }
    route(Call{std::move(request), std::move(responder), *principal});
}

void PaymentApi::route(Call call) {
    const std::string path = call.request.path;
    const std::string& method = call.request.method;
    if (path == "/v1/payment-codes" && method == "POST") {
        create_code(std::move(call));
    } else if (path == "/v1/payments" && method == "POST") {
        pay(std::move(call));
    } else if (path.starts_with(transactions_prefix)) {
        route_transaction(std::move(call), path.substr(transactions_prefix.size()));
    } else if (path == "/v1/payment-codes" || path == "/v1/payments") {
        respond_problem(call.responder, make_problem(405, "method_not_allowed", "use POST"));
    } else {
        respond_problem(call.responder, make_problem(404, "not_found", "no such route"));
    }
}

void PaymentApi::route_transaction(Call call, const std::string& rest) {
    auto slash = rest.find('/');
    std::string id = rest.substr(0, slash);
    std::string tail = slash == std::string::npos ? "" : rest.substr(slash);
    const std::string& method = call.request.method;
    if (!domain::is_well_formed_transaction_id(id)) {
        respond_problem(call.responder,
                        make_problem(404, "transaction_not_found", "no such transaction"));
    } else if (tail.empty() && method == "GET") {
        get_transaction(std::move(call), id);
    } else if ((tail == "/qr.svg" || tail == "/qr.png") && method == "GET") {
        get_qr(std::move(call), id, tail == "/qr.png");
    } else if (tail == "/cancel" && method == "POST") {
        cancel(std::move(call), id);
    } else if (tail.empty() || tail == "/qr.svg" || tail == "/qr.png" || tail == "/cancel") {
        respond_problem(call.responder,
                        make_problem(405, "method_not_allowed", "method not allowed here"));
    } else {
        respond_problem(call.responder, make_problem(404, "not_found", "no such route"));
    }
}

void PaymentApi::create_code(Call call) {
    if (call.principal.role != Role::consumer) {
        respond_problem(call.responder,
                        make_problem(403, "forbidden", "only consumers create payment codes"));
        return;
    }
    if (auto problem = check_empty_body(call.request.body)) {
        respond_problem(call.responder, *problem);
        return;
    }
    if (auto problem = refused_by_limits(call.principal.subject)) {
        respond_problem(call.responder, *problem);
        return;
    }
    flows_.issue_code(
        domain::ConsumerId{call.principal.subject},
        [this, consumer = call.principal.subject, responder = call.responder](ViewResult view) {
            if (!view.ok()) {
                if (surely_not_stored(view.status().code())) {
                    code_limiter_.give_back(consumer);
                }
                respond_problem(responder, problem_from(view.status()));
                return;
            }
            const std::string& id = view->transaction_id.value;
            nlohmann::json body = {
                {"transaction_id", id},
                {"code", view->state.code.reveal()},
                {"expires_at", rfc3339(view->state.expires_at)},
                {"qr_svg", std::string(transactions_prefix) + id + "/qr.svg"},
                {"qr_png", std::string(transactions_prefix) + id + "/qr.png"},
            };
            respond_json(responder, 201, body.dump());
        });
}

std::optional<Problem> PaymentApi::refused_by_limits(const std::string& consumer) {
    CodeLimiter::Decision decision = code_limiter_.take(consumer, clock_.monotonic_now());
    const CodeLimits& limits = code_limiter_.limits();
    Problem problem;
    switch (decision.verdict) {
        case CodeLimiter::Verdict::allowed:
            return std::nullopt;
        case CodeLimiter::Verdict::rate_exceeded:
            problem = make_problem(429, "code_rate_exceeded",
                                   "at most " + std::to_string(limits.burst_max) +
                                       " codes at once, then one every " +
                                       std::to_string(limits.refill_interval.count()) + " ms");
            break;
        case CodeLimiter::Verdict::open_codes_exceeded:
            problem = make_problem(429, "open_codes_exceeded",
                                   "at most " + std::to_string(limits.open_codes_max) +
                                       " codes within one code lifetime");
            break;
        case CodeLimiter::Verdict::too_many_subjects:
            problem = make_problem(503, "unavailable", "too many consumers asking for codes");
            break;
    }
    problem.retry_after_s = static_cast<int>(decision.retry_after.count());
    return problem;
}

void PaymentApi::visible_view(const Principal& principal,
                              const std::string& id,
                              ViewCallback done) {
    flows_.get(domain::TransactionId{id}, [principal, done = std::move(done)](ViewResult view) {
        if (!view.ok()) {
            done(view.status());
            return;
        }
        if (!is_visible_to(principal, view->state)) {
            done(Status(Errc::not_found, "no such transaction"));
            return;
        }
        done(std::move(view));
    });
}

void PaymentApi::get_transaction(Call call, const std::string& id) {
    std::string_view wait_text = call.request.query_param("wait");
    std::string_view after_text = call.request.query_param("after_version");
    std::optional<std::uint64_t> wait_s = wait_text.empty() ? 0 : parse_count(wait_text);
    std::optional<std::uint64_t> after = after_text.empty() ? 0 : parse_count(after_text);
    if (!wait_s || *wait_s > static_cast<std::uint64_t>(options_.long_poll_wait_s_max) || !after) {
        respond_problem(
            call.responder,
            make_problem(422, "invalid_query",
                         "wait must be 0 to " + std::to_string(options_.long_poll_wait_s_max) +
                             " seconds and after_version a non-negative integer"));
        return;
    }
    auto deadline = clock_.monotonic_now() + std::chrono::seconds(*wait_s);
    SequenceNr after_version(*after);
    visible_view(call.principal, id,
                 [this, id, deadline, after_version, responder = call.responder](ViewResult view) {
                     if (!view.ok()) {
                         respond_problem(
                             responder,
                             problem_for(view.status(), "transaction_not_found", "conflict"));
                         return;
                     }
                     await_view(
                         id,
                         [after_version](const TransactionView& seen) {
                             return seen.version > after_version;
                         },
                         deadline,
                         [responder](ViewResult latest) {
                             if (!latest.ok()) {
                                 respond_problem(responder, problem_from(latest.status()));
                                 return;
                             }
                             respond_json(responder, 200, transaction_json(*latest));
                         });
                 });
}

void PaymentApi::get_qr(Call call, const std::string& id, bool png) {
    Principal principal = call.principal;
    if (principal.role != Role::consumer) {  // the QR is the consumer's secret to show
        respond_problem(call.responder,
                        make_problem(404, "transaction_not_found", "no such transaction"));
        return;
    }
    visible_view(principal, id, [png, responder = call.responder](ViewResult view) {
        if (!view.ok()) {
            respond_problem(responder,
                            problem_for(view.status(), "transaction_not_found", "conflict"));
            return;
        }
        const std::string& code = view->state.code.reveal();
        auto image = png ? qr_png(code) : qr_svg(code);
        if (!image.ok()) {
            respond_problem(responder, problem_from(image.status()));
            return;
        }
        http::Response response;
        response.headers["Content-Type"] = png ? "image/png" : "image/svg+xml";
        response.headers["Cache-Control"] = "no-store";
        response.body = std::move(image).value();
        responder(std::move(response));
    });
}

void PaymentApi::pay(Call call) {
    if (call.principal.role != Role::merchant) {
        respond_problem(call.responder, make_problem(403, "forbidden", "only merchants pay"));
        return;
    }
    auto parsed = parse_pay_request(call.request.body);
    if (auto* problem = std::get_if<Problem>(&parsed)) {
        respond_problem(call.responder, *problem);
        return;
    }
    PayRequest request = std::get<PayRequest>(std::move(parsed));
    domain::MerchantId merchant{call.principal.subject};
    std::string canonical = request.canonical_body;
    Start start = [this, merchant, request = std::move(request)](const domain::RequestKey& key,
                                                                 ViewCallback done) {
        flows_.pay(merchant, request.code, request.amount, request.order_id, key, std::move(done));
    };
    run_idempotent(std::move(call), canonical, std::move(start), "code_not_found",
                   "code_already_read");
}

void PaymentApi::cancel(Call call, const std::string& id) {
    if (call.principal.role != Role::merchant) {
        respond_problem(call.responder,
                        make_problem(404, "transaction_not_found", "no such transaction"));
        return;
    }
    if (auto problem = check_empty_body(call.request.body)) {
        respond_problem(call.responder, *problem);
        return;
    }
    domain::MerchantId merchant{call.principal.subject};
    Start start = [this, merchant, id](const domain::RequestKey& key, ViewCallback done) {
        flows_.cancel(merchant, domain::TransactionId{id}, key, std::move(done));
    };
    run_idempotent(std::move(call), "cancel " + id, std::move(start), "transaction_not_found",
                   "not_cancellable");
}

void PaymentApi::run_idempotent(Call call,
                                const std::string& canonical_body,
                                Start start,
                                const std::string& not_found_code,
                                const std::string& conflict_code) {
    std::string key(call.request.header("Idempotency-Key"));
    if (key.empty()) {
        start(domain::RequestKey{}, [this, call, not_found_code, conflict_code](ViewResult result) {
            if (!result.ok()) {
                respond_problem(call.responder,
                                problem_for(result.status(), not_found_code, conflict_code));
                return;
            }
            answer_when_final(call.responder, *result);
        });
        return;
    }
    if (auto problem = check_idempotency_key(key)) {
        respond_problem(call.responder, *problem);
        return;
    }
    domain::MerchantId merchant{call.principal.subject};
    std::shared_ptr<KeyClaims::Hold> hold =
        claims_.try_hold(domain::request_key_claim(merchant, key));
    if (!hold) {
        respond_problem(call.responder,
                        make_problem(409, "idempotency_key_in_flight",
                                     "a request with this Idempotency-Key is being answered"));
        return;
    }
    // The fingerprint covers the merchant as well as the request, although the key's scope
    // does.
    std::string hash =
        request_hash(call.principal.subject + "\n" + call.request.method + " " + call.request.path,
                     canonical_body);
    Keyed keyed{.key = {.key = key, .request_hash = std::move(hash)},
                .hold = std::move(hold),
                .not_found_code = not_found_code,
                .conflict_code = conflict_code};
    flows_.find_by_request_key(
        merchant, key,
        [this, keyed = std::move(keyed), call = std::move(call),
         start = std::move(start)](Result<std::optional<domain::TransactionId>> found) {
            on_key_looked_up(keyed, call, start, std::move(found));
        });
}

// A key not taken yet runs the request; a taken one answers again what it was taken by.
void PaymentApi::on_key_looked_up(const Keyed& keyed,
                                  const Call& call,
                                  const Start& start,
                                  Result<std::optional<domain::TransactionId>> found) {
    if (!found.ok()) {
        keyed.hold->release();
        respond_problem(call.responder, problem_from(found.status()));
        return;
    }
    if (*found) {
        replay(keyed, call, **found);
        return;
    }
    start(keyed.key,
          [this, keyed, call](ViewResult result) { on_started(keyed, call, std::move(result)); });
}

// The request that took the key, answered again with a direct read's visibility check, so a
// key can never show another party's payment; another request under the key is refused.
void PaymentApi::replay(const Keyed& keyed,
                        const Call& call,
                        const domain::TransactionId& transaction) {
    flows_.get(transaction, [this, keyed, call](ViewResult view) {
        keyed.hold->release();  // this request is done with the key: before the answer goes out
        if (!view.ok()) {
            respond_problem(call.responder, problem_from(view.status()));
        } else if (is_reused(keyed, *view)) {
            respond_problem(call.responder,
                            make_problem(422, "idempotency_key_reused",
                                         "Idempotency-Key was used with a different request"));
        } else {
            answer_when_final(call.responder, *view, call.principal);
        }
    });
}

bool PaymentApi::is_reused(const Keyed& keyed, const domain::TransactionView& view) {
    const domain::TransactionState& state = view.state;
    const std::string* taken_by = nullptr;
    if (state.pay_request_key == keyed.key.key) {
        taken_by = &state.pay_request_hash;
    } else if (state.cancel_request_key == keyed.key.key) {
        taken_by = &state.cancel_request_hash;
    }
    return taken_by != nullptr && !taken_by->empty() && *taken_by != keyed.key.request_hash;
}

// The request ran: its answer once final or after pay_wait_max. The hold is given back before
// the answer goes out, so a retry sent after the answer never meets it.
void PaymentApi::on_started(const Keyed& keyed, const Call& call, ViewResult result) {
    if (!result.ok()) {
        keyed.hold->release();
        respond_problem(call.responder,
                        problem_for(result.status(), keyed.not_found_code, keyed.conflict_code));
        return;
    }
    if (is_reused(keyed, *result)) {  // the key's earlier request, met through the domain
        keyed.hold->release();
        respond_problem(call.responder,
                        make_problem(422, "idempotency_key_reused",
                                     "Idempotency-Key was used with a different request"));
        return;
    }
    const std::string id = result->transaction_id.value;  // a copy: `result` moves below
    await_view(
        id, [](const TransactionView& view) { return is_final(view.state); },
        clock_.monotonic_now() + options_.pay_wait_max,
        [keyed, responder = call.responder, started = std::move(*result)](const ViewResult& view) {
            keyed.hold->release();
            respond_taken(responder, taken_view(view, started));
        });
}

// Answers with the transaction once final (200) or after pay_wait_max (202), `seen` when it
// cannot be read again (taken_view). With a `viewer`, another party's transaction is 404, as
// on a direct read.
void PaymentApi::answer_when_final(const http::Responder& responder,
                                   TransactionView seen,
                                   std::optional<Principal> viewer) {
    const std::string id = seen.transaction_id.value;  // a copy: `seen` moves below
    await_view(
        id, [](const TransactionView& view) { return is_final(view.state); },
        clock_.monotonic_now() + options_.pay_wait_max,
        [responder, seen = std::move(seen), viewer = std::move(viewer)](const ViewResult& view) {
            const TransactionView& answer = taken_view(view, seen);
            if (viewer && !is_visible_to(*viewer, answer.state)) {
                respond_problem(responder,
                                make_problem(404, "transaction_not_found", "no such transaction"));
                return;
            }
            respond_taken(responder, answer);
        });
}

// Reads the view; while `ready` does not hold and the deadline is ahead, waits for the entity
// to persist a newer version and reads again. Each round registers the waiter before the
// second read, so a change between read and registration is never missed.
void PaymentApi::await_view(const std::string& id,
                            std::function<bool(const TransactionView&)> ready,
                            SteadyClock::time_point deadline,
                            ViewCallback done,
                            std::chrono::milliseconds poll) {
    flows_.get(domain::TransactionId{id}, [this, id, ready = std::move(ready), deadline,
                                           done = std::move(done), poll](ViewResult view) mutable {
        auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - clock_.monotonic_now());
        if (!view.ok() || ready(*view) || remaining.count() <= 0) {
            done(std::move(view));
            return;
        }
        // Heard here, a change fires the waiter; it still wakes every local_wait_max in case
        // the transaction's shard moves to another node meanwhile.
        const bool heard_here = flows_.runs_here(domain::TransactionId{id});
        const auto timeout = std::min(remaining, heard_here ? local_wait_max : poll);
        // The feed's timers run on real time, whatever clock_ is.
        const auto fires_at = std::chrono::steady_clock::now() + timeout;
        SequenceNr seen = view->version;
        std::string pid = persistence_id_of(id);
        auto waiter = feed_.wait(
            pid, seen, timeout,
            [this, id, ready, deadline, done, poll, fires_at](bool changed) mutable {
                // Past the deadline, or fired before its time: the feed is stopping.
                const bool early =
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(1) < fires_at;
                if (!changed && (clock_.monotonic_now() >= deadline || early)) {
                    flows_.get(domain::TransactionId{id}, std::move(done));
                    return;
                }
                await_view(id, std::move(ready), deadline, std::move(done),
                           std::min(poll * 2, remote_poll_max));
            });
        if (!waiter.ok()) {
            done(std::move(view));  // too many waiters: answer with what is known now
            return;
        }
        flows_.get(domain::TransactionId{id},
                   [this, pid, seen, waiter_id = *waiter](ViewResult again) {
                       if (again.ok() && again->version > seen) {
                           feed_.fire_now(pid, waiter_id);
                       }
                   });
    });
}

}  // namespace qrpay::api
