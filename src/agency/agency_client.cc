#include "agency/agency_client.h"

#include "agency/wire.h"
#include "base/log.h"
#include "http/client.h"

namespace qrpay::agency {
namespace {

using domain::AgencyOutcome;
using domain::AgencyVerdict;
using wire::Json;

enum class Operation { pay, inquire, reverse };

AgencyOutcome unknown(std::string reason) {
    return {AgencyVerdict::unknown, "", std::move(reason)};
}

std::string member_or_empty(const Json& body, const char* name) {
    auto value = wire::string_member(body, name);
    return value.ok() ? std::move(*value) : std::string();
}

// 400/422 problems: the agency looked at the request and refused it; nothing was done for it.
AgencyOutcome refused(const http::Response& response) {
    auto body = wire::parse_object(response.body);
    std::string detail = body.ok() ? member_or_empty(*body, "detail") : response.body;
    QRPAY_LOG_WARN("agency refused a request (HTTP %d): %s", response.status, detail.c_str());
    return {AgencyVerdict::declined, "", "refused by the agency: " + detail};
}

// A 2xx/402/409 answer whose body says "approved", "reversed" or "declined".
AgencyOutcome from_status_body(const http::Response& response, Operation operation) {
    auto body = wire::parse_object(response.body);
    if (!body.ok()) {
        return unknown("unparsable agency answer (HTTP " + std::to_string(response.status) + ")");
    }
    std::string status = member_or_empty(*body, "status");
    std::string reference = member_or_empty(*body, "reference");
    int code = response.status;
    bool approved_status = (operation == Operation::pay && status == "approved") ||
                           (operation == Operation::inquire && status == "approved") ||
                           (operation != Operation::pay && status == "reversed");
    if (code == 200 && approved_status) {
        return {AgencyVerdict::approved, reference, status == "reversed" ? "reversed" : ""};
    }
    bool decline_code = (operation == Operation::pay && (code == 200 || code == 402)) ||
                        (operation == Operation::inquire && code == 200) ||
                        (operation == Operation::reverse && code == 409);
    if (decline_code && status == "declined") {
        return {AgencyVerdict::declined, "", member_or_empty(*body, "reason")};
    }
    return unknown("unexpected agency answer: HTTP " + std::to_string(code) + " status '" + status +
                   "'");
}

AgencyOutcome interpret(const Result<http::Response>& result, Operation operation) {
    if (!result.ok()) {
        return unknown(result.status().to_string());  // timeout, not sent, connection lost
    }
    const http::Response& response = *result;
    if (operation == Operation::inquire && response.status == 404) {
        return {AgencyVerdict::not_found, "", "the agency has no payment with this key"};
    }
    if (response.status == 400 || response.status == 422) {
        return refused(response);
    }
    if (response.status == 200 || response.status == 402 || response.status == 409) {
        return from_status_body(response, operation);
    }
    return unknown("agency answered HTTP " + std::to_string(response.status));
}

http::Client::Done interpret_then(Operation operation, domain::AgencyPort::Done done) {
    return [operation, done = std::move(done)](Result<http::Response> result) {
        done(interpret(result, operation));
    };
}

std::string key_path(const std::string& idempotency_key) {
    return std::string(wire::payments_path) + "/" + http::url_encode_component(idempotency_key);
}

}  // namespace

Result<std::unique_ptr<AgencyClient>> AgencyClient::open(const AgencyClientOptions& options) {
    auto http = http::Client::open({.base_url = options.base_url,
                                    .connect_timeout = options.connect_timeout,
                                    .response_timeout = options.response_timeout,
                                    .connections_max = options.connections_max,
                                    .calls_waiting_max = options.calls_waiting_max});
    if (!http.ok()) {
        return http.status();
    }
    return std::unique_ptr<AgencyClient>(new AgencyClient(std::move(*http)));
}

AgencyClient::AgencyClient(std::unique_ptr<http::Client> http) : http_(std::move(http)) {}

AgencyClient::~AgencyClient() { http_->stop(); }

void AgencyClient::pay(const domain::AgencyPayment& payment, Done done) {
    Json body{{"idempotency_key", payment.idempotency_key},
              {"merchant_id", payment.merchant_id},
              {"order_id", payment.order_id},
              {"amount", wire::money_to_json(payment.amount)}};
    http_->call_async({.method = "POST",
                       .path = std::string(wire::payments_path),
                       .headers = {{"Idempotency-Key", payment.idempotency_key}},
                       .body = wire::to_text(body)},
                      interpret_then(Operation::pay, std::move(done)));
}

void AgencyClient::inquire(const std::string& idempotency_key, Done done) {
    http_->call_async({.method = "GET",
                       .path = key_path(idempotency_key),
                       .headers = {{"Idempotency-Key", idempotency_key}}},
                      interpret_then(Operation::inquire, std::move(done)));
}

void AgencyClient::reverse(const domain::AgencyReversal& reversal, Done done) {
    Json body{{"idempotency_key", reversal.idempotency_key},
              {"merchant_id", reversal.merchant_id},
              {"amount", wire::money_to_json(reversal.amount)}};
    http_->call_async(
        {.method = "POST",
         .path = key_path(reversal.idempotency_key) + std::string(wire::reversal_suffix),
         .headers = {{"Idempotency-Key", reversal.idempotency_key}},
         .body = wire::to_text(body)},
        interpret_then(Operation::reverse, std::move(done)));
}

}  // namespace qrpay::agency
