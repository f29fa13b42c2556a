// What api installs into the HTTP server: transport problems in the project's format, the
// connection metrics, and /readyz turning 503 while the API listener is saturated.

#include "api/transport.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/admin_api.h"
#include "http/client.h"

namespace qrpay::api {
namespace {

TEST(TransportProblem, IsTheProjectsProblemJsonWithTheServersCode) {
    http::Response response = transport_problem(413, http::fault::body_too_large, "too big");
    EXPECT_EQ(response.status, 413);
    EXPECT_EQ(response.header("Content-Type"), "application/problem+json");
    EXPECT_EQ(response.header("Retry-After"), "");
    auto json = nlohmann::json::parse(response.body);
    EXPECT_EQ(json["type"], "https://qrpay.dev/problems/body_too_large");
    EXPECT_EQ(json["title"], "Payload too large");  // as a route's 413 (api/problem.cc)
    EXPECT_EQ(json["status"], 413);
    EXPECT_EQ(json["detail"], "too big");
    EXPECT_EQ(json["code"], "body_too_large");
    for (int status : {429, 503}) {
        EXPECT_EQ(
            transport_problem(status, http::fault::too_many_connections, "x").header("Retry-After"),
            "1");
    }
}

TEST(HttpServerMetrics, ShowOpenAndRefusedConnections) {
    http::ServerStats stats{.connections_open = 3,
                            .connections_max = 8,
                            .refused_connections_max_total = 4,
                            .refused_address_max_total = 5,
                            .first_byte_timeouts_total = 6};
    std::string text = http_server_metrics(stats);
    for (const char* line : {"qrpay_http_connections_open 3\n", "qrpay_http_connections_max 8\n",
                             "qrpay_http_connections_refused_total{reason=\"connections_max\"} 4\n",
                             "qrpay_http_connections_refused_total{reason=\"connections_per_"
                             "address_max\"} 5\n",
                             "qrpay_http_first_byte_timeouts_total 6\n",
                             "# TYPE qrpay_http_connections_refused_total counter\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
    }
    EXPECT_EQ(http_saturation(stats), "");
    stats.connections_open = 8;
    EXPECT_EQ(http_saturation(stats), "http connections at the maximum (8 of 8 open)");
}

TEST(Readyz, Is503WithTheReasonWhileSaturated) {
    std::atomic<bool> saturated{false};
    AdminApi admin({.ready = [] { return true; },
                    .metrics = [] { return std::string(); },
                    .not_ready_reason =
                        [&saturated] {
                            return saturated ? std::string("http connections at the maximum")
                                             : std::string();
                        }});
    auto server =
        http::Server::start({}, [&admin](http::Request request, http::Responder responder) {
            admin.handle(request, responder);
        });
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    auto client =
        http::Client::open({.base_url = "http://127.0.0.1:" + std::to_string((*server)->port())});
    ASSERT_TRUE(client.ok());
    auto ready = (*client)->call({.path = "/readyz"});
    ASSERT_TRUE(ready.ok());
    EXPECT_EQ(ready->status, 200);
    saturated = true;
    auto full = (*client)->call({.path = "/readyz"});
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->status, 503);
    EXPECT_EQ(full->body, "not ready: http connections at the maximum\n");
}

}  // namespace
}  // namespace qrpay::api
