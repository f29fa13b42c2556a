#include "api/requests.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>

#include "base/sha256.h"

namespace qrpay::api {
namespace {

using Json = nlohmann::json;

Problem invalid(std::string code, std::string detail) {
    return make_problem(422, std::move(code), std::move(detail));
}

std::optional<Problem> check_fields(const Json& body,
                                    const std::set<std::string>& allowed,
                                    const std::set<std::string>& required) {
    for (const auto& item : body.items()) {
        if (!allowed.contains(item.key())) {
            return invalid("unknown_field", "unknown field '" + item.key() + "'");
        }
    }
    for (const auto& name : required) {
        if (!body.contains(name)) {
            return invalid("missing_field", "missing field '" + name + "'");
        }
    }
    return std::nullopt;
}

Parsed<Money> parse_amount(const Json& amount) {
    if (!amount.is_object()) {
        return invalid("invalid_field", "amount must be an object {value, currency}");
    }
    if (auto problem = check_fields(amount, {"value", "currency"}, {"value"})) {
        return *problem;
    }
    const Json& value = amount["value"];
    if (!value.is_number_integer()) {
        return invalid("invalid_amount", "amount.value must be an integer in minor units");
    }
    if (value.is_number_unsigned() && value.get<std::uint64_t>() > amount_minor_max) {
        return invalid("invalid_amount", "amount.value is too large");
    }
    std::int64_t minor = value.get<std::int64_t>();
    if (minor <= 0 || minor > amount_minor_max) {
        return invalid("invalid_amount", "amount.value must be between 1 and 2^53-1");
    }
    std::string currency = "JPY";
    if (amount.contains("currency")) {
        if (!amount["currency"].is_string()) {
            return invalid("invalid_field", "amount.currency must be a string");
        }
        currency = amount["currency"].get<std::string>();
    }
    if (!is_iso4217_currency(currency)) {
        return invalid("unknown_currency", "amount.currency is not an ISO 4217 code");
    }
    return Money{minor, currency};
}

Parsed<Json> parse_object(const std::string& body) {
    Json json = Json::parse(body, nullptr, false);
    if (json.is_discarded()) {
        return make_problem(400, "malformed_json", "the body is not valid JSON");
    }
    if (!json.is_object()) {
        return make_problem(422, "invalid_body", "the body must be a JSON object");
    }
    return json;
}

}  // namespace

bool is_printable_token(std::string_view text) {
    return std::ranges::all_of(text, [](char c) { return c >= 0x21 && c <= 0x7e; });
}

Parsed<PayRequest> parse_pay_request(const std::string& body) {
    auto parsed = parse_object(body);
    if (auto* problem = std::get_if<Problem>(&parsed)) {
        return *problem;
    }
    const Json& json = std::get<Json>(parsed);
    if (auto problem = check_fields(json, {"code", "amount", "order_id"}, {"code", "amount"})) {
        return *problem;
    }
    PayRequest request;
    if (!json["code"].is_string()) {
        return invalid("invalid_field", "code must be a string");
    }
    request.code = json["code"].get<std::string>();
    if (request.code.size() != payment_code_digits ||
        request.code.find_first_not_of("0123456789") != std::string::npos) {
        return invalid("invalid_code", "code must be 20 decimal digits");
    }
    auto amount = parse_amount(json["amount"]);
    if (auto* problem = std::get_if<Problem>(&amount)) {
        return *problem;
    }
    request.amount = std::get<Money>(amount);
    if (json.contains("order_id")) {
        if (!json["order_id"].is_string()) {
            return invalid("invalid_field", "order_id must be a string");
        }
        request.order_id = json["order_id"].get<std::string>();
        // Checked here, as the agency checks it, so that an order id it would refuse never
        // gets as far as reading (and so using up) the consumer's code. "" means none.
        if (request.order_id.size() > order_id_bytes_max || !is_printable_token(request.order_id)) {
            return invalid("invalid_field",
                           "order_id must be at most 64 printable ASCII characters, no spaces");
        }
    }
    request.canonical_body = Json{
        {"code", request.code},
        {"amount", {{"value", request.amount.amount_minor}, {"currency", request.amount.currency}}},
        {"order_id",
         request.order_id}}.dump();
    return request;
}

std::optional<Problem> check_empty_body(const std::string& body) {
    if (body.empty()) {
        return std::nullopt;
    }
    auto parsed = parse_object(body);
    if (auto* problem = std::get_if<Problem>(&parsed)) {
        return *problem;
    }
    if (!std::get<Json>(parsed).empty()) {
        return invalid("unknown_field", "this request takes no fields");
    }
    return std::nullopt;
}

std::optional<Problem> check_idempotency_key(const std::string& key) {
    if (key.empty() || key.size() > 128) {
        return make_problem(400, "invalid_idempotency_key",
                            "Idempotency-Key must be 1 to 128 printable characters");
    }
    if (!is_printable_token(key)) {
        return make_problem(400, "invalid_idempotency_key",
                            "Idempotency-Key must be printable ASCII without spaces");
    }
    return std::nullopt;
}

std::string request_hash(const std::string& route, const std::string& canonical_body) {
    return sha256_hex(route + "\n" + canonical_body);
}

}  // namespace qrpay::api
