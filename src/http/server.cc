// Server: Beast/Asio behind the plain types of http/server.h.
//
// The listener and the connections it admits: Server::Impl accepts on its first context, admits or
// refuses each connection (connections_max, connections_per_address_max) and keeps every
// serving session in a registry so that stop() can reach and wait for it, and counts them per
// peer address. A connection is a detail::Session (http/session.h, with its state machine); its
// request/response phases are here, its streaming phase in streaming.cc.

#include "http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/thread_name.h"
#include "http/session.h"
#include "http/timer_set.h"

namespace qrpay::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
namespace {

constexpr std::size_t first_read_bytes = 4096;
constexpr std::chrono::milliseconds linger_timeout{1000};
constexpr std::chrono::milliseconds accept_retry_delay{100};
constexpr std::chrono::milliseconds force_close_wait{1000};
constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

bool iequals(std::string_view left, std::string_view right) {
    CaseInsensitiveLess less;
    return !less(left, right) && !less(right, left);
}

bool is_token_char(char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte > 32 && byte < 127 &&
           std::string_view("\"(),/:;<=>?@[\\]{}").find(c) == std::string_view::npos;
}

// A header the application may set: a token name and a value without control line breaks.
bool is_valid_header(std::string_view name, std::string_view value) {
    if (name.empty()) {
        return false;
    }
    for (char c : name) {
        if (!is_token_char(c)) {
            return false;
        }
    }
    return value.find_first_of("\r\n") == std::string_view::npos;
}

// A JSON string literal for `text`: quotes, backslashes and control bytes escaped.
std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte >= 0x7f) {
            out += '?';  // keeps the document valid UTF-8 whatever the peer sent
        } else if (byte < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(byte));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

void run_context_logged(net::io_context& context) {
    for (;;) {
        try {
            context.run();
            return;
        } catch (const std::exception& error) {
            QRPAY_LOG_ERROR("http server: I/O thread caught: %s", error.what());
        }
    }
}

}  // namespace

namespace detail {

Peer peer_of(const tcp::socket& socket) {
    error_code error;
    tcp::endpoint endpoint = socket.remote_endpoint(error);
    if (error) {
        return {"?", "?"};
    }
    std::string ip = endpoint.address().to_string();
    return {ip + ":" + std::to_string(endpoint.port()), ip};
}

// A status and headers the server can send as the application gave them.
bool is_valid_head(int status, const Headers& headers) {
    if (status < 100 || status > 599) {
        return false;
    }
    return std::all_of(headers.begin(), headers.end(), [](const auto& header) {
        return is_valid_header(header.first, header.second);
    });
}

// Headers the transport owns: the application's copies are ignored.
bool is_transport_header(std::string_view name) {
    return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
           iequals(name, "Connection");
}

}  // namespace detail

class Server::Impl {
public:
    Impl(const ServerOptions& options, Handler handler);
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    Impl(Impl&&) = delete;
    Impl& operator=(Impl&&) = delete;

    Status listen();
    void start_threads();
    void stop();
    std::uint16_t port() const { return port_; }
    detail::TimerSet& timers() { return timers_; }

    ServerStats stats();

    // For sessions.
    const ServerOptions& options() const { return options_; }
    const Handler& handler() const { return handler_; }
    bool stopping() const { return stopping_.load(); }
    const std::shared_ptr<detail::Gate>& gate() const { return gate_; }
    void on_session_closed(detail::Session* session);
    void on_first_byte_timeout() { ++first_byte_timeouts_; }
    // The body of an error the server answers itself (ServerOptions::error_response, or the
    // default when that throws).
    Response error_response(int status, std::string_view code, std::string_view detail) const;

private:
    enum class Admission { accepted, connections_max, address_max };

    void do_accept();
    void on_accept(const error_code& error, tcp::socket socket);
    Admission register_session(const std::shared_ptr<detail::Session>& session);
    std::vector<std::shared_ptr<detail::Session>> sessions_snapshot();
    bool wait_sessions_gone(std::chrono::milliseconds timeout);

    using WorkGuard = net::executor_work_guard<net::io_context::executor_type>;

    // The context the next accepted connection lives on (round robin).
    net::io_context& next_context();

