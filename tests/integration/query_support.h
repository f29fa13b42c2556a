#pragma once
// Helpers for the query-side integration tests (query_*_test.cc): waits with deadlines, the
// read model's pages and sales over HTTP, server-sent events parsed from a finished stream.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/testing/eventually.h"
#include "tests/integration/api_client.h"

namespace qrpay::harness {

// Bounds a wait; never an assertion on speed.
inline constexpr std::chrono::seconds query_wait_max{90};

// Each look is an HTTP request, so they come 25 ms apart.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds deadline = query_wait_max) {
    return qrpay::testing::eventually(condition, deadline, std::chrono::milliseconds(25));
}

// Every page of GET /v1/me/payments (following next_cursor); transaction id -> row.
inline std::vector<nlohmann::json> all_payments(http::Client& client,
                                                const std::string& token,
                                                const std::string& query = "limit=7") {
    std::vector<nlohmann::json> rows;
    std::string cursor;
    for (int page = 0; page < 1'000; ++page) {
        std::string path = "/v1/me/payments?" + query + (cursor.empty() ? "" : "&cursor=" + cursor);
        auto response = call_api(client, "GET", path, token);
        EXPECT_EQ(response.status, 200) << response.raw;
        if (response.status != 200) {
            break;
        }
        for (const auto& row : response.body["payments"]) {
            rows.push_back(row);
        }
        if (response.body["next_cursor"].is_null()) {
            break;
        }
        cursor = response.body["next_cursor"].get<std::string>();
    }
    return rows;
}

inline std::map<std::string, std::string> statuses_of(const std::vector<nlohmann::json>& rows) {
    std::map<std::string, std::string> out;
    for (const auto& row : rows) {
        out[row["transaction_id"].get<std::string>()] = row["status"].get<std::string>();
    }
    return out;
}

// Sums of GET /v1/me/sales over every returned day: {completed_count, completed_amount,
// cancelled_count, cancelled_amount, net_amount}.
inline std::vector<std::int64_t> sales_totals(http::Client& client, const std::string& token) {
    auto response = call_api(client, "GET", "/v1/me/sales", token);
    EXPECT_EQ(response.status, 200) << response.raw;
    std::vector<std::int64_t> totals(5, 0);
    if (response.status != 200) {
        return totals;
    }
    for (const auto& day : response.body["days"]) {
        const char* fields[] = {"completed_count", "completed_amount", "cancelled_count",
                                "cancelled_amount", "net_amount"};
        for (std::size_t i = 0; i < 5; ++i) {
            totals[i] += day[fields[i]].get<std::int64_t>();
        }
    }
    return totals;
}

struct SseEvent {
    std::string event;
    std::string id;
    nlohmann::json data;
};

// Parses a text/event-stream body: events separated by blank lines; comments skipped.
inline std::vector<SseEvent> parse_sse(const std::string& body) {
    std::vector<SseEvent> events;
    SseEvent current;
    std::string data;
    std::size_t start = 0;
    while (start < body.size()) {
        std::size_t end = body.find('\n', start);
        std::string line =
            body.substr(start, end == std::string::npos ? std::string::npos : end - start);
        start = end == std::string::npos ? body.size() : end + 1;
        if (line.empty()) {
            if (!current.event.empty() || !data.empty()) {
                current.data = nlohmann::json::parse(data, nullptr, false);
                events.push_back(current);
            }
            current = {};
            data.clear();
        } else if (line.rfind("event: ", 0) == 0) {
            current.event = line.substr(7);
        } else if (line.rfind("id: ", 0) == 0) {
            current.id = line.substr(4);
        } else if (line.rfind("data: ", 0) == 0) {
            data += line.substr(6);
        }
    }
    return events;
}

}  // namespace qrpay::harness
