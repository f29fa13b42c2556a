#include "agency/wire.h"

namespace qrpay::agency::wire {

Json money_to_json(const Money& money) {
    return Json{{"value_minor", money.amount_minor}, {"currency", money.currency}};
}

Result<Json> parse_object(std::string_view body) {
    Json value = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
        return Status(Errc::invalid_argument, "body is not valid JSON");
    }
    if (!value.is_object()) {
        return Status(Errc::invalid_argument, "body is not a JSON object");
    }
    return value;
}

Result<std::string> string_member(const Json& object, const char* name) {
    auto it = object.find(name);
    if (it == object.end() || !it->is_string()) {
        return Status(Errc::invalid_argument, std::string("missing string field '") + name + "'");
    }
    return it->get<std::string>();
}

Result<Money> money_member(const Json& object, const char* name) {
    auto it = object.find(name);
    if (it == object.end() || !it->is_object()) {
        return Status(Errc::invalid_argument, std::string("missing object field '") + name + "'");
    }
    auto value = it->find("value_minor");
    if (value == it->end() || !value->is_number_integer()) {
        return Status(Errc::invalid_argument,
                      std::string("field '") + name + ".value_minor' must be an integer");
    }
    auto currency = string_member(*it, "currency");
    if (!currency.ok()) {
        return currency.status();
    }
    if (value->is_number_unsigned() && value->get<std::uint64_t>() > INT64_MAX) {
        return Money{amount_minor_max + 1, std::move(*currency)};  // out of range, said later
    }
    return Money{value->get<std::int64_t>(), std::move(*currency)};
}

std::string to_text(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string problem_body(int status, std::string_view title, std::string_view detail) {
    return to_text(Json{{"type", "about:blank"},
                        {"title", std::string(title)},
                        {"status", status},
                        {"detail", std::string(detail)}});
}

}  // namespace qrpay::agency::wire