    // One io_context per I/O thread, each run by its thread alone: a connection lives on one
    // of them for its whole life, so its handlers never contend with another thread's for
    // the context's queue and reactor, and no I/O thread wakes another. Declared first:
    // destroyed last, after everything using them. contexts_[0] also runs the acceptor and
    // the timers.
    std::vector<std::unique_ptr<net::io_context>> contexts_;
    std::vector<WorkGuard> work_;
    std::size_t next_context_ = 0;  // used on accept_executor_
    const ServerOptions options_;
    const Handler handler_;
    // contexts_[0]'s: one thread, so the acceptor and its retry timer need no strand.
    net::io_context::executor_type accept_executor_;
    tcp::acceptor acceptor_;                // used on accept_executor_
    net::steady_timer accept_retry_timer_;  // used on accept_executor_
    detail::TimerSet timers_;
    std::shared_ptr<detail::Gate> gate_ = std::make_shared<detail::Gate>();
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};

    // Shared by the acceptor (adds), sessions (remove themselves), stop() (waits) and
    // stats() (any thread).
    std::mutex sessions_mutex_;
    std::condition_variable sessions_changed_;
    std::unordered_map<detail::Session*, std::shared_ptr<detail::Session>> sessions_;
    std::unordered_map<std::string, std::size_t> sessions_per_address_;  // never holds a 0

    std::atomic<std::uint64_t> refused_connections_max_{0};
    std::atomic<std::uint64_t> refused_address_max_{0};
    std::atomic<std::uint64_t> first_byte_timeouts_{0};

    std::mutex stop_mutex_;  // makes stop() idempotent when called from several threads
    bool stopped_ = false;   // guarded by stop_mutex_
    std::vector<std::thread> threads_;
};

}  // namespace qrpay::http

namespace qrpay::http::detail {

void Session::deliver_error(int status, std::string_view code, std::string detail) {
    post([status, code = std::string(code), detail](Session& self) {
        self.write_response(self.server_.error_response(status, code, detail), false);
    });
}

std::size_t Session::stream_buffered_bytes_max() const {
    return server_.options().stream_buffered_bytes_max;
}

void Session::wait_for_request() {
    phase_ = Phase::idle;
    if (server_.stopping()) {
        close();  // between requests: nothing of ours is unread, so no lingering is needed
        return;
    }
    if (buffer_.size() > 0) {  // a pipelined request is already here
        read_header();
        return;
    }
    // A new connection gets a short wait: an idle socket that never speaks holds a slot of
    // connections_max, so silence costs the peer its connection early.
    stream_.expires_after(received_any_ ? server_.options().idle_timeout
                                        : server_.options().first_byte_timeout);
    stream_.async_read_some(
        buffer_.prepare(first_read_bytes),
        [self = shared_from_this()](const error_code& error, std::size_t bytes) {
            if (error) {
                if (error == beast::error::timeout && !self->received_any_) {
                    self->server_.on_first_byte_timeout();
                }
                self->close();  // idle timeout, peer closed, or stop
                return;
            }
            self->received_any_ = true;
            self->buffer_.commit(bytes);
            self->read_header();
        });
}

void Session::read_header() {
    phase_ = Phase::reading;
    const ServerOptions& options = server_.options();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options.header_bytes_max));
    parser_->body_limit(static_cast<std::uint64_t>(options.body_bytes_max));
    // Not the stream's own expiry: that closes the socket, and a 408 could not be sent. The
    // timer cancels the pending read instead, and on_read_error answers.
    stream_.expires_never();
    request_timed_out_ = false;
    request_timer_.expires_after(options.request_timeout);
    request_timer_.async_wait([self = shared_from_this()](const error_code& error) {
        if (!error && self->phase_ == Phase::reading) {
            self->request_timed_out_ = true;
            error_code ignored;
            self->stream_.socket().cancel(ignored);
        }
    });
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](const error_code& error, std::size_t) {
                                 self->on_header(error);
                             });
}

void Session::on_header(const error_code& error) {
    if (error) {
        on_read_error(error);
        return;
    }
    const auto& message = parser_->get();
    if (message.version() >= 11 && message.find(bhttp::field::host) == message.end()) {
        answer_error(400, fault::malformed_request, "HTTP/1.1 request without Host header");
        return;
    }
    if (parser_->is_done()) {
        dispatch();
        return;
    }
    if (!iequals(message[bhttp::field::expect], "100-continue")) {
        read_body();
        return;
    }
    net::async_write(stream_, net::buffer(continue_line.data(), continue_line.size()),
                     [self = shared_from_this()](const error_code& write_error, std::size_t) {
                         if (write_error) {
                             self->close();
                             return;
                         }
                         self->read_body();
                     });
}

