#pragma once
// Client: an HTTP/1.1 client for JSON calls to one base URL ("http://host:port[/prefix]"),
// with a bounded pool of keep-alive connections. No TLS.
//
// Error codes of a call (never a made-up HTTP status: any status the server sent, 5xx
// included, is a successful call that returns the Response):
//   invalid_argument  bad request (empty method, path not starting with '/')
//   unavailable       surely NOT sent: connect failed or timed out, no free connection within
//                     connect_timeout, too many calls waiting, or the client is stopped
//   timeout           sent, but no whole response within the call's timeout: the server may
//                     have processed the request
//   unknown_outcome   sent (or partly sent), then the connection failed or the response was
//                     unparsable or too large: the server may have processed the request
// A request is re-sent once on a fresh connection, and only when it went out on a pooled
// keep-alive connection that turned out closed by the server before any response byte came
// back, and when it is safe to repeat: GET/HEAD/OPTIONS, it carries an Idempotency-Key, or the
// caller says so (replay_on_stale_connection). A re-sent request that then cannot connect is
// unknown_outcome, not unavailable: its first send may have been processed.
//
// Threads: one I/O thread, owned and joined by stop(). Every method may be called from any
// thread; call() must not be called from a `done` callback (it would wait for itself).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "http/message.h"

namespace qrpay::http {

struct ClientOptions {
    std::string base_url{};                              // "http://host:port", optional prefix
    std::chrono::milliseconds connect_timeout{2'000};    // also the wait for a free connection
    std::chrono::milliseconds response_timeout{10'000};  // default per call: send to last byte
    std::size_t connections_max = 4;                     // open connections, busy or idle
    std::size_t calls_waiting_max = 256;                 // calls queued for a free connection
    std::size_t response_body_bytes_max = 1024 * 1024;
    std::size_t header_bytes_max = 8 * 1024;
    std::chrono::milliseconds pooled_idle_max{15'000};  // older idle connections are closed
};

struct ClientRequest {
    std::string method = "GET";
    std::string path = "/";  // after the base URL's prefix; may carry "?query"
    Headers headers{};       // Host, Content-Length and User-Agent are set by the client
    std::string body{};      // sent with Content-Type application/json unless headers say else
    std::chrono::milliseconds timeout{0};  // 0: options.response_timeout
    // Re-send on a stale pooled connection as above although the method is not safe: the
    // caller knows a server that closes an idle connection has not read what arrives on it.
    bool replay_on_stale_connection = false;
};

class Client {
public:
    // Runs exactly once, on the client's I/O thread (or, when the client is stopping, possibly
    // on the caller's thread before call_async returns). Must not block.
    using Done = std::function<void(Result<Response>)>;

    // Parses the base URL, resolves its host once, starts the I/O thread.
    // Errors: invalid_argument (bad URL or options), unavailable (host does not resolve).
    static Result<std::unique_ptr<Client>> open(const ClientOptions& options);
    ~Client();  // stop()
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    Client(Client&&) = delete;
    Client& operator=(Client&&) = delete;

    // Sends and waits for the answer; bounded by connect_timeout plus the call's timeout.
    Result<Response> call(ClientRequest request);
    void call_async(ClientRequest request, Done done);

    // Calls taken whose `done` has not run yet (waiting for a connection or in flight). A
    // caller retiring a client stops it once this is 0, so that no call is cut.
    [[nodiscard]] std::size_t calls_unfinished() const;

    // Fails waiting calls with unavailable, cuts in-flight ones (unknown_outcome), closes the
    // pool and joins the I/O thread. Every pending `done` has run when it returns. Idempotent.
    void stop();

    class Impl;

private:
    explicit Client(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace qrpay::http
