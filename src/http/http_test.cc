// Tests of the http module: real sockets on 127.0.0.1, ephemeral ports, no timing assertions
// (waits are bounded by deadlines; durations are never asserted).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "http/client.h"
#include "http/scheduler.h"
#include "http/server.h"

namespace qrpay::http {
namespace {

using namespace std::chrono_literals;

constexpr auto wait_max = 20s;  // a bound for waits in tests, never an assertion on speed

std::unique_ptr<Server> start_server(Handler handler, ServerOptions options = {}) {
    auto server = Server::start(options, std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status().to_string();
    return std::move(server).value();
}

std::unique_ptr<Client> open_client(std::uint16_t port, ClientOptions options = {}) {
    options.base_url = "http://127.0.0.1:" + std::to_string(port);
    auto client = Client::open(options);
    EXPECT_TRUE(client.ok()) << client.status().to_string();
    return std::move(client).value();
}

Handler echo_handler() {
    return [](Request request, Responder responder) {
        std::string body = request.method + " " + request.path +
                           " x=" + std::string(request.query_param("x")) +
                           " h=" + std::string(request.header("x-test")) + " " + request.body;
        responder(Response::text(200, body));
    };
}

// Holds responders the test answers later, and tells when a request arrived.
class ParkedRequests {
public:
    Handler handler() {
        return [this](Request request, Responder responder) {
            std::lock_guard lock(mutex_);
            requests_.push_back(std::move(request));
            responders_.push_back(std::move(responder));
            arrived_.notify_all();
        };
    }
    bool wait_for(std::size_t count) {
        std::unique_lock lock(mutex_);
        return arrived_.wait_for(lock, wait_max, [&] { return responders_.size() >= count; });
    }
    Responder responder(std::size_t index) {
        std::lock_guard lock(mutex_);
        return responders_.at(index);
    }
    void answer_all(int status) {
        std::vector<Responder> responders;
        {
            std::lock_guard lock(mutex_);
            responders = responders_;
        }
        for (const Responder& responder : responders) {
            (void)responder(Response::text(status, "late"));
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<Request> requests_;
    std::vector<Responder> responders_;
};

// Sends raw bytes on a fresh TCP connection and returns all bytes read until the server
// closes (or 10 s pass).
std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval receive_timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof receive_timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return "connect failed";
    }
    (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::string received;
    char buffer[4096];
    for (;;) {
        ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0) {
            break;
        }
        received.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    return received;
}

// A port on 127.0.0.1 with nothing listening (bound, then released).
std::uint16_t unused_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t size = sizeof address;
    (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    ::close(fd);
    return ntohs(address.sin_port);
}

TEST(HttpMessage, HeadersAreCaseInsensitive) {
    Request request;
    request.headers.emplace("Content-Type", "application/json");
    EXPECT_EQ(request.header("content-type"), "application/json");
    EXPECT_EQ(request.header("CONTENT-TYPE"), "application/json");
    EXPECT_EQ(request.header("missing"), "");
}

TEST(HttpMessage, ParsesTargetAndDecodesQuery) {
    auto target = parse_target("/v1/a%2Fb?x=1&y=a%20b+c&x=2&flag");
    ASSERT_TRUE(target.ok());
    EXPECT_EQ(target->path, "/v1/a%2Fb");
    EXPECT_EQ(target->query.at("x"), "1");
    EXPECT_EQ(target->query.at("y"), "a b c");
    EXPECT_EQ(target->query.at("flag"), "");
    EXPECT_EQ(parse_target("nope").status().code(), Errc::invalid_argument);
    EXPECT_EQ(parse_target("/x?a=%zz").status().code(), Errc::invalid_argument);
    EXPECT_EQ(parse_target("/x?a=%4").status().code(), Errc::invalid_argument);
}

TEST(HttpMessage, UrlEncodingRoundTrips) {
    std::string text = "tx/1 2?&%é";
    std::string encoded = url_encode_component(text);
    EXPECT_EQ(encoded.find_first_of("/ ?&"), std::string::npos);
    auto decoded = url_decode(encoded, false);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
}

TEST(HttpMessage, ParsesHostPort) {
    auto plain = parse_host_port("127.0.0.1:8080");
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(plain->host, "127.0.0.1");
    EXPECT_EQ(plain->port, 8080);
    auto v6 = parse_host_port("[::1]:9");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_FALSE(parse_host_port("localhost").ok());
    EXPECT_FALSE(parse_host_port("host:99999").ok());
    EXPECT_FALSE(parse_host_port(":80").ok());
}

TEST(HttpServer, RoundTripCarriesMethodPathQueryHeadersAndBody) {
    auto server = start_server(echo_handler());
    auto client = open_client(server->port());
    auto response = client->call({.method = "POST",
                                  .path = "/echo?x=a%20b",
                                  .headers = {{"X-Test", "yes"}},
                                  .body = "{\"k\":1}"});
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "POST /echo x=a b h=yes {\"k\":1}");
    EXPECT_EQ(response->header("content-type"), "text/plain; charset=utf-8");
}

TEST(HttpServer, KeepAliveReusesTheConnection) {
    auto server = start_server([](Request request, Responder responder) {
        responder(Response::text(200, request.remote_address));
    });
    auto client = open_client(server->port());
    auto first = client->call({.path = "/a"});
    auto second = client->call({.path = "/b"});
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(first->body, second->body);  // same client port: the same connection
}

TEST(HttpServer, OversizedBodyIs413WithoutCallingTheHandler) {
    std::atomic<int> calls{0};
    auto server = start_server([&calls](Request, Responder responder) {
        ++calls;
        responder(Response::text(200, "ok"));
    });
    auto client = open_client(server->port());
    auto response =
        client->call({.method = "POST", .path = "/", .body = std::string(100'000, 'a')});
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(calls.load(), 0);
    auto small = client->call({.method = "POST", .path = "/", .body = "{}"});
    ASSERT_TRUE(small.ok()) << small.status().to_string();
    EXPECT_EQ(small->status, 200);
}

TEST(HttpServer, OversizedHeaderIs431WithoutCallingTheHandler) {
    std::atomic<int> calls{0};
    auto server = start_server([&calls](Request, Responder responder) {
        ++calls;
        responder(Response::text(200, "ok"));
    });
    auto client = open_client(server->port());
    auto response = client->call({.path = "/", .headers = {{"X-Big", std::string(16'000, 'h')}}});
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->status, 431);
    EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, MalformedRequestsAre400) {
    std::atomic<int> calls{0};
    auto server = start_server([&calls](Request, Responder responder) {
        ++calls;
        responder(Response::text(200, "ok"));
    });
    EXPECT_EQ(raw_exchange(server->port(), "GARBAGE\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
    EXPECT_EQ(raw_exchange(server->port(), "GET / HTTP/1.1\r\n\r\n").substr(0, 12), "HTTP/1.1 400")
        << "HTTP/1.1 without Host";
    EXPECT_EQ(
        raw_exchange(server->port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")
            .substr(0, 12),
        "HTTP/1.1 400");
    EXPECT_EQ(raw_exchange(server->port(), "GET nope HTTP/1.1\r\nHost: x\r\n\r\n").substr(0, 12),
              "HTTP/1.1 400");
    EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, AnswersExpectContinueBeforeTheBody) {
    auto server = start_server(echo_handler());
    std::string reply = raw_exchange(server->port(),
                                     "POST /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                     "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 100");
    EXPECT_NE(reply.find("HTTP/1.1 200"), std::string::npos);
    EXPECT_NE(reply.find("POST /c x= h= hi"), std::string::npos);
}

TEST(HttpServer, AsyncResponderAnswersLaterFromAnotherThread) {
    ParkedRequests parked;
    auto server = start_server(parked.handler());
    auto client = open_client(server->port());
    std::promise<Result<Response>> result;
    client->call_async({.path = "/later"},
                       [&result](Result<Response> response) { result.set_value(response); });
    ASSERT_TRUE(parked.wait_for(1));
    std::thread answerer([responder = parked.responder(0)] {
        EXPECT_FALSE(responder.answered());
        EXPECT_TRUE(responder(Response::json(201, "{\"late\":true}")));
        EXPECT_FALSE(responder(Response::json(200, "{}"))) << "one-shot";
        EXPECT_TRUE(responder.answered());
    });
    answerer.join();
    auto future = result.get_future();
    ASSERT_EQ(future.wait_for(wait_max), std::future_status::ready);
    auto response = future.get();
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->status, 201);
    EXPECT_EQ(response->body, "{\"late\":true}");
}

TEST(HttpServer, DroppedResponderAndThrowingHandlerAnswer500) {
    auto server = start_server([](Request request, Responder) {
        if (request.path == "/throw") {
            throw std::runtime_error("boom");
        }
    });
    auto client = open_client(server->port());
    auto dropped = client->call({.path = "/drop"});
    ASSERT_TRUE(dropped.ok());
    EXPECT_EQ(dropped->status, 500);
    auto thrown = client->call({.path = "/throw"});
    ASSERT_TRUE(thrown.ok());
    EXPECT_EQ(thrown->status, 500);
}

TEST(HttpServer, HandlerThatNeverAnswersGets503AfterResponseTimeout) {
    ParkedRequests parked;
    auto server = start_server(parked.handler(), {.response_timeout = 100ms});
    auto client = open_client(server->port());
    auto response = client->call({.path = "/slow"});
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->status, 503);
    EXPECT_FALSE(parked.responder(0)(Response::text(200, "too late")));
}

TEST(HttpServer, RunAfterAnswersALongPoll) {
    std::promise<Server*> server_ready;
    std::shared_future<Server*> server_future = server_ready.get_future().share();
    auto server = start_server([server_future](Request, Responder responder) {
        auto scheduled = server_future.get()->run_after(
            20ms, [responder] { responder(Response::text(200, "no change")); });
        if (!scheduled.ok()) {
            responder(Response::text(503, "busy"));
        }
    });
    server_ready.set_value(server.get());
    auto client = open_client(server->port());
    auto response = client->call({.path = "/poll"});
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->body, "no change");
}

TEST(HttpServer, ConnectionsBeyondTheMaximumGet503) {
    ParkedRequests parked;
    auto server = start_server(parked.handler(), {.connections_max = 1});
    auto first = open_client(server->port());
    first->call_async({.path = "/hold"}, [](Result<Response>) {});
    ASSERT_TRUE(parked.wait_for(1));
    auto second = open_client(server->port());
    auto response = second->call({.path = "/more"});
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->status, 503);
    parked.answer_all(200);
}

TEST(HttpServer, StopLetsAnInFlightRequestBeAnswered) {
    ParkedRequests parked;
    auto server = start_server(parked.handler());
    auto client = open_client(server->port());
    std::promise<Result<Response>> result;
    client->call_async({.path = "/inflight"},
                       [&result](Result<Response> response) { result.set_value(response); });
    ASSERT_TRUE(parked.wait_for(1));
    std::thread stopper([&server] { server->stop(); });
    EXPECT_TRUE(parked.responder(0)(Response::text(200, "done")));
    stopper.join();
    auto response = result.get_future().get();
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->body, "done");
    EXPECT_FALSE(server->run_after(1ms, [] {}).ok()) << "stopped";
}

TEST(HttpClient, TimeoutWhenTheServerDoesNotAnswerInTime) {
    ParkedRequests parked;
    auto server = start_server(parked.handler());
    auto client = open_client(server->port());
    auto response = client->call({.path = "/never", .timeout = 200ms});
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().code(), Errc::timeout);
    parked.answer_all(200);
}

TEST(HttpClient, ConnectFailureIsUnavailable) {
    auto client = open_client(unused_port());
    auto response = client->call({.method = "POST", .path = "/x", .body = "{}"});
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().code(), Errc::unavailable);
}

TEST(HttpClient, BadRequestsAndBadUrlsAreRefused) {
    EXPECT_EQ(Client::open({.base_url = "https://x:1"}).status().code(), Errc::invalid_argument);
    EXPECT_EQ(Client::open({.base_url = "http://x:notaport"}).status().code(),
              Errc::invalid_argument);
    auto client = open_client(unused_port());
    EXPECT_EQ(client->call({.path = "no-slash"}).status().code(), Errc::invalid_argument);
    EXPECT_EQ(client->call({.path = "/", .headers = {{"X", "a\r\nb"}}}).status().code(),
              Errc::invalid_argument);
}

TEST(HttpClient, ReplaysAStalePooledConnectionOnlyWhenSafe) {
    auto first_server = start_server(echo_handler());
    std::uint16_t port = first_server->port();
    auto client = open_client(port);
    ASSERT_TRUE(client->call({.path = "/warm"}).ok());  // leaves a pooled connection
    first_server->stop();                               // closes it from the server side
    auto second_server = start_server(echo_handler(), {.port = port});
    auto get = client->call({.path = "/again"});
    ASSERT_TRUE(get.ok()) << get.status().to_string();
    EXPECT_EQ(get->status, 200);

    second_server->stop();
    auto third_server = start_server(echo_handler(), {.port = port});
    auto post = client->call({.method = "POST", .path = "/charge", .body = "{}"});
    ASSERT_FALSE(post.ok()) << "a POST without Idempotency-Key is never sent twice";
    EXPECT_EQ(post.status().code(), Errc::unknown_outcome);
    auto keyed = client->call({.method = "POST",
                               .path = "/charge",
                               .headers = {{"Idempotency-Key", "k1"}},
                               .body = "{}"});
    ASSERT_TRUE(keyed.ok()) << keyed.status().to_string();

    third_server->stop();
    auto fourth_server = start_server(echo_handler(), {.port = port});
    auto opted = client->call(
        {.method = "POST", .path = "/command", .body = "{}", .replay_on_stale_connection = true});
    ASSERT_TRUE(opted.ok()) << opted.status().to_string();

    // Replayed, then nobody listens: the first send may have been processed.
    fourth_server->stop();
    auto lost = client->call({.method = "POST",
                              .path = "/charge",
                              .headers = {{"Idempotency-Key", "k2"}},
                              .body = "{}"});
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.status().code(), Errc::unknown_outcome) << lost.status().to_string();
}

TEST(HttpClient, CallsBeyondThePoolAndQueueAreRefused) {
    ParkedRequests parked;
    auto server = start_server(parked.handler());
    auto client = open_client(server->port(), {.connections_max = 1, .calls_waiting_max = 1});
    std::promise<Result<Response>> first;
    client->call_async({.path = "/1"}, [&first](Result<Response> r) { first.set_value(r); });
    ASSERT_TRUE(parked.wait_for(1));
    std::promise<Result<Response>> second;
    client->call_async({.path = "/2"}, [&second](Result<Response> r) { second.set_value(r); });
    auto third = client->call({.path = "/3"});
    EXPECT_EQ(third.status().code(), Errc::unavailable);
    parked.answer_all(200);
    ASSERT_TRUE(first.get_future().get().ok());
    ASSERT_TRUE(parked.wait_for(2));  // the waiting call got the connection
    parked.answer_all(200);
    ASSERT_TRUE(second.get_future().get().ok());
}

TEST(HttpClient, StopFinishesEveryPendingCall) {
    ParkedRequests parked;
    auto server = start_server(parked.handler());
    auto client = open_client(server->port());
    std::promise<Result<Response>> result;
    client->call_async({.path = "/pending"},
                       [&result](Result<Response> response) { result.set_value(response); });
    ASSERT_TRUE(parked.wait_for(1));
    client->stop();
    auto response = result.get_future().get();
    EXPECT_EQ(response.status().code(), Errc::unknown_outcome);
    EXPECT_EQ(client->call({.path = "/after"}).status().code(), Errc::unavailable);
    parked.answer_all(200);
}

TEST(HttpScheduler, RunsCancelsAndRunsPendingTasksAtStop) {
    Scheduler scheduler({.threads = 1, .tasks_pending_max = 2});
    std::promise<void> ran;
    ASSERT_TRUE(scheduler.run_after(0ms, [&ran] { ran.set_value(); }).ok());
    ASSERT_EQ(ran.get_future().wait_for(wait_max), std::future_status::ready);

    std::atomic<int> cancelled_runs{0};
    auto cancelled = scheduler.run_after(1h, [&cancelled_runs] { ++cancelled_runs; });
    ASSERT_TRUE(cancelled.ok());
    EXPECT_TRUE(scheduler.cancel(*cancelled));
    EXPECT_FALSE(scheduler.cancel(*cancelled));

    std::atomic<int> late_runs{0};
    ASSERT_TRUE(scheduler.run_after(1h, [&late_runs] { ++late_runs; }).ok());
    ASSERT_TRUE(scheduler.run_after(1h, [&late_runs] { ++late_runs; }).ok());
    EXPECT_EQ(scheduler.run_after(1h, [] {}).status().code(), Errc::unavailable) << "bounded";
    scheduler.stop();
    EXPECT_EQ(late_runs.load(), 2) << "pending tasks run at stop";
    EXPECT_EQ(cancelled_runs.load(), 0);
    EXPECT_EQ(scheduler.run_after(0ms, [] {}).status().code(), Errc::unavailable);
}

}  // namespace
}  // namespace qrpay::http
