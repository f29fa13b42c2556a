#pragma once
// Shared by agency/ and agency_sim/ only: the JSON wire format between AgencyClient and the
// simulated agency.
//
// Version 1. Every body is a JSON object; amounts are integers in minor units.
//
//   POST /v1/payments                        Idempotency-Key: <key>
//     {"idempotency_key": <key>, "merchant_id": <id>, "order_id": <id>,
//      "amount": {"value_minor": <integer>, "currency": <ISO 4217 code>}}
//     200 {"status": "approved", "reference": <ref>, "idempotency_key": <key>}
//     402 {"status": "declined", "reason": <text>, "idempotency_key": <key>}
//   GET /v1/payments/<key>                   Idempotency-Key: <key>
//     200 {"status": "approved" | "declined" | "reversed", "reference", "reason",
//          "idempotency_key", "merchant_id", "order_id", "amount"}
//     404 problem                            no payment with this key
//   POST /v1/payments/<key>/reversal         Idempotency-Key: <key>
//     {"idempotency_key": <key>, "merchant_id": <id>, "amount": {...}}
//     200 {"status": "reversed", "reference": <ref>}     also when reversed before
//     409 {"status": "declined", "reason": <text>}       declined or unknown payment
//   GET /ledger   200 {"balances": [{"merchant_id", "currency", "captured_minor",
//                  "reversed_minor", "net_minor", "captured_count", "reversed_count"}]}
//   GET /healthz  200 {"status": "ok"}
//
//   Problems (application/problem+json, RFC 9457): {"type", "title", "status", "detail"}
//     400 malformed JSON, missing field or wrong type, key in path/header/body differ
//     422 semantically invalid (amount <= 0, unknown currency, bad id) or the key was used
//         for a different payment
//     5xx agency failure: the outcome is unknown
// <key> in a path is percent-encoded (http::url_encode_component).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/money.h"
#include "base/status.h"

namespace qrpay::agency::wire {

using Json = nlohmann::json;

inline constexpr std::string_view payments_path = "/v1/payments";
inline constexpr std::string_view reversal_suffix = "/reversal";
inline constexpr std::string_view problem_content_type = "application/problem+json";

Json money_to_json(const Money& money);

// Parses a body into an object. Errors: invalid_argument (not JSON, or not an object).
Result<Json> parse_object(std::string_view body);
// A string member. Errors: invalid_argument when missing or not a string.
Result<std::string> string_member(const Json& object, const char* name);
// A {"value_minor", "currency"} member, shape only (range and currency are checked elsewhere).
// Errors: invalid_argument when missing or of the wrong type.
Result<Money> money_member(const Json& object, const char* name);

// JSON text; invalid UTF-8 in strings is replaced, never thrown.
std::string to_text(const Json& value);
std::string problem_body(int status, std::string_view title, std::string_view detail);

}  // namespace qrpay::agency::wire
