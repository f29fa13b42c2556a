#include "api/problem.h"

#include <nlohmann/json.hpp>

namespace qrpay::api {
namespace {

std::string title_for(int status) {
    switch (status) {
        case 400:
            return "Bad request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not found";
        case 405:
            return "Method not allowed";
        case 408:
            return "Request timeout";
        case 409:
            return "Conflict";
        case 413:
            return "Payload too large";
        case 415:
            return "Unsupported media type";
        case 422:
            return "Unprocessable content";
        case 429:
            return "Too many requests";
        case 431:
            return "Request header fields too large";
        case 503:
            return "Service unavailable";
        case 504:
            return "Gateway timeout";
        default:
            return status < 500 ? "Client error" : "Internal error";
    }
}

}  // namespace

std::string Problem::to_json() const {
    nlohmann::json json = {{"type", "https://qrpay.dev/problems/" + code},
                           {"title", title},
                           {"status", status},
                           {"detail", detail},
                           {"code", code}};
    return json.dump();
}

Problem make_problem(int status, std::string code, std::string detail) {
    return Problem{status, std::move(code), title_for(status), std::move(detail)};
}

http::Response to_response(const Problem& problem) {
    http::Response response;
    response.status = problem.status;
    response.headers["Content-Type"] = "application/problem+json";
    if (problem.status == 401) {
        response.headers["WWW-Authenticate"] = "Bearer";
    }
    if (problem.retry_after_s > 0) {
        response.headers["Retry-After"] = std::to_string(problem.retry_after_s);
    } else if (problem.status == 429 || problem.status == 503) {
        response.headers["Retry-After"] = "1";
    }
    response.body = problem.to_json();
    return response;
}

Problem problem_from(const Status& status, const std::string& conflict_code) {
    switch (status.code()) {
        case Errc::invalid_argument:
            return make_problem(422, "invalid_request", status.message());
        case Errc::not_found:
            return make_problem(404, "not_found", status.message());
        case Errc::conflict:
            return make_problem(409, conflict_code, status.message());
        case Errc::unavailable:
            return make_problem(503, "unavailable", status.message());
        // Only the PostgreSQL journal answers unreachable (its server can be down while this
        // process runs); what libpq said stays in the log.
        case Errc::unreachable:
            return make_problem(503, "journal_unavailable",
                                "the journal cannot be reached, so nothing changed; retry later");
        case Errc::fenced:
        case Errc::sequence_conflict:
        case Errc::aborted:
            return make_problem(503, "unavailable", "busy or moving; retry later");
        case Errc::not_owner:
            return make_problem(503, "shard_unavailable",
                                "the payment's shard is not served by this node now (it is "
                                "moving, or owned elsewhere); nothing changed; retry later");
        case Errc::key_taken:
            return make_problem(409, "idempotency_key_in_flight",
                                "a request with this Idempotency-Key is being answered");
        case Errc::timeout:
            return make_problem(504, "timeout", status.message());
        // The store's own text (SQLite's, with ids in it) stays in the log, never in an answer.
        case Errc::io_error:
            return make_problem(503, "storage_unavailable",
                                "the store could not take the write, so nothing changed; retry "
                                "later");
        case Errc::unknown_outcome:
            return make_problem(503, "storage_unavailable",
                                "the store failed while taking the write, which may or may not "
                                "have happened; retry with the same Idempotency-Key");
        case Errc::ok:
        case Errc::corruption:
        case Errc::remote_error:
            break;
    }
    return make_problem(500, "internal", "internal error; the server log has the details");
}

}  // namespace qrpay::api
