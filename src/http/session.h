#pragma once
// Private to http/: one connection of the Server (Session) and what the Responders and
// StreamWriters of its requests share with it. Includes Beast and Asio, so only http/*.cc may
// include it.
//
// One Session per connection, all its work on its own strand. A session goes
//   idle (waiting for the first byte: first_byte_timeout on a new connection, idle_timeout
//   between requests) -> reading (request_timeout) ->
//   handling (the handler holds a Responder, response_timeout) -> writing -> idle again on
//   keep-alive, or -> lingering (send side shut, input drained briefly so the peer reads our
//   answer instead of a reset) -> closed;
//   or handling -> streaming (the head sent, the body in pieces from StreamWriters) -> closed.
// server.cc holds the request/response phases, streaming.cc the streaming phase.

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "http/message.h"
#include "http/server.h"

namespace qrpay::http::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// What a lingering or streaming session reads and discards from its peer at most.
inline constexpr std::size_t linger_bytes_max = 1024 * 1024;

// A status and headers the server can send as the application gave them.
bool is_valid_head(int status, const Headers& headers);
// Headers the transport owns: the application's copies are ignored.
bool is_transport_header(std::string_view name);

// Who is at the other end, read once per connection: "ip:port" for requests and logs, and
// the IP alone, the key of the per-address bound ("?" when unknown, so all unknown peers
// share one budget).
struct Peer {
    std::string address;
    std::string ip;
};
Peer peer_of(const tcp::socket& socket);  // {"?", "?"} when the socket cannot tell

class Session;

// Keeps Responder calls away from the I/O context once stop() has torn it down.
struct Gate {
    std::shared_mutex mutex;
    bool open = true;  // guarded by mutex
};

struct ResponderState {
    ResponderState(std::weak_ptr<Session> session_in,
                   std::shared_ptr<std::atomic<bool>> answered_in,
                   std::shared_ptr<Gate> gate_in)
        : session(std::move(session_in)),
          answered(std::move(answered_in)),
          gate(std::move(gate_in)) {}
    ResponderState(const ResponderState&) = delete;
    ResponderState& operator=(const ResponderState&) = delete;
    ResponderState(ResponderState&&) = delete;
    ResponderState& operator=(ResponderState&&) = delete;
    ~ResponderState();

    std::weak_ptr<Session> session;
    std::shared_ptr<std::atomic<bool>> answered;  // shared with the session's timeout
    std::shared_ptr<Gate> gate;
};

// What a streaming session and the StreamState of its writers share.
struct StreamShared {
    std::atomic<bool> closed{false};             // the session is done with the stream
    std::atomic<std::size_t> buffered_bytes{0};  // queued by writers, not yet sent
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(Server::Impl& server, tcp::socket socket)
        : server_(server),
          executor_(socket.get_executor()),
          stream_(std::move(socket)),
          response_timer_(executor_),
          request_timer_(executor_),
          peer_(peer_of(stream_.socket())) {}

    const std::string& peer_address() const { return peer_.ip; }

    // Each of these may be called from any thread; the work happens on the session's strand,
    // in the order of the calls.
    void start() {
        post([](Session& self) { self.wait_for_request(); });
    }
    // Answers a connection the server did not admit, then closes it.
    void reject(int status, std::string_view code, std::string detail) {
        post([status, code = std::string(code), detail](Session& self) {
            self.phase_ = Phase::writing;
            self.answer_error(status, code, detail);
        });
    }
    void on_server_stop() {
        post([](Session& self) {
            if (self.phase_ == Phase::idle || self.phase_ == Phase::lingering) {
                self.close();
            } else if (self.phase_ == Phase::streaming) {
                self.end_streaming();
            }
        });
    }
    void force_close() {
        post([](Session& self) { self.close(); });
    }
    // Answers the request with the server's own error `code` (a dropped Responder).
    void deliver_error(int status, std::string_view code, std::string detail);
    void deliver(Response response) {
        net::post(executor_, [self = shared_from_this(), response = std::move(response)]() mutable {
            self->write_response(std::move(response), false);
        });
    }
    void begin_stream(Response head, std::shared_ptr<StreamShared> shared) {
        net::post(executor_, [self = shared_from_this(), head = std::move(head),
                              shared = std::move(shared)]() mutable {
            self->start_streaming(std::move(head), std::move(shared));
        });
    }
    void stream_piece(std::string bytes) {
        net::post(executor_, [self = shared_from_this(), bytes = std::move(bytes)]() mutable {
            self->queue_piece(std::move(bytes));
        });
    }
    void stream_end() {
        post([](Session& self) { self.end_streaming(); });
    }
    std::size_t stream_buffered_bytes_max() const;

private:
    enum class Phase { idle, reading, handling, writing, streaming, lingering, closed };

    template <class Fn>
    void post(Fn fn) {
        net::post(executor_, [self = shared_from_this(), fn] { fn(*self); });
    }

    void wait_for_request();
    void read_header();
    void on_header(const error_code& error);
    void read_body();
    void on_read_error(const error_code& error);
    void dispatch();
    void call_handler(Request request);
    void answer_error(int status, std::string_view code, std::string_view detail);
    void write_response(Response response, bool close_after);
    bool fill_response(Response& response, bool close_after);
    void on_write(const error_code& error);
    void linger_close();
    void drain();
    void close();
    // The streaming phase (streaming.cc).
    void start_streaming(Response head, std::shared_ptr<StreamShared> shared);
    std::string stream_head(const Response& head) const;
    void queue_piece(std::string bytes);
    void end_streaming();
    void send_next_piece();
    void watch_peer();

    Server::Impl& server_;
    const net::any_io_executor executor_;  // the connection's strand (see do_accept)
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    bhttp::response<bhttp::string_body> response_;
    net::steady_timer response_timer_;
    net::steady_timer request_timer_;              // request_timeout while reading a request
    bool request_timed_out_ = false;               // set by request_timer_, read by on_read_error
    std::shared_ptr<std::atomic<bool>> answered_;  // of the request with the handler
    const Peer peer_;
    std::array<char, 4096> drain_buffer_{};
    std::size_t drained_bytes_ = 0;
    Phase phase_ = Phase::idle;
    bool received_any_ = false;  // false until the connection's first byte arrived
    bool keep_alive_ = false;
    bool chunked_ = true;  // false for an HTTP/1.0 request: a streamed body ends at close
    // While streaming: pieces waiting to be sent (their bytes are counted in
    // stream_shared_->buffered_bytes), whether one is being written, whether the end was asked for.
    std::shared_ptr<StreamShared> stream_shared_;
    std::deque<std::string> stream_queue_;
    bool stream_sending_ = false;
    bool stream_ending_ = false;
};

// Runs `use` on the request's session while the server is open and the session alive (the
// gate's shared lock held throughout); false when either is gone.
template <class Use>
bool with_live_session(const ResponderState& state, Use use) {
    std::shared_lock lock(state.gate->mutex);
    if (!state.gate->open) {
        return false;
    }
    std::shared_ptr<Session> session = state.session.lock();
    if (!session) {
        return false;
    }
    use(*session);
    return true;
}

}  // namespace qrpay::http::detail
