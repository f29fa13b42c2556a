#pragma once
// Request bodies of the merchant and consumer writes, parsed strictly: malformed JSON, wrong
// types, unknown or missing fields and bad amounts each give their own problem, so that bad
// input is refused before anything changes. The same validation serves every route.

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "api/problem.h"
#include "base/money.h"

namespace qrpay::api {

// What the agency accepts as an order id: 1 to 64 printable ASCII characters, no space.
inline constexpr std::size_t order_id_bytes_max = 64;
inline constexpr std::size_t payment_code_digits = 20;

struct PayRequest {
    std::string code;
    Money amount;
    std::string order_id;
    std::string canonical_body;  // the body re-serialized: what an Idempotency-Key binds to
};

template <class T>
using Parsed = std::variant<T, Problem>;

Parsed<PayRequest> parse_pay_request(const std::string& body);

// Bodies that carry nothing (create a code, cancel): empty or "{}".
std::optional<Problem> check_empty_body(const std::string& body);

// Printable ASCII without spaces or control characters (0x21..0x7e); true for "".
bool is_printable_token(std::string_view text);

// Idempotency-Key header: 1 to 128 printable ASCII characters.
std::optional<Problem> check_idempotency_key(const std::string& key);

// SHA-256, hex, of the parts joined by newlines.
std::string request_hash(const std::string& route, const std::string& canonical_body);

}  // namespace qrpay::api
