#pragma once
// Server: a generic HTTP/1.1 server (keep-alive, bounded sizes, asynchronous handlers).
// It knows no route and no payment word; the application installs one Handler.
//
// Life of a request
//   A new connection must send its first byte within first_byte_timeout; later requests on a
//   kept-alive connection within idle_timeout. The server reads a request (header_bytes_max,
//   body_bytes_max, request_timeout), then calls the Handler on an I/O thread with the Request
//   and a Responder. The handler returns at once and answers through the Responder now or
//   later, from any thread (after an entity persists, after a long-poll wait). The connection
//   waits for that answer, at most response_timeout, then reads the next request (keep-alive)
//   or closes.
//
// Connection budget: at most connections_max connections are open, at most
// connections_per_address_max of them from one peer IP address (so that one client cannot
// take the whole budget). A connection beyond either bound is answered at once and closed.
// A connection that stays silent past first_byte_timeout is closed without an answer.
// stats() counts open connections and refusals (for /metrics and readiness).
//
// Errors the server answers itself, each with a stable code (namespace fault below) and a body
// made by ServerOptions::error_response (by default application/problem+json, never text):
//   without calling the handler:
//     400 malformed_request  bad request line, header, chunk, Content-Length or
//                            Transfer-Encoding; bad target; HTTP/1.1 without Host
//     408 request_timeout    the request was not fully received within request_timeout
//     413 body_too_large     body larger than body_bytes_max
//     431 headers_too_large  header larger than header_bytes_max
//     503 too_many_connections               connections_max connections are open (then closed)
//     429 too_many_connections_from_address  connections_per_address_max from this address
//   instead of the handler:
//     500 internal           the handler threw, dropped its last Responder unanswered, or
//                            answered an invalid status or header
//     503 response_timeout   the handler did not answer within response_timeout
//   429 and 503 carry Retry-After (1 s) unless error_response set one.
//
// Streamed responses (server-sent events): Responder::stream() sends the status and headers at
// once and hands back a StreamWriter; the body follows in pieces (chunked transfer coding) for
// as long as the application writes, and the connection closes after it ends. While a stream
// is open the server watches the connection, so a peer that goes away closes the stream; a
// peer that cannot keep up (more than stream_buffered_bytes_max unsent) is cut; stop() ends
// every open stream.
//
// Threads: `threads` I/O threads, owned and joined by stop(), each with a context of its own; a
// connection stays on the thread it was accepted to (round robin). Handlers and run_after()
// tasks run on them and must not block. Every public method may be called from any thread, except
// that stop() must not be called from a handler or a task.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "http/message.h"
#include "http/scheduler.h"

