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

}  // namespace qrpay::domain::codec
