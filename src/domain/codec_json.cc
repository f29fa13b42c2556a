#include "domain/codec_json.h"

#include <limits>

#include "base/assert.h"
#include "domain/limits.h"

namespace qrpay::domain::codec {
namespace {

const Json& field(const Json& object, const char* name) {
    QRPAY_ASSERT(object.is_object(), "a stored payload is a JSON object");
    auto found = object.find(name);
    QRPAY_ASSERT(found != object.end(), (std::string("stored field missing: ") + name).c_str());
    return *found;
}

}  // namespace

Json parse_payload(std::string_view bytes, std::int64_t version) {
    Json object = Json::parse(bytes, /*cb=*/nullptr, /*allow_exceptions=*/false);
    QRPAY_ASSERT(!object.is_discarded(), "a stored payload is valid JSON");
    QRPAY_ASSERT(object.is_object(), "a stored payload is a JSON object");
    QRPAY_ASSERT(int_field(object, "v") == version, "a stored payload has a known version");
    return object;
}

std::string dump(const Json& object) {
    QRPAY_ASSERT(object.is_object(), "a payload is a JSON object");
    // Strict UTF-8 would throw on bad bytes; replacing them keeps dump() exception-free.
    return object.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::int64_t int_field(const Json& object, const char* name) {
    const Json& value = field(object, name);
    QRPAY_ASSERT(value.is_number_integer(),
                 (std::string("stored field not an integer: ") + name).c_str());
    if (value.is_number_unsigned()) {
        QRPAY_ASSERT(value.get<std::uint64_t>() <=
                         static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                     (std::string("stored integer out of range: ") + name).c_str());
    }
    return value.get<std::int64_t>();
}

std::string string_field(const Json& object, const char* name) {
    const Json& value = field(object, name);
    QRPAY_ASSERT(value.is_string(), (std::string("stored field not a string: ") + name).c_str());
    return value.get<std::string>();
}

std::string optional_string_field(const Json& object, const char* name) {
    return object.contains(name) ? string_field(object, name) : std::string();
}

UnixMs unix_ms_field(const Json& object, const char* name) {
    return UnixMs{int_field(object, name)};
}

Money money_fields(const Json& object) {
    Money amount{.amount_minor = int_field(object, "amount_minor"),
                 .currency = string_field(object, "currency")};
    QRPAY_ASSERT(is_valid_amount(amount), "a stored amount is valid");
    return amount;
}

void put_money(Json& object, const Money& amount) {
    QRPAY_ASSERT(is_valid_amount(amount), "only a valid amount is stored");
    object["amount_minor"] = amount.amount_minor;
    object["currency"] = amount.currency;
}

std::string encode_expired(const Expired& event) {
    QRPAY_ASSERT(event.at >= event.expires_at, "Expired is recorded after its deadline");
    Json object{{"v", version_1},
                {"expires_at_unix_ms", event.expires_at.value},
                {"at_unix_ms", event.at.value}};
    return dump(object);
}

Expired decode_expired(const Json& object) {
    Expired event{.expires_at = unix_ms_field(object, "expires_at_unix_ms"),
                  .at = unix_ms_field(object, "at_unix_ms")};
    QRPAY_ASSERT(event.at >= event.expires_at, "a stored Expired follows its deadline");
    return event;
}

Result<MessageReader> MessageReader::parse(std::string_view bytes, std::int64_t version) {
    Json object = Json::parse(bytes, /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded() || !object.is_object()) {
        return Status(Errc::invalid_argument, "a message is not a JSON object");
    }
    MessageReader reader(std::move(object));
    if (reader.integer("v") != version) {
        return Status(Errc::invalid_argument,
                      "a message of version " + std::to_string(version) + " was expected");
    }
    return reader;
}

const Json* MessageReader::find(const char* name,
                                bool (Json::*is_kind)() const noexcept,
                                const char* kind) {
    if (!status_.ok()) {
        return nullptr;
    }
    auto found = object_.find(name);
    if (found == object_.end() || !((*found).*is_kind)()) {
        status_ = Status(Errc::invalid_argument,
                         std::string("message field \"") + name + "\" is not " + kind);
        return nullptr;
    }
    return &*found;
}

std::string MessageReader::string(const char* name) {
    const Json* value = find(name, &Json::is_string, "a string");
    return value == nullptr ? std::string() : value->get<std::string>();
}

std::string MessageReader::optional_string(const char* name) {
    return object_.contains(name) ? string(name) : std::string();
}

void MessageReader::fail(std::string problem) {
    if (status_.ok()) {
        status_ = Status(Errc::invalid_argument, std::move(problem));
    }
}

std::int64_t MessageReader::integer(const char* name) {
    const Json* value = find(name, &Json::is_number_integer, "an integer");
    if (value == nullptr) {
        return 0;
    }
    if (value->is_number_unsigned() &&
        value->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        status_ = Status(Errc::invalid_argument,
                         std::string("message field \"") + name + "\" is out of range");
        return 0;
    }
    return value->get<std::int64_t>();
}

}  // namespace qrpay::domain::codec
