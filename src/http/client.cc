// Client: Beast/Asio behind http/client.h. Everything below runs on the one I/O thread except
// Client::Impl::submit() and stop(), so the pool needs no lock: one Exchange per call walks
//   waiting (for a pool slot) -> connecting (connect_timeout) -> sending -> receiving
//   (the call's timeout covers both) -> finished, and gives its connection back to the pool
//   when the response allows keep-alive.

#include "http/client.h"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/thread_name.h"

namespace qrpay::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

struct BaseUrl {
    std::string host;
    std::string port;
    std::string prefix;       // "" or "/something", no trailing '/'
    std::string host_header;  // "host:port" as given
};

Result<BaseUrl> parse_base_url(std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (url.substr(0, scheme.size()) != scheme) {
        return Status(Errc::invalid_argument,
                      "base URL must start with http:// : '" + std::string(url) + "'");
    }
    std::string_view rest = url.substr(scheme.size());
    std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') {
        prefix.remove_suffix(1);
    }
    BaseUrl base;
    base.host_header = std::string(authority);
    std::size_t colon = authority.rfind(':');
    std::size_t bracket = authority.rfind(']');
    bool has_port =
        colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
    auto host_port = parse_host_port(has_port ? authority : std::string(authority) + ":80");
    if (!host_port.ok()) {
        return host_port.status();
    }
    base.host = host_port->host;
    base.port = std::to_string(host_port->port);
    base.prefix = std::string(prefix);
    return base;
}

bool iequals(std::string_view left, std::string_view right) {
    CaseInsensitiveLess less;
    return !less(left, right) && !less(right, left);
}

// Safe to send twice (RFC 9110 idempotent methods, or the caller's idempotency key).
bool is_replayable(const ClientRequest& request) {
    return request.method == "GET" || request.method == "HEAD" || request.method == "OPTIONS" ||
           request.replay_on_stale_connection ||
           request.headers.find("Idempotency-Key") != request.headers.end();
}

Status validate(const ClientRequest& request) {
    if (request.method.empty() || request.method.find_first_of(" \t\r\n") != std::string::npos) {
        return {Errc::invalid_argument, "bad HTTP method '" + request.method + "'"};
    }
    if (request.path.empty() || request.path.front() != '/' ||
        request.path.find_first_of(" \t\r\n") != std::string::npos) {
        return {Errc::invalid_argument, "path must start with '/' and hold no space"};
    }
    for (const auto& [name, value] : request.headers) {
        if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos ||
            value.find_first_of("\r\n") != std::string::npos) {
            return {Errc::invalid_argument, "bad header '" + name + "'"};
        }
    }
    return {};
}

bool is_transport_header(std::string_view name) {
    return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
           iequals(name, "Connection") || iequals(name, "Host");
}

Response to_response(bhttp::response<bhttp::string_body>& message) {
    Response response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
        auto [it, inserted] =
            response.headers.emplace(std::string(field.name_string()), std::string(field.value()));
        if (!inserted) {
            it->second += ", ";
            it->second += field.value();
        }
    }
    response.body = std::move(message.body());
    return response;
}

void run_done_logged(const Client::Done& done, Result<Response> result) {
    try {
        done(std::move(result));
    } catch (const std::exception& error) {
        QRPAY_LOG_ERROR("http client: a done callback threw: %s", error.what());
    } catch (...) {
        QRPAY_LOG_ERROR("http client: a done callback threw a non-standard exception");
    }
}

struct Connection {
    explicit Connection(net::io_context& context) : stream(context) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since;
};

class Exchange;

}  // namespace

class Client::Impl {
public:
    Impl(const ClientOptions& options, BaseUrl base);
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    Impl(Impl&&) = delete;
    Impl& operator=(Impl&&) = delete;

    Status resolve();
    void start_thread();
    void submit(ClientRequest request, Done done);  // any thread
    void stop();                                    // any thread but the I/O thread
    bool on_io_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

    // I/O thread only, for exchanges.
    void acquire(const std::shared_ptr<Exchange>& exchange);
    void release(std::unique_ptr<Connection> connection, bool reusable);
    void free_slot();
    void forget(Exchange* exchange) { active_.erase(exchange); }
    void remove_waiting(Exchange* exchange);
    bool stopping() const { return stopping_io_; }
    // Any thread: a call is counted from its Exchange's construction to its finish().
    void count_call_taken() { calls_unfinished_.fetch_add(1, std::memory_order_relaxed); }
    void count_call_finished() { calls_unfinished_.fetch_sub(1, std::memory_order_relaxed); }
    std::size_t calls_unfinished() const {
        return calls_unfinished_.load(std::memory_order_relaxed);
    }
    const ClientOptions& options() const { return options_; }
    const BaseUrl& base() const { return base_; }
    const tcp::resolver::results_type& endpoints() const { return endpoints_; }
    net::io_context& context() { return context_; }

private:
    void prune_idle();
    void shutdown_on_io();
    std::shared_ptr<Exchange> pop_waiting();

