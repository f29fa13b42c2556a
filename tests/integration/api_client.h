#pragma once
// Helpers for the integration tests: JSON calls to a running `qrpay serve`.

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tests/harness/harness.h"

namespace qrpay::harness {

struct ApiResponse {
    int status = 0;  // 0 when the call itself failed
    nlohmann::json body;
    std::string raw;
    std::string content_type;
};

inline ApiResponse call_api(http::Client& client,
                            const std::string& method,
                            const std::string& path,
                            const std::string& token,
                            const std::string& body = "",
                            const std::string& idempotency_key = "") {
    http::ClientRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    if (!token.empty()) {
        request.headers["Authorization"] = "Bearer " + token;
    }
    if (!idempotency_key.empty()) {
        request.headers["Idempotency-Key"] = idempotency_key;
    }
    auto response = client.call(std::move(request));
    ApiResponse out;
    if (!response.ok()) {
        out.raw = response.status().to_string();
        return out;
    }
    out.status = response->status;
    out.raw = response->body;
    out.content_type = std::string(response->header("Content-Type"));
    out.body = nlohmann::json::parse(response->body, nullptr, false);
    return out;
}

inline std::string pay_body(const std::string& code,
                            std::int64_t amount,
                            const std::string& order_id = "") {
    nlohmann::json body = {{"code", code}, {"amount", {{"value", amount}, {"currency", "JPY"}}}};
    if (!order_id.empty()) {
        body["order_id"] = order_id;
    }
    return body.dump();
}

// The agency's net (charged minus reversed) for one merchant in one currency, from the
// simulator's /ledger; nullopt when the ledger cannot be read.
inline std::optional<std::int64_t> agency_net_minor(std::uint16_t agency_port,
                                                    const std::string& merchant,
                                                    const std::string& currency = "JPY") {
    auto client = client_for(agency_port);
    auto ledger = call_api(*client, "GET", "/ledger", "");
    if (ledger.status != 200) {
        return std::nullopt;
    }
    std::int64_t net = 0;
    for (const auto& row : ledger.body["balances"]) {
        if (row["merchant_id"] == merchant && row["currency"] == currency) {
            net += row["net_minor"].get<std::int64_t>();
        }
    }
    return net;
}

inline bool is_final_status(const std::string& status) {
    return status == "completed" || status == "failed" || status == "expired" ||
           status == "cancelled";
}

}  // namespace qrpay::harness
