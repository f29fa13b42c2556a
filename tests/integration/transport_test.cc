// The transport through a real `qrpay serve`: idle connections from one address cannot lock
// other clients out, saturation shows in /readyz and /metrics, silent connections are closed
// early, and every error the server answers itself is the project's problem+json. Distinct
// clients are distinct source addresses of 127.0.0.0/8 (all local on Linux).

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "base/testing/eventually.h"
#include "http/testing/raw_connection.h"
#include "tests/integration/api_client.h"

namespace qrpay::harness {
namespace {

bool eventually(const std::function<bool()>& condition) {
    return qrpay::testing::eventually(condition, std::chrono::seconds(60),
                                      std::chrono::milliseconds(25));
}

using http::testing::RawConnection;

using http::testing::WireAnswer;

WireAnswer exchange(std::uint16_t port, const std::string& bytes, const char* source) {
    bool connected = false;
    WireAnswer answer = http::testing::exchange(port, bytes, source, &connected);
    EXPECT_TRUE(connected);
    return answer;
}

const std::string healthy_request =
    "GET /v1/me/payments HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

// The project's problem+json (api/problem.h) with the server's stable code.
void expect_problem(const WireAnswer& answer, int status, const std::string& code) {
    SCOPED_TRACE(code);
    EXPECT_EQ(answer.status, status) << answer.head;
    EXPECT_NE(answer.head.find("content-type: application/problem+json"), std::string::npos)
        << answer.head;
    nlohmann::json body = nlohmann::json::parse(answer.body, nullptr, false);
    EXPECT_EQ(body["code"], code) << answer.body;
    EXPECT_EQ(body["status"], status);
    EXPECT_EQ(body["type"], "https://qrpay.dev/problems/" + code);
    EXPECT_TRUE(body["title"].is_string());
    EXPECT_TRUE(body["detail"].is_string());
}

std::string metrics_of(const Server& server) {
    auto admin = client_for(server.admin_port());
    return call_api(*admin, "GET", "/metrics", "").raw;
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find(line + "\n") != std::string::npos;
}

TEST(Transport, IdleConnectionsFromOneAddressDoNotLockOthersOutAndSaturationIsVisible) {
    TempDir dir;
    Server server(dir.path() + "/serve",
                  {"--http-connections-max", "8", "--sse-subscribers-max", "4",
                   "--http-connections-per-address-max", "4", "--http-first-byte-timeout", "10m"});
    server.start();
    auto admin = client_for(server.admin_port());
    std::string consumer = server.token("consumer", "transport-consumer");
    const std::string authorized =
        "GET /v1/me/payments HTTP/1.1\r\nHost: t\r\nAuthorization: "
        "Bearer " +
        consumer + "\r\nConnection: close\r\n\r\n";
    // An attacker on 127.0.0.2 keeps idle connections without sending a byte.
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 4; ++i) {
        idle.push_back(std::make_unique<RawConnection>(server.port(), "127.0.0.2"));
        ASSERT_TRUE(idle.back()->connected());
    }
    ASSERT_TRUE(eventually([&] {
        return has_line(metrics_of(server), "qrpay_http_connections_open 4");
    })) << metrics_of(server)
        << server.process().log_tail();
    expect_problem(exchange(server.port(), healthy_request, "127.0.0.2"), 429,
                   "too_many_connections_from_address");
    // Other clients are served while the attacker holds its share.
    EXPECT_EQ(exchange(server.port(), authorized, "127.0.0.3").status, 200);
    EXPECT_EQ(call_api(*admin, "GET", "/readyz", "").status, 200);

    // A second address fills the rest: now the server is saturated, and says so.
    for (int i = 0; i < 4; ++i) {
        idle.push_back(std::make_unique<RawConnection>(server.port(), "127.0.0.4"));
        ASSERT_TRUE(idle.back()->connected());
    }
    ASSERT_TRUE(eventually([&] {
        return has_line(metrics_of(server), "qrpay_http_connections_open 8");
    })) << metrics_of(server)
        << server.process().log_tail();
    auto readyz = call_api(*admin, "GET", "/readyz", "");
    EXPECT_EQ(readyz.status, 503);
    EXPECT_NE(readyz.raw.find("http connections at the maximum (8 of 8 open)"), std::string::npos)
        << readyz.raw;
    expect_problem(exchange(server.port(), healthy_request, "127.0.0.5"), 503,
                   "too_many_connections");
    std::string metrics = metrics_of(server);
    EXPECT_TRUE(has_line(metrics, "qrpay_http_connections_max 8")) << metrics;
    EXPECT_TRUE(
        has_line(metrics, "qrpay_http_connections_refused_total{reason=\"connections_max\"} 1"))
        << metrics;
    EXPECT_TRUE(has_line(
        metrics, "qrpay_http_connections_refused_total{reason=\"connections_per_address_max\"} 1"))
        << metrics;

    // Once the idle connections go, everything is back.
    idle.clear();
    ASSERT_TRUE(eventually([&] { return call_api(*admin, "GET", "/readyz", "").status == 200; }))
        << metrics_of(server) << server.process().log_tail();
    EXPECT_EQ(exchange(server.port(), authorized, "127.0.0.2").status, 200);
}

TEST(Transport, ASilentConnectionIsClosedAfterTheFirstByteTimeout) {
    TempDir dir;
    Server server(dir.path() + "/serve", {"--http-first-byte-timeout", "200ms"});
    server.start();
    RawConnection silent(server.port(), "127.0.0.2");
    ASSERT_TRUE(silent.connected());
    bool closed = false;
    EXPECT_EQ(silent.read_until_closed(&closed), "");
    EXPECT_TRUE(closed) << "the server closed it (the read did not give up)";
    EXPECT_TRUE(eventually([&] {
        return has_line(metrics_of(server), "qrpay_http_first_byte_timeouts_total 1");
    })) << metrics_of(server)
        << server.process().log_tail();
}

TEST(Transport, EveryErrorTheServerAnswersItselfIsTheProjectsProblemJson) {
    TempDir dir;
    Server server(dir.path() + "/serve", {});
    server.start();
    std::uint16_t port = server.port();
    auto send = [port](const std::string& bytes) { return exchange(port, bytes, "127.0.0.1"); };
    expect_problem(send("GARBAGE\r\n\r\n"), 400, "malformed_request");
    expect_problem(send("GET / HTTP/1.1\r\n\r\n"), 400, "malformed_request");
    expect_problem(send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: zz\r\n\r\n"), 400,
                   "malformed_request");
    expect_problem(send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                        "Content-Length: 2\r\n\r\nab"),
                   400, "malformed_request");
    expect_problem(
        send("POST /v1/payments HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n"), 413,
        "body_too_large");
    expect_problem(
        send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20'000, 'a') + "\r\n\r\n"), 431,
        "headers_too_large");
}

TEST(Transport, EventStreamsMustLeaveConnectionsForRequests) {
    TempDir dir;
    Process serve({qrpay_binary(), "serve", "--data-dir", dir.path() + "/serve", "--listen",
                   "127.0.0.1:" + std::to_string(free_port()), "--admin-listen",
                   "127.0.0.1:" + std::to_string(free_port()), "--http-connections-max", "100"},
                  dir.path() + "/serve.log");
    EXPECT_EQ(serve.wait_exit(), 1);
    EXPECT_NE(serve.log_tail().find(
                  "--sse-subscribers-max (512) must be below --http-connections-max (100)"),
              std::string::npos)
        << serve.log_tail();
}

}  // namespace
}  // namespace qrpay::harness
