#pragma once
// Server: a generic HTTP/1.1 server (keep-alive, bounded sizes, asynchronous handlers).
// It knows no route and no payment word; the application installs one Handler.
//
// Life of a request
//   The server reads a request (header_bytes_max, body_bytes_max, request_timeout), then calls
//   the Handler on an I/O thread with the Request and a Responder. The handler returns at once
//   and answers through the Responder now or later, from any thread (after an entity persists,
//   after a long-poll wait). The connection waits for that answer, at most response_timeout,
//   then reads the next request (keep-alive) or closes.
//
//   Answered by the server itself, without calling the handler:
//     400 malformed request (bad request line, header or chunk; bad target; HTTP/1.1 sans Host)
//     408 the request was not fully received within request_timeout
//     413 body larger than body_bytes_max       431 header larger than header_bytes_max
//     503 connections_max connections are open (then closed)
//   and instead of the handler:
//     500 the handler threw, or the last copy of its Responder was destroyed unanswered
//     503 the handler did not answer within response_timeout
//
// Streamed responses (server-sent events): Responder::stream() sends the status and headers at
// once and hands back a StreamWriter; the body follows in pieces (chunked transfer coding) for
// as long as the application writes, and the connection closes after it ends. While a stream
// is open the server watches the connection, so a peer that goes away closes the stream; a
// peer that cannot keep up (more than stream_buffered_bytes_max unsent) is cut; stop() ends
// every open stream.
//
// Threads: `threads` I/O threads, owned and joined by stop(). Handlers and run_after() tasks
// run on them and must not block. Every public method may be called from any thread, except
// that stop() must not be called from a handler or a task.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "http/message.h"
#include "http/scheduler.h"

namespace qrpay::http {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;   // 0: the kernel picks a free port; see port()
    std::size_t threads = 2;  // I/O threads, >= 1
    std::size_t body_bytes_max = 64 * 1024;
    std::size_t header_bytes_max = 8 * 1024;
    std::size_t connections_max = 1024;                  // open connections; beyond: 503 and close
    std::chrono::milliseconds idle_timeout{60'000};      // keep-alive wait for the next request
    std::chrono::milliseconds request_timeout{10'000};   // from first byte to whole request
    std::chrono::milliseconds response_timeout{60'000};  // handler's deadline to answer
    std::chrono::milliseconds stop_timeout{5'000};       // stop()'s wait for in-flight requests
    std::size_t tasks_pending_max = 65'536;              // run_after() tasks pending
    std::size_t stream_buffered_bytes_max = 256 * 1024;  // unsent bytes of one stream; beyond: cut
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
    // Errors: invalid_argument (bad options or host), unavailable (bind or listen failed).
    static Result<std::unique_ptr<Server>> start(const ServerOptions& options, Handler handler);
    ~Server();  // stop()
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    Server(Server&&) = delete;
    Server& operator=(Server&&) = delete;

    // The bound port (the kernel's pick when options.port was 0).
    [[nodiscard]] std::uint16_t port() const;

    // Runs `task` on an I/O thread after `delay`; same contract as Scheduler::run_after (a
    // pending task runs early, on the thread calling stop(), when the server stops).
    // Errors: unavailable when stopped or tasks_pending_max tasks are pending.
    Result<TimerId> run_after(std::chrono::milliseconds delay, Task task);
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