void Session::read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](const error_code& error, std::size_t) {
                          if (error) {
                              self->on_read_error(error);
                              return;
                          }
                          self->dispatch();
                      });
}

void Session::on_read_error(const error_code& error) {
    const ServerOptions& options = server_.options();
    request_timer_.cancel();
    if (request_timed_out_) {
        answer_error(408, fault::request_timeout,
                     "request not received within " +
                         std::to_string(options.request_timeout.count()) + " ms");
    } else if (error == bhttp::error::body_limit) {
        answer_error(
            413, fault::body_too_large,
            "request body larger than " + std::to_string(options.body_bytes_max) + " bytes");
    } else if (error == bhttp::error::header_limit) {
        answer_error(
            431, fault::headers_too_large,
            "request header larger than " + std::to_string(options.header_bytes_max) + " bytes");
    } else if (error == bhttp::error::end_of_stream || error == bhttp::error::partial_message ||
               error.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) {
        close();  // the peer went away, or a socket error: nobody to answer
    } else {
        answer_error(400, fault::malformed_request, "malformed request: " + error.message());
    }
}

void Session::dispatch() {
    request_timer_.cancel();
    auto& message = parser_->get();
    auto target = parse_target(message.target());
    if (!target.ok()) {
        answer_error(400, fault::malformed_request, target.status().message());
        return;
    }
    Request request;
    request.method = std::string(message.method_string());
    request.path = std::move(target->path);
    request.query = std::move(target->query);
    for (const auto& field : message) {
        auto [it, inserted] =
            request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
        if (!inserted) {
            it->second += ", ";
            it->second += field.value();
        }
    }
    request.body = std::move(message.body());
    request.remote_address = peer_.address;
    keep_alive_ = message.keep_alive();
    chunked_ = message.version() >= 11;
    parser_.reset();
    call_handler(std::move(request));
}

void Session::call_handler(Request request) {
    phase_ = Phase::handling;
    stream_.expires_never();
    answered_ = std::make_shared<std::atomic<bool>>(false);
    response_timer_.expires_after(server_.options().response_timeout);
    response_timer_.async_wait([self = shared_from_this(),
                                answered = answered_](const error_code& error) {
        if (!error && !answered->exchange(true)) {
            QRPAY_LOG_WARN("http server: no answer in time for a request from %s",
                           self->peer_.address.c_str());
            self->write_response(
                self->server_.error_response(
                    503, fault::response_timeout,
                    "no answer within " +
                        std::to_string(self->server_.options().response_timeout.count()) + " ms"),
                false);
        }
    });
    // A local copy outlives the call, so that a throwing handler is answered below (not by the
    // destructor of a dropped Responder); if the handler keeps no copy, its end answers 500.
    Responder responder(
        std::make_shared<ResponderState>(weak_from_this(), answered_, server_.gate()));
    try {
        server_.handler()(std::move(request), responder);
    } catch (const std::exception& error) {
        QRPAY_LOG_ERROR("http server: handler threw: %s", error.what());
        if (!answered_->exchange(true)) {
            write_response(server_.error_response(500, fault::internal, "the handler failed"),
                           false);
        }
    } catch (...) {
        QRPAY_LOG_ERROR("http server: handler threw a non-standard exception");
        if (!answered_->exchange(true)) {
            write_response(server_.error_response(500, fault::internal, "the handler failed"),
                           false);
        }
    }
}

// A response the server makes itself after a bad read: the connection closes after it.
void Session::answer_error(int status, std::string_view code, std::string_view detail) {
    phase_ = Phase::writing;
    keep_alive_ = false;
    write_response(server_.error_response(status, code, detail), true);
}

void Session::write_response(Response response, bool close_after) {
    if (phase_ == Phase::closed) {
        return;  // the connection went away while the handler worked
    }
    QRPAY_ASSERT(phase_ == Phase::handling || phase_ == Phase::writing,
                 "a response for a connection that has no request");
    response_timer_.cancel();
    phase_ = Phase::writing;
    if (!fill_response(response, close_after)) {
        Response error = server_.error_response(500, fault::internal,
                                                "the handler answered an invalid response");
        bool filled = fill_response(error, close_after);
        QRPAY_ASSERT(filled, "the server's own error response is valid");
    }
    stream_.expires_after(server_.options().request_timeout);
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this()](const error_code& error, std::size_t) {
                           self->on_write(error);
                       });
}