    const ClientOptions options_;
    const BaseUrl base_;
    net::io_context context_;  // first I/O member: destroyed after the connections
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
    tcp::resolver::results_type endpoints_;  // resolved once by resolve()

    // I/O thread only.
    std::size_t open_count_ = 0;  // connections open or connecting, <= connections_max
    std::vector<std::unique_ptr<Connection>> idle_;  // back: most recently used
    std::deque<std::shared_ptr<Exchange>> waiting_;  // <= calls_waiting_max
    std::unordered_map<Exchange*, std::weak_ptr<Exchange>> active_;
    bool stopping_io_ = false;

    std::atomic<std::size_t> calls_unfinished_{0};
    std::mutex submit_mutex_;  // orders submit() against stop()
    bool stopped_ = false;     // guarded by submit_mutex_
    std::mutex stop_mutex_;    // makes stop() idempotent across threads
    std::thread thread_;
};

namespace {

// One call, from submit to done. Lives on the I/O thread (after construction).
class Exchange : public std::enable_shared_from_this<Exchange> {
public:
    Exchange(Client::Impl& client, ClientRequest request, Client::Done done)
        : client_(client),
          request_(std::move(request)),
          done_(std::move(done)),
          wait_timer_(client.context()) {
        client_.count_call_taken();
        if (request_.timeout.count() <= 0) {
            request_.timeout = client.options().response_timeout;
        }
    }

    void start();
    void wait_for_slot();
    void stop_waiting() {
        waiting_ = false;
        wait_timer_.cancel();
    }
    void use(std::unique_ptr<Connection> connection, bool reused);
    void connect();
    void abort();
    void finish(Result<Response> result);

private:
    void on_connect(const error_code& error);
    void send();
    void build_wire();
    void receive();
    void on_received();
    void on_failure(const error_code& error);

    Client::Impl& client_;
    ClientRequest request_;
    Client::Done done_;
    net::steady_timer wait_timer_;
    std::unique_ptr<Connection> connection_;
    bhttp::request<bhttp::string_body> wire_;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
    bool registered_ = false;  // in client_.active_
    bool waiting_ = false;
    bool reused_ = false;  // connection_ came from the pool
    bool replayed_ = false;
    bool aborted_ = false;  // by stop()
    bool finished_ = false;
};

void Exchange::start() {
    if (client_.stopping()) {
        finish(Status(Errc::unavailable, "http client stopped"));
        return;
    }
    registered_ = true;
    client_.acquire(shared_from_this());
}

void Exchange::wait_for_slot() {
    waiting_ = true;
    wait_timer_.expires_after(client_.options().connect_timeout);
    wait_timer_.async_wait([self = shared_from_this()](const error_code& error) {
        if (error || !self->waiting_) {
            return;
        }
        self->waiting_ = false;
        self->client_.remove_waiting(self.get());
        self->finish(Status(Errc::unavailable, "no free connection within connect_timeout"));
    });
}

void Exchange::use(std::unique_ptr<Connection> connection, bool reused) {
    connection_ = std::move(connection);
    reused_ = reused;
    send();
}

void Exchange::connect() {
    connection_ = std::make_unique<Connection>(client_.context());
    reused_ = false;
    connection_->stream.expires_after(client_.options().connect_timeout);
    connection_->stream.async_connect(
        client_.endpoints(),
        [self = shared_from_this()](const error_code& error, const tcp::endpoint&) {
            self->on_connect(error);
        });
}

void Exchange::on_connect(const error_code& error) {
    if (!error && !aborted_) {
        send();
        return;
    }
    connection_.reset();
    client_.free_slot();
    const BaseUrl& base = client_.base();
    std::string why = aborted_                         ? std::string("http client stopped")
                      : error == beast::error::timeout ? std::string("timed out")
                                                       : error.message();
    if (replayed_) {
        // The request went out once already, on the pooled connection that then closed: the
        // server may have processed it before it went away.
        finish(Status(Errc::unknown_outcome, "sent, then the connection closed, and " + base.host +
                                                 ":" + base.port +
                                                 " cannot be reached again: " + why));
        return;
    }
    finish(
        Status(Errc::unavailable, "cannot connect to " + base.host + ":" + base.port + ": " + why));
}

void Exchange::build_wire() {
    wire_ = {};
    wire_.version(11);
    wire_.method_string(request_.method);
    wire_.target(client_.base().prefix + request_.path);
    wire_.set(bhttp::field::host, client_.base().host_header);
    wire_.set(bhttp::field::user_agent, "qrpay");
    for (const auto& [name, value] : request_.headers) {
        if (!is_transport_header(name)) {
            wire_.set(name, value);
        }
    }
    if (!request_.body.empty() && wire_.find(bhttp::field::content_type) == wire_.end()) {
        wire_.set(bhttp::field::content_type, "application/json");
    }
    wire_.body() = request_.body;  // a copy: a replay needs the original
    wire_.keep_alive(true);
    wire_.prepare_payload();
}

void Exchange::send() {
    build_wire();
    connection_->stream.expires_after(request_.timeout);  // one deadline: send + receive
    bhttp::async_write(connection_->stream, wire_,
                       [self = shared_from_this()](const error_code& error, std::size_t) {
                           if (error || self->aborted_) {
                               self->on_failure(error ? error : net::error::operation_aborted);
                               return;
                           }
                           self->receive();
                       });
}

void Exchange::receive() {
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(client_.options().response_body_bytes_max));
    parser_->header_limit(static_cast<std::uint32_t>(client_.options().header_bytes_max));
    bhttp::async_read(connection_->stream, connection_->buffer, *parser_,
                      [self = shared_from_this()](const error_code& error, std::size_t) {
                          if (error) {
                              self->on_failure(error);
                              return;
                          }
                          self->on_received();
                      });
}

