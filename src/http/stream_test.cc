// Tests of streamed responses (Responder::stream, StreamWriter): real sockets on 127.0.0.1,
// waits bounded by deadlines, no assertion on durations.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/testing/eventually.h"
#include "http/client.h"
#include "http/server.h"

namespace qrpay::http {
namespace {

using namespace std::chrono_literals;

constexpr auto wait_max = 20s;  // a bound for waits, never an assertion on speed

std::unique_ptr<Server> start_server(Handler handler, ServerOptions options = {}) {
    auto server = Server::start(options, std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status().to_string();
    return std::move(server).value();
}

std::unique_ptr<Client> open_client(std::uint16_t port) {
    ClientOptions options;
    options.base_url = "http://127.0.0.1:" + std::to_string(port);
    auto client = Client::open(options);
    EXPECT_TRUE(client.ok()) << client.status().to_string();
    return std::move(client).value();
}

// Keeps the writers of the streams the handler started, and tells when one arrived.
class Streams {
public:
    Handler handler(Headers headers = {{"Content-Type", "text/event-stream"}}) {
        return [this, headers](Request, Responder responder) {
            std::optional<StreamWriter> writer = responder.stream(200, headers);
            ASSERT_TRUE(writer.has_value());
            EXPECT_FALSE(responder(Response::text(200, "late"))) << "answered by the stream";
            std::lock_guard lock(mutex_);
            writers_.push_back(*writer);
            arrived_.notify_all();
        };
    }
    std::optional<StreamWriter> wait_for(std::size_t index) {
        std::unique_lock lock(mutex_);
        if (!arrived_.wait_for(lock, wait_max, [&] { return writers_.size() > index; })) {
            return std::nullopt;
        }
        return writers_[index];
    }
    void clear() {
        std::lock_guard lock(mutex_);
        writers_.clear();
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<StreamWriter> writers_;
};

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval receive_timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof receive_timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return fd;
}

std::string read_until_closed(int fd) {
    std::string received;
    char buffer[4096];
    for (;;) {
        ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0) {
            break;
        }
        received.append(buffer, static_cast<std::size_t>(got));
    }
    return received;
}

using qrpay::testing::eventually;

TEST(Stream, PiecesWrittenFromAnotherThreadArriveInOrderAsOneChunkedBody) {
    Streams streams;
    auto server = start_server(streams.handler());
    auto client = open_client(server->port());
    std::optional<Result<Response>> result;
    std::thread caller([&] { result = client->call({.path = "/events"}); });
    auto writer = streams.wait_for(0);
    ASSERT_TRUE(writer.has_value());
    std::thread writer_thread([w = *writer] {
        EXPECT_TRUE(w.write("data: one\n\n"));
        EXPECT_TRUE(w.write(""));
        EXPECT_TRUE(w.write("data: two\n\n"));
        w.end();
        EXPECT_FALSE(w.write("data: after the end\n\n"));
        EXPECT_FALSE(w.open());
    });
    writer_thread.join();
    caller.join();
    ASSERT_TRUE(result.has_value() && result->ok()) << result->status().to_string();
    EXPECT_EQ((*result)->status, 200);
    EXPECT_EQ((*result)->header("Content-Type"), "text/event-stream");
    EXPECT_EQ((*result)->body, "data: one\n\ndata: two\n\n");
}

TEST(Stream, WireFormatIsChunkedAndTheConnectionCloses) {
    Streams streams;
    auto server = start_server(streams.handler({{"Cache-Control", "no-store"}}));
    int fd = connect_to(server->port());
    std::string request = "GET /s HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    auto writer = streams.wait_for(0);
    ASSERT_TRUE(writer.has_value());
    EXPECT_TRUE(writer->write("abc"));
    writer->end();
    std::string received = read_until_closed(fd);
    ::close(fd);
    EXPECT_EQ(received.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << received;
    EXPECT_NE(received.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
    EXPECT_NE(received.find("Cache-Control: no-store\r\n"), std::string::npos);
    EXPECT_NE(received.find("\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), std::string::npos) << received;
}

TEST(Stream, LastWriterCopyDestroyedEndsTheStream) {
    Streams streams;
    auto server = start_server(streams.handler());
    auto client = open_client(server->port());
    std::optional<Result<Response>> result;
    std::thread caller([&] { result = client->call({.path = "/events"}); });
    {
        auto writer = streams.wait_for(0);
        ASSERT_TRUE(writer.has_value());
        EXPECT_TRUE(writer->write("x"));
    }
    streams.clear();
    caller.join();
    ASSERT_TRUE(result->ok());
    EXPECT_EQ((*result)->body, "x");
}

TEST(Stream, PeerThatGoesAwayClosesTheStream) {
    Streams streams;
    auto server = start_server(streams.handler());
    int fd = connect_to(server->port());
    std::string request = "GET /s HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    auto writer = streams.wait_for(0);
    ASSERT_TRUE(writer.has_value());
    EXPECT_TRUE(writer->open());
    ::close(fd);
    EXPECT_TRUE(eventually([&] { return !writer->open(); }));
    EXPECT_FALSE(writer->write("nobody reads this"));
}

TEST(Stream, ReaderThatFallsBehindIsCut) {
    Streams streams;
    auto server = start_server(streams.handler(), {.stream_buffered_bytes_max = 64 * 1024});
    int fd = connect_to(server->port());
    std::string request = "GET /s HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    auto writer = streams.wait_for(0);
    ASSERT_TRUE(writer.has_value());
    // Nobody reads: the socket buffers fill, then the stream's own bound refuses and cuts.
    const std::string piece(16 * 1024, 'x');
    bool refused = false;
    for (int i = 0; i < 100'000 && !refused; ++i) {
        refused = !writer->write(piece);
    }
    EXPECT_TRUE(refused);
    EXPECT_TRUE(eventually([&] { return !writer->open(); }));
    ::close(fd);
}

TEST(Stream, StopEndsOpenStreams) {
    Streams streams;
    auto server = start_server(streams.handler());
    auto client = open_client(server->port());
    std::optional<Result<Response>> result;
    std::thread caller([&] { result = client->call({.path = "/events"}); });
    auto writer = streams.wait_for(0);
    ASSERT_TRUE(writer.has_value());
    EXPECT_TRUE(writer->write("before stop"));
    server->stop();
    caller.join();
    EXPECT_FALSE(writer->write("after stop"));
    ASSERT_TRUE(result->ok()) << result->status().to_string();
    EXPECT_EQ((*result)->body, "before stop");
}

TEST(Stream, InvalidHeadAnswers500) {
    auto server = start_server([](Request, Responder responder) {
        auto writer = responder.stream(200, {{"Bad Header", "x"}});
        EXPECT_TRUE(writer.has_value());
    });
    auto client = open_client(server->port());
    auto response = client->call({.path = "/bad"});
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->status, 500);
}

}  // namespace
}  // namespace qrpay::http