// Copies `response` into response_; false (and logs) when the application's response is
// invalid (status out of range, header with a bad name or a line break).
bool Session::fill_response(Response& response, bool close_after) {
    if (!is_valid_head(response.status, response.headers)) {
        QRPAY_LOG_ERROR("http server: handler answered with status %d or an invalid header",
                        response.status);
        return false;
    }
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) {
        if (!is_transport_header(name)) {
            response_.set(name, value);
        }
    }
    response_.set(bhttp::field::server, "qrpay");
    bool keep_alive = keep_alive_ && !close_after && !server_.stopping() &&
                      !iequals(response.header("Connection"), "close");
    response_.body() = std::move(response.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    return true;
}

void Session::on_write(const error_code& error) {
    if (error) {
        close();
        return;
    }
    if (response_.keep_alive()) {
        wait_for_request();
    } else {
        linger_close();
    }
}

// Shuts our sending side, then reads and discards what the peer still sends (bounded in bytes
// and time) so that its kernel does not turn our answer into a connection reset.
void Session::linger_close() {
    phase_ = Phase::lingering;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    drained_bytes_ = 0;
    stream_.expires_after(linger_timeout);
    drain();
}

void Session::drain() {
    stream_.async_read_some(
        net::buffer(drain_buffer_),
        [self = shared_from_this()](const error_code& error, std::size_t bytes) {
            self->drained_bytes_ += bytes;
            if (error || self->drained_bytes_ > linger_bytes_max) {
                self->close();
                return;
            }
            self->drain();
        });
}

void Session::close() {
    if (phase_ == Phase::closed) {
        return;
    }
    phase_ = Phase::closed;
    response_timer_.cancel();
    request_timer_.cancel();
    if (stream_shared_) {
        stream_shared_->closed = true;
    }
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    server_.on_session_closed(this);
}
ResponderState::~ResponderState() {
    if (!answered->exchange(true)) {
        QRPAY_LOG_WARN("http server: a request was dropped unanswered by its handler");
        (void)with_live_session(*this, [](Session& live) {
            live.deliver_error(500, fault::internal, "the handler dropped the request unanswered");
        });
    }
}

bool deliver(const ResponderState& state, Response response) {
    return with_live_session(state,
                             [&](Session& session) { session.deliver(std::move(response)); });
}

}  // namespace qrpay::http::detail

