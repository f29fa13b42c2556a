#pragma once
// Plain HTTP/1.1 messages as the rest of qrpay sees them: no Beast or Asio type appears here.
// A Request is what the server hands to a handler and a Response is what the handler answers;
// the client uses the same Response for what a remote server answered.
//
// Thread safety: plain values; copy or move them freely between threads.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace qrpay::http {

// Orders header names ignoring ASCII case (RFC 9110 field names are case-insensitive).
// Transparent, so a lookup by std::string_view builds no string.
struct CaseInsensitiveLess {
    using is_transparent = void;
    bool operator()(std::string_view left, std::string_view right) const;
};

// Header name -> value. A name received several times holds the values joined by ", ".
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

// Query parameter name -> percent-decoded value; for a repeated name the first value wins.
using QueryParams = std::map<std::string, std::string, std::less<>>;

struct Request {
    std::string method{};  // as received, e.g. "GET" (methods are case-sensitive)
    std::string path{};    // the target before '?', NOT percent-decoded ("/v1/a%2Fb")
    QueryParams query{};   // the target after '?', decoded
    Headers headers{};
    std::string body{};
    std::string remote_address{};  // "ip:port" of the peer, for logs

    // The header's value, or "" when absent.
    [[nodiscard]] std::string_view header(std::string_view name) const;
    // The query parameter's value, or "" when absent.
    [[nodiscard]] std::string_view query_param(std::string_view name) const;
};

struct Response {
    int status = 200;   // 100..599
    Headers headers{};  // Content-Length and Transfer-Encoding are set by the transport
    std::string body{};

    // The header's value, or "" when absent.
    [[nodiscard]] std::string_view header(std::string_view name) const;

    // A response with Content-Type application/json.
    static Response json(int status, std::string body);
    // A response with Content-Type text/plain; charset=utf-8.
    static Response text(int status, std::string body);
};

// Percent-encodes every byte outside RFC 3986 "unreserved" (A-Z a-z 0-9 - . _ ~), so the
// result is safe as one path segment or one query value.
std::string url_encode_component(std::string_view text);

// Decodes %XX escapes; with `plus_is_space` (query strings) '+' becomes ' '.
// Errors: invalid_argument for a truncated or non-hex escape.
Result<std::string> url_decode(std::string_view text, bool plus_is_space);

// Splits a request target "/path?a=1&b=x%20y" into path and decoded query parameters.
// Errors: invalid_argument when the target does not start with '/' or an escape is bad.
struct Target {
    std::string path{};
    QueryParams query{};
};
Result<Target> parse_target(std::string_view target);

// "host:port", "[v6]:port" -> parts. Errors: invalid_argument for a missing or bad port.
struct HostPort {
    std::string host{};
    std::uint16_t port = 0;
};
Result<HostPort> parse_host_port(std::string_view text);

// The standard reason phrase ("Not Found"), or "Unknown" for an unassigned code.
std::string_view reason_phrase(int status);

}  // namespace qrpay::http
