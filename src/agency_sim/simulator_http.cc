#include "agency_sim/simulator_http.h"

#include <string_view>

#include "agency/wire.h"
#include "base/log.h"

namespace qrpay::agency_sim {
namespace {

namespace wire = agency::wire;
using wire::Json;

enum class Operation { pay, inquire, reverse };

http::Response problem(int status, std::string_view title, std::string_view detail) {
    http::Response response;
    response.status = status;
    response.headers.emplace("Content-Type", std::string(wire::problem_content_type));
    response.body = wire::problem_body(status, title, detail);
    return response;
}

http::Response json(int status, const Json& body) {
    return http::Response::json(status, wire::to_text(body));
}

Json record_json(const SimOutcome& outcome, std::string_view status) {
    Json body{{"status", std::string(status)},
              {"reference", outcome.reference},
              {"reason", outcome.reason}};
    if (outcome.record) {
        body["idempotency_key"] = outcome.record->idempotency_key;
        body["merchant_id"] = outcome.record->merchant_id;
        body["order_id"] = outcome.record->order_id;
        body["amount"] = wire::money_to_json(outcome.record->amount);
    }
    return body;
}

http::Response success_response(const SimOutcome& outcome, Operation operation) {
    switch (outcome.verdict) {
        case SimVerdict::approved:
            return json(200, record_json(outcome, "approved"));
        case SimVerdict::declined:
            if (operation == Operation::inquire) {
                return json(200, record_json(outcome, "declined"));
            }
            return json(operation == Operation::pay ? 402 : 409,
                        Json{{"status", "declined"}, {"reason", outcome.reason}});
        case SimVerdict::reversed:
            return json(200, record_json(outcome, "reversed"));
        default:
            QRPAY_ASSERT(false, "not a success verdict");
            return problem(500, "Internal Server Error", "");
    }
}

http::Response to_response(const SimOutcome& outcome, Operation operation) {
    switch (outcome.verdict) {
        case SimVerdict::approved:
        case SimVerdict::declined:
        case SimVerdict::reversed:
            return success_response(outcome, operation);
        case SimVerdict::not_found:
            return problem(404, "Not Found", outcome.reason);
        case SimVerdict::invalid:
            return problem(422, "Unprocessable Content", outcome.reason);
        case SimVerdict::conflict:
            return problem(422, "Unprocessable Content", outcome.reason);
        case SimVerdict::server_error:
            return problem(500, "Internal Server Error", outcome.reason);
        case SimVerdict::unavailable: {
            http::Response response = problem(503, "Service Unavailable", outcome.reason);
            response.headers.emplace("Retry-After", "1");
            return response;
        }
    }
    return problem(500, "Internal Server Error", "unknown verdict");
}

Simulator::Done answer_with(http::Responder responder, Operation operation) {
    return [responder = std::move(responder), operation](SimOutcome outcome) {
        (void)responder(to_response(outcome, operation));
    };
}

// The key of the request: from the path when it has one, else from the body; a header or body
// key that differs is refused. Errors: invalid_argument (-> 400).
Result<std::string> request_key(const http::Request& request,
                                const Json& body,
                                const std::string& path_key) {
    std::string key = path_key;
    auto body_key = body.find("idempotency_key");
    if (body_key != body.end()) {
        if (!body_key->is_string()) {
            return Status(Errc::invalid_argument, "idempotency_key must be a string");
        }
        if (key.empty()) {
            key = body_key->get<std::string>();
        } else if (key != body_key->get<std::string>()) {
            return Status(Errc::invalid_argument, "idempotency_key differs from the path");
        }
    }
    if (key.empty()) {
        return Status(Errc::invalid_argument, "missing string field 'idempotency_key'");
    }
    std::string_view header = request.header("Idempotency-Key");
    if (!header.empty() && header != key) {
        return Status(Errc::invalid_argument, "Idempotency-Key header differs from the body");
    }
    return key;
}

Result<domain::AgencyPayment> parse_payment(const http::Request& request) {
    auto body = wire::parse_object(request.body);
    if (!body.ok()) {
        return body.status();
    }
    auto key = request_key(request, *body, "");
    auto merchant = wire::string_member(*body, "merchant_id");
    auto order = wire::string_member(*body, "order_id");
    auto amount = wire::money_member(*body, "amount");
    for (const Status* status :
         {&key.status(), &merchant.status(), &order.status(), &amount.status()}) {
        if (!status->ok()) {
            return *status;
        }
    }
    return domain::AgencyPayment{.idempotency_key = std::move(*key),
                                 .merchant_id = std::move(*merchant),
                                 .amount = std::move(*amount),
                                 .order_id = std::move(*order)};
}

Result<domain::AgencyReversal> parse_reversal(const http::Request& request,
                                              const std::string& path_key) {
    auto body = wire::parse_object(request.body);
    if (!body.ok()) {
        return body.status();
    }
    auto key = request_key(request, *body, path_key);
    auto merchant = wire::string_member(*body, "merchant_id");
    auto amount = wire::money_member(*body, "amount");
    for (const Status* status : {&key.status(), &merchant.status(), &amount.status()}) {
        if (!status->ok()) {
            return *status;
        }
    }
    return domain::AgencyReversal{.idempotency_key = std::move(*key),
                                  .merchant_id = std::move(*merchant),
                                  .amount = std::move(*amount)};
}

// GET /ledger. A problem here carries a machine `code` besides RFC 9457's members:
// amount_overflow (422) when a balance does not fit in 64 bits, ledger_failed (500) when the
// ledger cannot be read.
http::Response ledger_response(Simulator& simulator) {
    auto balances = simulator.ledger();
    if (!balances.ok()) {
        bool overflow = balances.status().code() == Errc::invalid_argument;
        return http::problem_response(overflow ? 422 : 500,
                                      overflow ? "amount_overflow" : "ledger_failed",
                                      balances.status().message());
    }
    Json rows = Json::array();
    for (const LedgerBalance& balance : *balances) {
        rows.push_back(Json{{"merchant_id", balance.merchant_id},
                            {"currency", balance.currency},
                            {"captured_minor", balance.captured_minor},
                            {"reversed_minor", balance.reversed_minor},
                            {"net_minor", balance.net_minor},
                            {"captured_count", balance.captured_count},
                            {"reversed_count", balance.reversed_count}});
    }
    return json(200, Json{{"balances", std::move(rows)}});
}

http::Response method_not_allowed(std::string_view allowed) {
    http::Response response = problem(405, "Method Not Allowed", "");
    response.headers.emplace("Allow", std::string(allowed));
    return response;
}

// /v1/payments/<percent-encoded key>[/reversal]
void route_payment_key(Simulator& simulator,
                       const http::Request& request,
                       http::Responder responder) {
    std::string_view rest = std::string_view(request.path).substr(wire::payments_path.size() + 1);
    bool reversal = rest.ends_with(wire::reversal_suffix);
    if (reversal) {
        rest.remove_suffix(wire::reversal_suffix.size());
    }
    if (rest.empty() || rest.find('/') != std::string_view::npos) {
        responder(problem(404, "Not Found", "no such resource"));
        return;
    }
    auto key = http::url_decode(rest, false);
    if (!key.ok()) {
        responder(problem(400, "Bad Request", key.status().message()));
        return;
    }
    if (reversal) {
        if (request.method != "POST") {
            responder(method_not_allowed("POST"));
            return;
        }
        auto parsed = parse_reversal(request, *key);
        if (!parsed.ok()) {
            responder(problem(400, "Bad Request", parsed.status().message()));
            return;
        }
        simulator.reverse(*parsed, answer_with(std::move(responder), Operation::reverse));
        return;
    }
    if (request.method != "GET") {
        responder(method_not_allowed("GET"));
        return;
    }
    std::string_view header = request.header("Idempotency-Key");
    if (!header.empty() && header != *key) {
        responder(problem(400, "Bad Request", "Idempotency-Key header differs from the path"));
        return;
    }
    simulator.inquire(*key, answer_with(std::move(responder), Operation::inquire));
}

void route(Simulator& simulator, const http::Request& request, http::Responder responder) {
    const std::string& path = request.path;
    if (path == "/healthz" || path == "/ledger") {
        if (request.method != "GET") {
            responder(method_not_allowed("GET"));
        } else if (path == "/healthz") {
            responder(json(200, Json{{"status", "ok"}}));
        } else {
            responder(ledger_response(simulator));
        }
        return;
    }
    if (path == wire::payments_path) {
        if (request.method != "POST") {
            responder(method_not_allowed("POST"));
            return;
        }
        auto payment = parse_payment(request);
        if (!payment.ok()) {
            responder(problem(400, "Bad Request", payment.status().message()));
            return;
        }
        simulator.pay(*payment, answer_with(std::move(responder), Operation::pay));
        return;
    }
    if (path.starts_with(std::string(wire::payments_path) + "/")) {
        route_payment_key(simulator, request, std::move(responder));
        return;
    }
    responder(problem(404, "Not Found", "no such resource"));
}

}  // namespace

http::Handler make_simulator_handler(Simulator& simulator) {
    return [&simulator](http::Request request, http::Responder responder) {
        route(simulator, request, std::move(responder));
    };
}

Result<std::unique_ptr<http::Server>> serve_simulator(Simulator& simulator,
                                                      const http::ServerOptions& options) {
    return http::Server::start(options, make_simulator_handler(simulator));
}

}  // namespace qrpay::agency_sim
