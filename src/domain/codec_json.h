#pragma once
// Internal to domain/ (token_codec.cc, transaction_codec.cc): the fields of versioned JSON
// payloads. Not a public header: it exposes nlohmann::json, which no public header may.
//
// Stored bytes never change meaning (STYLE 2.6), so bytes that cannot be read are a broken
// invariant: every reader here asserts instead of returning a Status. No reader throws.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/money.h"
#include "base/status.h"
#include "domain/expired.h"

namespace qrpay::domain::codec {

using Json = nlohmann::json;

// The payload version every v1 encoder writes as "v" and every v1 decoder requires.
inline constexpr std::int64_t version_1 = 1;

// Parses `bytes` (without throwing) and asserts it is an object with "v": `version`.
Json parse_payload(std::string_view bytes, std::int64_t version);
// Compact, key-sorted text: the same value always gives the same bytes.
std::string dump(const Json& object);

std::int64_t int_field(const Json& object, const char* name);
std::string string_field(const Json& object, const char* name);
// A string field added to a v1 payload after its first release: "" when absent.
std::string optional_string_field(const Json& object, const char* name);
UnixMs unix_ms_field(const Json& object, const char* name);
// Reads "amount_minor" and "currency" and asserts they form a valid amount.
Money money_fields(const Json& object);
void put_money(Json& object, const Money& amount);

// The shared Expired event: {"v":1,"expires_at_unix_ms":..,"at_unix_ms":..}.
inline constexpr std::string_view expired_type = "Expired";
std::string encode_expired(const Expired& event);
Expired decode_expired(const Json& object);  // object from parse_payload

// A message from another process (a forwarded command or its reply, runtime/forwarding.h):
// unlike a stored payload it may be anything, so reading it never asserts. The first problem is
// kept and every later read returns an empty value; status() tells whether all reads were good.
class MessageReader {
public:
    // An object with "v": `version`, else invalid_argument.
    static Result<MessageReader> parse(std::string_view bytes, std::int64_t version);

    std::string string(const char* name);
    std::string optional_string(const char* name);  // "" when absent
    std::int64_t integer(const char* name);
    // Records `problem` as the first problem, unless there is one already.
    void fail(std::string problem);
    [[nodiscard]] const Status& status() const { return status_; }

private:
    explicit MessageReader(Json object) : object_(std::move(object)) {}
    const Json* find(const char* name, bool (Json::*is_kind)() const noexcept, const char* kind);

    Json object_;
    Status status_;
};

}  // namespace qrpay::domain::codec