namespace qrpay::http {

namespace {

std::vector<std::unique_ptr<net::io_context>> make_contexts(std::size_t count) {
    std::vector<std::unique_ptr<net::io_context>> contexts;
    for (std::size_t i = 0; i < count; ++i) {
        contexts.push_back(std::make_unique<net::io_context>(1));  // run by one thread
    }
    return contexts;
}

}  // namespace

Server::Impl::Impl(const ServerOptions& options, Handler handler)
    : contexts_(make_contexts(options.threads)),
      options_(options),
      handler_(std::move(handler)),
      accept_executor_(contexts_.front()->get_executor()),
      acceptor_(accept_executor_),
      accept_retry_timer_(accept_executor_),
      timers_(contexts_.front()->get_executor(), options.tasks_pending_max) {}

Server::Impl::~Impl() { stop(); }

Status Server::Impl::listen() {
    error_code error;
    tcp::endpoint endpoint;
    net::ip::address address = net::ip::make_address(options_.host, error);
    if (!error) {
        endpoint = tcp::endpoint(address, options_.port);
    } else {
        tcp::resolver resolver(*contexts_.front());
        auto results = resolver.resolve(options_.host, std::to_string(options_.port), error);
        if (error || results.empty()) {
            return {Errc::invalid_argument, "cannot resolve host '" + options_.host + "'"};
        }
        endpoint = results.begin()->endpoint();
    }
    std::string where = options_.host + ":" + std::to_string(options_.port);
    if (acceptor_.open(endpoint.protocol(), error) ||
        acceptor_.set_option(net::socket_base::reuse_address(true), error) ||
        acceptor_.bind(endpoint, error) ||
        acceptor_.listen(net::socket_base::max_listen_connections, error)) {
        return {Errc::unavailable, "cannot listen on " + where + ": " + error.message()};
    }
    port_ = acceptor_.local_endpoint(error).port();
    if (error) {
        return {Errc::unavailable, "cannot read the bound port: " + error.message()};
    }
    return {};
}

void Server::Impl::start_threads() {
    for (const auto& context : contexts_) {
        work_.push_back(net::make_work_guard(*context));
    }
    net::post(accept_executor_, [this] { do_accept(); });
    for (std::size_t i = 0; i < contexts_.size(); ++i) {
        threads_.emplace_back([this, i] {
            set_current_thread_name("http-server-" + std::to_string(i));
            run_context_logged(*contexts_[i]);
        });
    }
}

net::io_context& Server::Impl::next_context() {
    net::io_context& context = *contexts_[next_context_];
    next_context_ = (next_context_ + 1) % contexts_.size();
    return context;
}

void Server::Impl::do_accept() {
    // A strand although each context has one thread: it keeps the order of posts made from
    // different threads. A plain io_context runs a post from another thread ahead of an earlier
    // one its own thread made inside a handler (that one waits in the thread's private queue
    // until the handler returns), and a stream's first piece would overtake its head.
    acceptor_.async_accept(net::make_strand(next_context()),
                           [this](const error_code& error, tcp::socket socket) {
                               on_accept(error, std::move(socket));
                           });
}

void Server::Impl::on_accept(const error_code& error, tcp::socket socket) {
    if (error == net::error::operation_aborted || stopping_) {
        return;
    }
    if (error) {  // e.g. out of file descriptors: back off instead of spinning
        QRPAY_LOG_WARN("http server: accept failed: %s", error.message().c_str());
        accept_retry_timer_.expires_after(accept_retry_delay);
        accept_retry_timer_.async_wait([this](const error_code& wait_error) {
            if (!wait_error && !stopping_) {
                do_accept();
            }
        });
        return;
    }
    auto session = std::make_shared<detail::Session>(*this, std::move(socket));
    // Not registered: a refused session answers and closes on its own.
    switch (register_session(session)) {
        case Admission::accepted:
            session->start();
            break;
        case Admission::connections_max:
            ++refused_connections_max_;
            session->reject(503, fault::too_many_connections,
                            std::to_string(options_.connections_max) + " connections are open");
            break;
        case Admission::address_max:
            ++refused_address_max_;
            session->reject(429, fault::too_many_connections_from_address,
                            std::to_string(options_.connections_per_address_max) +
                                " connections are open from this address");
            break;
    }
    do_accept();
}

Server::Impl::Admission Server::Impl::register_session(
    const std::shared_ptr<detail::Session>& session) {
    std::lock_guard lock(sessions_mutex_);
    if (sessions_.size() >= options_.connections_max) {
        return Admission::connections_max;
    }
    std::size_t& from_address = sessions_per_address_[session->peer_address()];
    if (from_address >= options_.connections_per_address_max) {
        return Admission::address_max;  // from_address >= 1, so the map holds no 0
    }
    ++from_address;
    bool inserted = sessions_.emplace(session.get(), session).second;
    QRPAY_ASSERT(inserted, "a session registers once");
    QRPAY_ASSERT(sessions_.size() <= options_.connections_max, "the registry stays bounded");
    return Admission::accepted;
}

void Server::Impl::on_session_closed(detail::Session* session) {
    std::lock_guard lock(sessions_mutex_);
    if (sessions_.erase(session) > 0) {
        auto counted = sessions_per_address_.find(session->peer_address());
        QRPAY_ASSERT(counted != sessions_per_address_.end() && counted->second > 0,
                     "a registered session is counted under its address");
        if (--counted->second == 0) {
            sessions_per_address_.erase(counted);
        }
        sessions_changed_.notify_all();
    }
}

ServerStats Server::Impl::stats() {
    ServerStats stats;
    {
        std::lock_guard lock(sessions_mutex_);
        stats.connections_open = sessions_.size();
    }
    stats.connections_max = options_.connections_max;
    stats.refused_connections_max_total = refused_connections_max_.load();
    stats.refused_address_max_total = refused_address_max_.load();
    stats.first_byte_timeouts_total = first_byte_timeouts_.load();
    return stats;
}

Response Server::Impl::error_response(int status,
                                      std::string_view code,
                                      std::string_view detail) const {
    Response response;
    try {
        response = options_.error_response(status, code, detail);
    } catch (const std::exception& error) {
        QRPAY_LOG_ERROR("http server: error_response threw: %s", error.what());
        response = problem_response(status, code, detail);
    }
    if (response.status != status || !detail::is_valid_head(response.status, response.headers)) {
        QRPAY_LOG_ERROR("http server: error_response made an invalid response for %d", status);
        response = problem_response(status, code, detail);
    }
    if ((status == 429 || status == 503) && response.header("Retry-After").empty()) {
        response.headers["Retry-After"] = "1";  // every refusal says when to come back
    }
    return response;
}

std::vector<std::shared_ptr<detail::Session>> Server::Impl::sessions_snapshot() {
    std::lock_guard lock(sessions_mutex_);
    std::vector<std::shared_ptr<detail::Session>> sessions;
    sessions.reserve(sessions_.size());
    for (const auto& [key, session] : sessions_) {
        sessions.push_back(session);
    }
    return sessions;
}

bool Server::Impl::wait_sessions_gone(std::chrono::milliseconds timeout) {
    std::unique_lock lock(sessions_mutex_);
    return sessions_changed_.wait_for(lock, timeout, [this] { return sessions_.empty(); });
}

void Server::Impl::stop() {
    std::lock_guard stop_lock(stop_mutex_);
    if (stopped_) {
        return;
    }
    for (const std::thread& thread : threads_) {
        QRPAY_ASSERT(thread.get_id() != std::this_thread::get_id(),
                     "Server::stop() called from a handler or task");
    }
    stopping_ = true;
    net::post(accept_executor_, [this] {
        error_code ignored;
        acceptor_.close(ignored);
        accept_retry_timer_.cancel();
    });
    timers_.run_all_now();
    for (const auto& session : sessions_snapshot()) {
        session->on_server_stop();
    }
    if (!wait_sessions_gone(options_.stop_timeout)) {
        auto remaining = sessions_snapshot();
        QRPAY_LOG_WARN("http server: stop cuts %zu connection(s) still busy after %lld ms",
                       remaining.size(), static_cast<long long>(options_.stop_timeout.count()));
        for (const auto& session : remaining) {
            session->force_close();
        }
        (void)wait_sessions_gone(force_close_wait);
    }
    {
        std::unique_lock gate_lock(gate_->mutex);
        gate_->open = false;
    }
    work_.clear();
    for (const auto& context : contexts_) {
        context->stop();
    }
    for (std::thread& thread : threads_) {
        thread.join();
    }
    // The posted close may not have run before the contexts stopped; the port must be free
    // when stop() returns (a restarted server binds it again).
    error_code ignored;
    acceptor_.close(ignored);
    std::lock_guard lock(sessions_mutex_);
    sessions_.clear();  // while the contexts still exist
    sessions_per_address_.clear();
    stopped_ = true;
}

Responder::Responder(std::shared_ptr<detail::ResponderState> state) : state_(std::move(state)) {
    QRPAY_ASSERT(state_ != nullptr, "a Responder needs a request");
}

bool Responder::operator()(Response response) const {
    if (state_->answered->exchange(true)) {
        return false;
    }
    return detail::deliver(*state_, std::move(response));
}

bool Responder::answered() const { return state_->answered->load(); }
Response problem_response(int status, std::string_view code, std::string_view detail) {
    Response response;
    response.status = status;
    response.headers["Content-Type"] = "application/problem+json";
    response.body = "{\"type\":\"about:blank\",\"title\":" + json_string(reason_phrase(status)) +
                    ",\"status\":" + std::to_string(status) + ",\"detail\":" + json_string(detail) +
                    ",\"code\":" + json_string(code) + "}";
    return response;
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options, Handler handler) {
    if (options.connections_per_address_max < 1 || options.error_response == nullptr) {
        return Status(Errc::invalid_argument,
                      "http server: connections_per_address_max must be >= 1 and error_response "
                      "set");
    }
    if (handler == nullptr || options.threads < 1 || options.connections_max < 1 ||
        options.body_bytes_max < 1 || options.header_bytes_max < 256 ||
        options.header_bytes_max > UINT32_MAX || options.tasks_pending_max < 1) {
        return Status(Errc::invalid_argument, "bad http server options or no handler");
    }
    if (options.idle_timeout.count() <= 0 || options.first_byte_timeout.count() <= 0 ||
        options.request_timeout.count() <= 0 || options.response_timeout.count() <= 0 ||
        options.stop_timeout.count() < 0) {
        return Status(Errc::invalid_argument, "http server timeouts must be positive");
    }
    auto impl = std::make_unique<Impl>(options, std::move(handler));
    Status status = impl->listen();
    if (!status.ok()) {
        return status;
    }
    impl->start_threads();
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

std::uint16_t Server::port() const { return impl_->port(); }

ServerStats Server::stats() const { return impl_->stats(); }

Result<TimerId> Server::run_after(std::chrono::microseconds delay, Task task) {
    return impl_->timers().run_after(delay, std::move(task));
}

bool Server::cancel(TimerId id) { return impl_->timers().cancel(id); }

void Server::stop() { impl_->stop(); }

}  // namespace qrpay::http
