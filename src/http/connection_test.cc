// Tests of the server's connection budget and of the errors it answers itself: real sockets
// on 127.0.0.0/8 (distinct clients are distinct source addresses, 127.0.0.2, 127.0.0.3, ...,
// all local on Linux), waits bounded by deadlines, no assertion on durations.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/testing/eventually.h"
#include "http/server.h"
#include "http/testing/raw_connection.h"

namespace qrpay::http {
namespace {

using namespace std::chrono_literals;
using qrpay::testing::eventually;

constexpr auto wait_max = 20s;  // a bound for waits, never an assertion on speed

std::unique_ptr<Server> start_server(Handler handler, ServerOptions options = {}) {
    auto server = Server::start(options, std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status().to_string();
    return std::move(server).value();
}

Handler ok_handler() {
    return [](Request, Responder responder) { responder(Response::text(200, "ok")); };
}

using Connection = testing::RawConnection;

const std::string get_request = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

using testing::WireAnswer;

WireAnswer exchange(std::uint16_t port, const std::string& bytes, const char* source) {
    bool connected = false;
    WireAnswer answer = testing::exchange(port, bytes, source, &connected);
    EXPECT_TRUE(connected);
    return answer;
}

// Asserts that `answer` is a problem+json document with `status` and `code`.
void expect_problem(const WireAnswer& answer, int status, std::string_view code) {
    SCOPED_TRACE(std::string(code));
    EXPECT_EQ(answer.status, status) << answer.head << "\n" << answer.body;
    EXPECT_NE(answer.head.find("content-type: application/problem+json"), std::string::npos)
        << answer.head;
    EXPECT_NE(answer.body.find("\"code\":\"" + std::string(code) + "\""), std::string::npos)
        << answer.body;
    EXPECT_NE(answer.body.find("\"status\":" + std::to_string(status)), std::string::npos);
    for (const char* field : {"\"type\":\"", "\"title\":\"", "\"detail\":\""}) {
        EXPECT_NE(answer.body.find(field), std::string::npos) << field << " in " << answer.body;
    }
    if (status == 429 || status == 503) {
        EXPECT_NE(answer.head.find("retry-after: "), std::string::npos) << answer.head;
    }
}

// Holds requests unanswered until the test lets them go.
class Parked {
public:
    Handler handler() {
        return [this](Request, Responder responder) {
            std::lock_guard lock(mutex_);
            responders_.push_back(std::move(responder));
            arrived_.notify_all();
        };
    }
    bool wait_for(std::size_t count) {
        std::unique_lock lock(mutex_);
        return arrived_.wait_for(lock, wait_max, [&] { return responders_.size() >= count; });
    }
    void answer_all() {
        std::lock_guard lock(mutex_);
        for (const Responder& responder : responders_) {
            (void)responder(Response::text(200, "late"));
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<Responder> responders_;
};

TEST(Connections, ASilentNewConnectionIsClosedAfterTheFirstByteTimeout) {
    // The keep-alive idle timeout stays long: only the first-byte wait may close it.
    auto server = start_server(ok_handler(), {.first_byte_timeout = 100ms, .idle_timeout = 600s});
    Connection silent(server->port(), "127.0.0.1");
    ASSERT_TRUE(silent.connected());
    bool closed = false;
    EXPECT_EQ(silent.read_until_closed(&closed), "") << "closed without an answer";
    EXPECT_TRUE(closed) << "the server closed the silent connection";
    EXPECT_TRUE(
        eventually([&] { return server->stats().first_byte_timeouts_total == 1; }, wait_max));
    EXPECT_TRUE(eventually([&] { return server->stats().connections_open == 0; }, wait_max));
}

TEST(Connections, AKeptAliveConnectionWaitsIdleTimeoutNotFirstByteTimeout) {
    // After a first request the idle wait applies: the connection outlives a first-byte
    // timeout (seen to pass on another, silent connection) and serves a second request.
    auto server = start_server(ok_handler(), {.first_byte_timeout = 50ms, .idle_timeout = 600s});
    Connection connection(server->port(), "127.0.0.1");
    ASSERT_TRUE(connection.connected());
    connection.send("GET /1 HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(connection.read_through("\r\n\r\nok").find("HTTP/1.1 200"), 0U);
    {
        Connection silent(server->port(), "127.0.0.1");
        ASSERT_TRUE(silent.connected());
        bool closed = false;
        (void)silent.read_until_closed(&closed);
        ASSERT_TRUE(closed);
        ASSERT_TRUE(
            eventually([&] { return server->stats().first_byte_timeouts_total == 1; }, wait_max));
    }
    connection.send(get_request);
    std::string raw = connection.read_until_closed();
    EXPECT_EQ(raw.find("HTTP/1.1 200"), 0U) << raw;
    EXPECT_EQ(server->stats().first_byte_timeouts_total, 1U) << "only the silent one";
}

TEST(Connections, OneAddressCannotTakeTheWholeBudget) {
    auto server = start_server(
        ok_handler(),
        {.connections_max = 8, .connections_per_address_max = 3, .first_byte_timeout = 600s});
    // An attacker on 127.0.0.2 opens idle connections and keeps them.
    std::vector<std::unique_ptr<Connection>> idle;
    for (int i = 0; i < 3; ++i) {
        idle.push_back(std::make_unique<Connection>(server->port(), "127.0.0.2"));
        ASSERT_TRUE(idle.back()->connected());
    }
    ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 3; }, wait_max));
    // One more from the same address is refused...
    expect_problem(exchange(server->port(), get_request, "127.0.0.2"), 429,
                   fault::too_many_connections_from_address);
    EXPECT_EQ(server->stats().refused_address_max_total, 1U);
    // ...while other clients are served.
    EXPECT_EQ(exchange(server->port(), get_request, "127.0.0.3").status, 200);
    EXPECT_EQ(exchange(server->port(), get_request, "127.0.0.4").status, 200);
    EXPECT_TRUE(eventually([&] { return server->stats().connections_open == 3; }, wait_max));
    EXPECT_FALSE(server->stats().saturated());
    // A slot of the address is free again once one of its connections closes.
    idle.pop_back();
    ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 2; }, wait_max));
    EXPECT_EQ(exchange(server->port(), get_request, "127.0.0.2").status, 200);
}