namespace qrpay::http {

// The stable codes of the errors the server answers itself (see the table above).
namespace fault {
inline constexpr std::string_view malformed_request = "malformed_request";
inline constexpr std::string_view request_timeout = "request_timeout";
inline constexpr std::string_view body_too_large = "body_too_large";
inline constexpr std::string_view headers_too_large = "headers_too_large";
inline constexpr std::string_view too_many_connections = "too_many_connections";
inline constexpr std::string_view too_many_connections_from_address =
    "too_many_connections_from_address";
inline constexpr std::string_view internal = "internal";
inline constexpr std::string_view response_timeout = "response_timeout";
}  // namespace fault

// Makes the response for an error the server answers itself: `status` and `code` as in the
// table above, `detail` what happened this time. Called on an I/O thread; must not block. If it
// throws, answers another status, or sets an invalid header, problem_response() is used. The
// transport sets Content-Length and Connection; Retry-After is added for 429 and 503 if absent.
using ErrorResponse =
    std::function<Response(int status, std::string_view code, std::string_view detail)>;

// The default ErrorResponse: application/problem+json (RFC 9457) with "type": "about:blank",
// "title" the status's reason phrase, "status", "detail" and "code".
Response problem_response(int status, std::string_view code, std::string_view detail);

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;   // 0: the kernel picks a free port; see port()
    std::size_t threads = 2;  // I/O threads, >= 1
    std::size_t body_bytes_max = 64 * 1024;
    std::size_t header_bytes_max = 8 * 1024;
    std::size_t connections_max = 1024;  // open connections; beyond: 503 and close
    // Open connections from one peer IP address; beyond: 429 and close. 256 leaves three
    // quarters of the default budget to other clients and fits `qrpay bench load` (at most
    // 128 connections from 127.0.0.1 in bench/run). >= 1; above connections_max it never binds.
    std::size_t connections_per_address_max = 256;
    std::chrono::milliseconds first_byte_timeout{5'000};  // new connection's wait for a byte
    std::chrono::milliseconds idle_timeout{60'000};       // keep-alive wait for the next request
    std::chrono::milliseconds request_timeout{10'000};    // from first byte to whole request
    std::chrono::milliseconds response_timeout{60'000};   // handler's deadline to answer
    std::chrono::milliseconds stop_timeout{5'000};        // stop()'s wait for in-flight requests
    std::size_t tasks_pending_max = 65'536;               // run_after() tasks pending
    std::size_t stream_buffered_bytes_max = 256 * 1024;   // unsent bytes of one stream; beyond: cut
    ErrorResponse error_response = problem_response;      // bodies of the server's own errors
};

// Counters of one server, read by stats() from any thread.
struct ServerStats {
    std::size_t connections_open = 0;  // registered connections (not those being refused)
    std::size_t connections_max = 0;   // ServerOptions::connections_max
    std::uint64_t refused_connections_max_total = 0;  // 503 too_many_connections
    std::uint64_t refused_address_max_total = 0;      // 429 too_many_connections_from_address
    std::uint64_t first_byte_timeouts_total = 0;      // closed silent after first_byte_timeout
    // True when a new connection would be refused for the global bound.
    [[nodiscard]] bool saturated() const { return connections_open >= connections_max; }
};

namespace detail {
struct ResponderState;
struct StreamState;
}  // namespace detail

// Writes the body of a streamed response (see Responder::stream). Copyable; every copy refers
// to the same stream. May be used from any thread, also after the server stopped. When the
// last copy is destroyed the stream ends as if end() had been called.
class StreamWriter {
public:
    // Queues `bytes` as the next piece of the body. False when the stream has ended, the peer
    // went away, the server is stopping, or the bytes would take the unsent total above
    // stream_buffered_bytes_max (the connection is then cut). Empty bytes send nothing.
    [[nodiscard]] bool write(std::string bytes) const;
    // Ends the body; the connection closes once everything queued is sent. Idempotent.
    void end() const;
    // True until the stream ended or its connection is gone.
    [[nodiscard]] bool open() const;

    // Made by Responder::stream(); applications only copy or move StreamWriters.
    explicit StreamWriter(std::shared_ptr<detail::StreamState> state);

private:
    std::shared_ptr<detail::StreamState> state_;
};

// Answers one request, once. Copyable and movable; every copy refers to the same request, and
// the first call wins. May be called from any thread, also after the server stopped.
class Responder {
public:
    // Sends `response`. True when this call answered the request; false when it had been
    // answered already (by another copy or by the server's timeout), the connection is gone, or
    // the server stopped. A "Connection: close" header closes the connection after sending.
    bool operator()(Response response) const;
    // True once the request has been answered by anyone.
    [[nodiscard]] bool answered() const;
    // Answers with `status` and `headers` now, and leaves the body to the returned writer
    // (sent with chunked transfer coding; Content-Length and Transfer-Encoding are the
    // transport's). nullopt when the request had been answered already or its connection is
    // gone. An invalid status or header answers 500 instead and the writer is closed.
    [[nodiscard]] std::optional<StreamWriter> stream(int status, Headers headers) const;

    // Made by the server for each request; applications only copy or move Responders.
    explicit Responder(std::shared_ptr<detail::ResponderState> state);

private:
    std::shared_ptr<detail::ResponderState> state_;
};

using Handler = std::function<void(Request request, Responder responder)>;

class Server {
public:
    // Binds and listens on options.host:options.port, then starts the I/O threads.
    // Errors: invalid_argument (bad options or host, no error_response), unavailable (bind or
    // listen failed).
    static Result<std::unique_ptr<Server>> start(const ServerOptions& options, Handler handler);
    ~Server();  // stop()
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    Server(Server&&) = delete;
    Server& operator=(Server&&) = delete;

    // The bound port (the kernel's pick when options.port was 0).
    [[nodiscard]] std::uint16_t port() const;
    // Connections open and refused so far. Any thread.
    [[nodiscard]] ServerStats stats() const;

    // Runs `task` on an I/O thread after `delay`; same contract as Scheduler::run_after (a
    // pending task runs early, on the thread calling stop(), when the server stops).
    // Errors: unavailable when stopped or tasks_pending_max tasks are pending.
    Result<TimerId> run_after(std::chrono::microseconds delay, Task task);
    bool cancel(TimerId id);

    // Closes the listener, runs pending run_after() tasks, closes idle connections, lets
    // in-flight requests be answered (then closes their connections) for at most stop_timeout,
    // then cuts what remains and joins the I/O threads. Idempotent.
    void stop();

    class Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace qrpay::http