void Exchange::on_received() {
    auto& message = parser_->get();
    bool reusable = message.keep_alive() && connection_->buffer.size() == 0;
    Response response = to_response(message);
    parser_.reset();
    connection_->stream.expires_never();
    client_.release(std::move(connection_), reusable);
    finish(std::move(response));
}

void Exchange::on_failure(const error_code& error) {
    bool response_started = parser_.has_value() && parser_->got_some();
    bool closed_by_peer = error == bhttp::error::end_of_stream ||
                          error == net::error::connection_reset ||
                          error == net::error::broken_pipe || error == net::error::eof;
    connection_.reset();
    if (reused_ && !replayed_ && !response_started && closed_by_peer && !client_.stopping() &&
        is_replayable(request_)) {
        replayed_ = true;  // a stale pooled connection: once more on a fresh one, same slot
        parser_.reset();
        connect();
        return;
    }
    client_.free_slot();
    if (error == beast::error::timeout) {
        finish(Status(Errc::timeout, "no response within " +
                                         std::to_string(request_.timeout.count()) +
                                         " ms; the request may have been processed"));
        return;
    }
    std::string why = client_.stopping() ? "http client stopped" : error.message();
    finish(Status(Errc::unknown_outcome, "connection failed after sending (" + why +
                                             "); the request may have been "
                                             "processed"));
}

// Stops the call at stop(). Closing (not just cancelling) the stream matters: an operation
// that already completed but whose handler has not run yet would otherwise go on to start the
// next one (the read after a write) on a live socket.
void Exchange::abort() {
    aborted_ = true;
    if (connection_) {
        connection_->stream.close();
    }
}

void Exchange::finish(Result<Response> result) {
    QRPAY_ASSERT(!finished_, "a call finished twice");
    finished_ = true;
    waiting_ = false;
    if (registered_) {
        client_.forget(this);
    }
    Client::Done done = std::move(done_);
    run_done_logged(done, std::move(result));
    client_.count_call_finished();
}

}  // namespace

Client::Impl::Impl(const ClientOptions& options, BaseUrl base)
    : options_(options), base_(std::move(base)) {}

Client::Impl::~Impl() { stop(); }

Status Client::Impl::resolve() {
    error_code error;
    tcp::resolver resolver(context_);
    endpoints_ = resolver.resolve(base_.host, base_.port, error);
    if (error || endpoints_.empty()) {
        return {Errc::unavailable, "cannot resolve '" + base_.host + "': " + error.message()};
    }
    return {};
}

void Client::Impl::start_thread() {
    work_.emplace(context_.get_executor());
    thread_ = std::thread([this] {
        set_current_thread_name("http-client");
        for (;;) {
            try {
                context_.run();
                return;
            } catch (const std::exception& error) {
                QRPAY_LOG_ERROR("http client: I/O thread caught: %s", error.what());
            }
        }
    });
}

void Client::Impl::submit(ClientRequest request, Done done) {
    QRPAY_ASSERT(done != nullptr, "call_async needs a done callback");
    Status status = validate(request);
    auto exchange = std::make_shared<Exchange>(*this, std::move(request), std::move(done));
    if (status.ok()) {
        std::lock_guard lock(submit_mutex_);
        if (!stopped_) {
            net::post(context_, [exchange] { exchange->start(); });
            return;
        }
        status = Status(Errc::unavailable, "http client stopped");
    }
    exchange->finish(std::move(status));  // on the caller's thread: never sent
}

