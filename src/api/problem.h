#pragma once
// Problem responses (RFC 9457, application/problem+json): the one place where qrpay's errors
// become HTTP statuses. Every problem carries a stable machine `code`.

#include <string>

#include "base/status.h"
#include "http/message.h"

namespace qrpay::api {

struct Problem {
    int status = 500;
    std::string code;       // stable, snake_case: clients branch on it
    std::string title;      // short, human
    std::string detail;     // this occurrence
    int retry_after_s = 0;  // > 0: sent as Retry-After (429, 503); 503 defaults to 1

    [[nodiscard]] std::string to_json() const;
};

Problem make_problem(int status, std::string code, std::string detail);

// The problem as an HTTP answer: application/problem+json; WWW-Authenticate on 401;
// Retry-After on 429 and 503 (retry_after_s, or 1 s).
http::Response to_response(const Problem& problem);

// The default mapping of a Status from lower layers. Routes that know more (a conflict on
// pay is "code_already_read") pass their own code for Errc::conflict.
Problem problem_from(const Status& status, const std::string& conflict_code = "conflict");

}  // namespace qrpay::api