TEST(Connections, AtTheGlobalMaximumTheServerIsSaturatedAndRefuses503) {
    auto server = start_server(
        ok_handler(),
        {.connections_max = 2, .connections_per_address_max = 1, .first_byte_timeout = 600s});
    Connection first(server->port(), "127.0.0.2");
    Connection second(server->port(), "127.0.0.3");
    ASSERT_TRUE(first.connected() && second.connected());
    ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 2; }, wait_max));
    EXPECT_TRUE(server->stats().saturated());
    expect_problem(exchange(server->port(), get_request, "127.0.0.4"), 503,
                   fault::too_many_connections);
    ServerStats stats = server->stats();
    EXPECT_EQ(stats.refused_connections_max_total, 1U);
    EXPECT_EQ(stats.refused_address_max_total, 0U);
    EXPECT_EQ(stats.connections_max, 2U);
}

TEST(Connections, BadBoundsAreRefusedAtStart) {
    EXPECT_FALSE(Server::start({.connections_per_address_max = 0}, ok_handler()).ok());
    EXPECT_FALSE(Server::start({.first_byte_timeout = 0ms}, ok_handler()).ok());
    EXPECT_FALSE(Server::start({.error_response = nullptr}, ok_handler()).ok());
}

// Every error the server answers itself is problem+json with its stable code.
TEST(TransportErrors, AreProblemJsonWithAStableCode) {
    Parked parked;
    auto handler = [&parked](Request request, Responder responder) {
        if (request.path == "/throw") {
            throw std::runtime_error("boom");
        }
        if (request.path == "/drop") {
            return;  // the last Responder goes away unanswered
        }
        if (request.path == "/invalid") {
            responder(Response::text(42, "no such status"));
            return;
        }
        parked.handler()(std::move(request), std::move(responder));
    };
    auto server = start_server(handler, {.body_bytes_max = 16,
                                         .header_bytes_max = 512,
                                         .request_timeout = 200ms,
                                         .response_timeout = 200ms});
    std::uint16_t port = server->port();
    auto send = [port](const std::string& bytes) { return exchange(port, bytes, "127.0.0.1"); };
    expect_problem(send("GARBAGE\r\n\r\n"), 400, fault::malformed_request);
    expect_problem(send("GET / HTTP/1.1\r\n\r\n"), 400, fault::malformed_request);  // no Host
    expect_problem(send("GET nope HTTP/1.1\r\nHost: t\r\n\r\n"), 400, fault::malformed_request);
    expect_problem(send("GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n"), 400,
                   fault::malformed_request);
    expect_problem(send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: zz\r\n\r\n"), 400,
                   fault::malformed_request);
    expect_problem(send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                        "Content-Length: 2\r\n\r\nab"),
                   400, fault::malformed_request);
    expect_problem(send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "zz\r\nab\r\n0\r\n\r\n"),
                   400, fault::malformed_request);
    expect_problem(send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                        "Content-Length: 2\r\n\r\nab"),
                   400, fault::malformed_request);
    expect_problem(send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"), 413,
                   fault::body_too_large);
    expect_problem(
        send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(1024, 'a') + "\r\n\r\n"), 431,
        fault::headers_too_large);
    expect_problem(send("GET / HTTP/1.1\r\nHost: t\r\n"), 408, fault::request_timeout);
    expect_problem(send("GET /throw HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 500,
                   fault::internal);
    expect_problem(send("GET /drop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 500,
                   fault::internal);
    expect_problem(send("GET /invalid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 500,
                   fault::internal);
    expect_problem(send("GET /park HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 503,
                   fault::response_timeout);
    parked.answer_all();
}

TEST(TransportErrors, UseTheApplicationsErrorResponse) {
    ServerOptions options{.body_bytes_max = 4};
    options.error_response = [](int status, std::string_view code, std::string_view detail) {
        Response response = Response::json(status, "{\"mine\":\"" + std::string(code) + "\"}");
        response.headers["Content-Type"] = "application/problem+json";
        response.headers["X-Detail-Bytes"] = std::to_string(detail.size());
        return response;
    };
    auto server = start_server(ok_handler(), options);
    WireAnswer answer = exchange(
        server->port(), "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n", "127.0.0.1");
    EXPECT_EQ(answer.status, 413);
    EXPECT_EQ(answer.body, "{\"mine\":\"body_too_large\"}");
    EXPECT_NE(answer.head.find("x-detail-bytes: "), std::string::npos);
}

TEST(TransportErrors, AThrowingOrInvalidErrorResponseFallsBackToTheDefault) {
    ServerOptions throwing{.body_bytes_max = 4};
    throwing.error_response = [](int, std::string_view, std::string_view) -> Response {
        throw std::runtime_error("hook failed");
    };
    auto first = start_server(ok_handler(), throwing);
    expect_problem(exchange(first->port(),
                            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n", "127.0.0.1"),
                   413, fault::body_too_large);
    // Each fault alone: another status than asked, then the right status with a bad header.
    for (bool right_status : {false, true}) {
        ServerOptions invalid{.body_bytes_max = 4};
        invalid.error_response = [right_status](int status, std::string_view, std::string_view) {
            Response response = Response::text(right_status ? status : 200, "not a problem");
            if (right_status) {
                response.headers["Bad\nName"] = "x";
            }
            return response;
        };
        auto second = start_server(ok_handler(), invalid);
        expect_problem(
            exchange(second->port(), "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n",
                     "127.0.0.1"),
            413, fault::body_too_large);
    }
}

TEST(TransportErrors, TheDefaultProblemEscapesItsStrings) {
    Response response = problem_response(400, "malformed_request", "a \"quoted\"\n\\ \x01 \xff");
    EXPECT_EQ(response.header("Content-Type"), "application/problem+json");
    EXPECT_EQ(
        response.body,
        "{\"type\":\"about:blank\",\"title\":\"Bad Request\",\"status\":400,"
        "\"detail\":\"a \\\"quoted\\\"\\u000a\\\\ \\u0001 ?\",\"code\":\"malformed_request\"}");
}

}  // namespace
}  // namespace qrpay::http