void Client::Impl::acquire(const std::shared_ptr<Exchange>& exchange) {
    active_.emplace(exchange.get(), exchange);
    prune_idle();
    if (!idle_.empty()) {
        std::unique_ptr<Connection> connection = std::move(idle_.back());
        idle_.pop_back();
        exchange->use(std::move(connection), true);
        return;
    }
    if (open_count_ < options_.connections_max) {
        ++open_count_;
        exchange->connect();
        return;
    }
    if (waiting_.size() >= options_.calls_waiting_max) {
        exchange->finish(Status(Errc::unavailable, "too many calls waiting for a connection"));
        return;
    }
    waiting_.push_back(exchange);
    exchange->wait_for_slot();
}

std::shared_ptr<Exchange> Client::Impl::pop_waiting() {
    std::shared_ptr<Exchange> exchange = std::move(waiting_.front());
    waiting_.pop_front();
    exchange->stop_waiting();
    return exchange;
}

void Client::Impl::release(std::unique_ptr<Connection> connection, bool reusable) {
    if (!reusable || stopping_io_) {
        connection.reset();
        free_slot();
        return;
    }
    if (!waiting_.empty()) {
        pop_waiting()->use(std::move(connection), true);
        return;
    }
    connection->idle_since = std::chrono::steady_clock::now();
    idle_.push_back(std::move(connection));
}

void Client::Impl::free_slot() {
    QRPAY_ASSERT(open_count_ > 0, "freeing a connection slot nobody held");
    --open_count_;
    if (!waiting_.empty() && !stopping_io_) {
        ++open_count_;
        pop_waiting()->connect();
    }
}

void Client::Impl::remove_waiting(Exchange* exchange) {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
        if (it->get() == exchange) {
            waiting_.erase(it);
            return;
        }
    }
}

void Client::Impl::prune_idle() {
    auto oldest_allowed = std::chrono::steady_clock::now() - options_.pooled_idle_max;
    std::size_t before = idle_.size();
    std::erase_if(idle_, [&](const std::unique_ptr<Connection>& connection) {
        return connection->idle_since < oldest_allowed;
    });
    open_count_ -= before - idle_.size();
}

void Client::Impl::shutdown_on_io() {
    stopping_io_ = true;
    std::deque<std::shared_ptr<Exchange>> waiting = std::move(waiting_);
    waiting_.clear();
    for (const auto& exchange : waiting) {
        exchange->stop_waiting();
        exchange->finish(Status(Errc::unavailable, "http client stopped"));
    }
    open_count_ -= idle_.size();
    idle_.clear();
    std::vector<std::shared_ptr<Exchange>> active;
    for (const auto& [key, weak] : active_) {
        if (auto exchange = weak.lock()) {
            active.push_back(std::move(exchange));
        }
    }
    for (const auto& exchange : active) {
        exchange->abort();  // its handler then finishes it with unavailable or unknown_outcome
    }
}

void Client::Impl::stop() {
    std::lock_guard stop_lock(stop_mutex_);
    QRPAY_ASSERT(!on_io_thread(), "Client::stop() called from a done callback");
    {
        std::lock_guard lock(submit_mutex_);
        if (stopped_) {
            return;
        }
        stopped_ = true;
        net::post(context_, [this] { shutdown_on_io(); });
    }
    work_.reset();
    if (thread_.joinable()) {
        thread_.join();  // returns once every call has finished
    }
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() { stop(); }

Result<std::unique_ptr<Client>> Client::open(const ClientOptions& options) {
    if (options.connect_timeout.count() <= 0 || options.response_timeout.count() <= 0 ||
        options.connections_max < 1 || options.header_bytes_max < 256 ||
        options.header_bytes_max > UINT32_MAX || options.response_body_bytes_max < 1) {
        return Status(Errc::invalid_argument, "bad http client options");
    }
    auto base = parse_base_url(options.base_url);
    if (!base.ok()) {
        return base.status();
    }
    auto impl = std::make_unique<Impl>(options, std::move(*base));
    Status status = impl->resolve();
    if (!status.ok()) {
        return status;
    }
    impl->start_thread();
    return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<Response> Client::call(ClientRequest request) {
    QRPAY_ASSERT(!impl_->on_io_thread(), "Client::call() from a done callback would deadlock");
    std::promise<Result<Response>> promise;
    std::future<Result<Response>> future = promise.get_future();
    impl_->submit(std::move(request),
                  [&promise](Result<Response> result) { promise.set_value(std::move(result)); });
    return future.get();  // bounded: every call finishes within its timeouts or at stop()
}

void Client::call_async(ClientRequest request, Done done) {
    impl_->submit(std::move(request), std::move(done));
}

std::size_t Client::calls_unfinished() const { return impl_->calls_unfinished(); }

void Client::stop() { impl_->stop(); }

}  // namespace qrpay::http
