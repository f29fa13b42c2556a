// Client: validates a call, builds its body (wire.h), sends it to one member after another
// while they surely did not apply it, and reads the answer (wire.h again).

#include "etcd/client.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "etcd/wire.h"
#include "http/client.h"

namespace qrpay::etcd {
namespace {

using wire::Json;
using wire::Repeat;
using JsonDone = std::function<void(Result<Json>)>;

// One kind of call: its name in messages, where it goes, whether repeating it is harmless.
struct Operation {
    std::string_view name;
    std::string_view path;
    Repeat repeat;
};

constexpr Operation grant_operation{"grant_lease", wire::lease_grant_path, Repeat::unsafe};
constexpr Operation keep_alive_operation{"keep_alive", wire::lease_keepalive_path, Repeat::safe};
constexpr Operation revoke_operation{"revoke_lease", wire::lease_revoke_path, Repeat::unsafe};
constexpr Operation put_operation{"put", wire::put_path, Repeat::unsafe};
constexpr Operation create_operation{"create", wire::txn_path, Repeat::unsafe};
constexpr Operation delete_operation{"delete_if_unchanged", wire::txn_path, Repeat::unsafe};
constexpr Operation get_operation{"get", wire::range_path, Repeat::safe};
constexpr Operation range_operation{"range_prefix", wire::range_path, Repeat::safe};

Status with_context(const Operation& operation, const Status& status) {
    return {status.code(), "etcd " + std::string(operation.name) + ": " + status.message()};
}

Status invalid(const Operation& operation, const std::string& what) {
    return with_context(operation, Status(Errc::invalid_argument, what));
}

Status check_key(const Operation& operation, std::string_view key) {
    return key.empty() ? invalid(operation, "empty key") : Status();
}

// A lease to attach a key to: 0 (none) or a lease id.
Status check_attached_lease(const Operation& operation, std::int64_t lease) {
    return lease < 0 ? invalid(operation, "negative lease " + std::to_string(lease)) : Status();
}

Status check_lease_id(const Operation& operation, std::int64_t lease) {
    return lease <= 0 ? invalid(operation, "lease id " + std::to_string(lease) + " is not > 0")
                      : Status();
}

// Turns the JSON answer into the call's value with `parse`. A write whose answer cannot be
// read may have been applied: its reader's remote_error becomes unknown_outcome.
template <class T, class Parse>
JsonDone parse_then(const Operation& operation, Client::Done<T> done, Parse parse) {
    QRPAY_ASSERT(done != nullptr, "an etcd call needs a done callback");
    return [operation, done = std::move(done), parse](Result<Json> answer) {
        if (!answer.ok()) {
            done(answer.status());
            return;
        }
        Result<T> value = parse(*answer);
        if (value.ok()) {
            done(std::move(value));
            return;
        }
        Status status = value.status();
        if (status.code() == Errc::remote_error && operation.repeat == Repeat::unsafe) {
            status = Status(Errc::unknown_outcome, status.message());
        }
        done(with_context(operation, status));
    };
}

Result<std::optional<KeyValue>> got_key(const Json& answer, const std::string& key) {
    Result<RangeResult> range = wire::range_result(answer);
    if (!range.ok()) {
        return range.status();
    }
    if (range->kvs.empty()) {
        return std::optional<KeyValue>();
    }
    if (range->kvs.size() > 1 || range->kvs[0].key != key) {
        return Status(Errc::remote_error, "etcd answer: a get answered another key");
    }
    return std::optional<KeyValue>(std::move(range->kvs[0]));
}

Status check_options(const ClientOptions& options) {
    const bool valid = options.request_timeout.count() > 0 && options.connect_timeout.count() > 0 &&
                       options.connections_per_endpoint_max >= 1 &&
                       options.calls_in_flight_max >= 1 && options.request_bytes_max >= 1024 &&
                       options.response_bytes_max >= 1024 && options.range_keys_max >= 1;
    return valid ? Status() : Status(Errc::invalid_argument, "bad etcd client options");
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '/')) {
        text.remove_suffix(1);
    }
    return text;
}

// "http://a:1, http://b:2" -> each URL once, without spaces or trailing '/'. The URLs
// themselves are checked by http::Client::open.
Result<std::vector<std::string>> parse_endpoints(std::string_view text) {
    std::vector<std::string> endpoints;
    for (std::size_t start = 0; start <= text.size();) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string endpoint(trimmed(text.substr(start, comma - start)));
        if (endpoint.empty()) {
            return Status(Errc::invalid_argument,
                          "etcd endpoints: an empty one in '" + std::string(text) + "'");
        }
        if (std::find(endpoints.begin(), endpoints.end(), endpoint) != endpoints.end()) {
            return Status(Errc::invalid_argument, "etcd endpoints: " + endpoint + " twice");
        }
        endpoints.push_back(endpoint);
        start = comma + 1;
    }
    if (endpoints.size() > endpoints_max) {
        return Status(Errc::invalid_argument,
                      "etcd endpoints: more than " + std::to_string(endpoints_max));
    }
    return endpoints;
}

}  // namespace

class Client::Impl {
public:
    Impl(ClientOptions options,
         std::vector<std::string> endpoints,
         std::vector<std::unique_ptr<http::Client>> http)
        : options_(std::move(options)), endpoints_(std::move(endpoints)), http_(std::move(http)) {}
    ~Impl() { stop(); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    Impl(Impl&&) = delete;
    Impl& operator=(Impl&&) = delete;

    [[nodiscard]] const ClientOptions& options() const { return options_; }
    void send(const Operation& operation, std::string body, JsonDone done);
    [[nodiscard]] std::string preferred_endpoint() const { return endpoints_[preferred_.load()]; }
    void stop();

private:
    struct Call {
        Operation operation;
        std::string body;
        JsonDone done;
        std::size_t tries_left = 0;
        std::string failures;  // what each member that was passed over said
    };

    void attempt(const std::shared_ptr<Call>& call, std::size_t endpoint);
    void on_answer(const std::shared_ptr<Call>& call,
                   std::size_t endpoint,
                   const Result<http::Response>& answer);
    Result<Json> read_answer(const Call& call,
                             std::size_t endpoint,
                             const Result<http::Response>& answer) const;
    void finish(const std::shared_ptr<Call>& call, Result<Json> result);

    const ClientOptions options_;
    const std::vector<std::string> endpoints_;
    const std::vector<std::unique_ptr<http::Client>> http_;  // one per endpoint, same index
    // Shared by the callers' threads and the I/O threads, hence atomic: where the next call
    // starts, the calls between send() and their done, and whether stop() began.
    std::atomic<std::size_t> preferred_{0};
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<bool> stopped_{false};
    std::mutex stop_mutex_;  // one stop() at a time
};

void Client::Impl::send(const Operation& operation, std::string body, JsonDone done) {
    if (body.size() > options_.request_bytes_max) {
        done(invalid(operation, "a request of " + std::to_string(body.size()) +
                                    " bytes is above request_bytes_max (" +
                                    std::to_string(options_.request_bytes_max) + ")"));
        return;
    }
    if (stopped_.load()) {
        done(with_context(operation, Status(Errc::unavailable, "the client is stopped")));
        return;
    }
    if (in_flight_.fetch_add(1) >= options_.calls_in_flight_max) {
        in_flight_.fetch_sub(1);
        done(with_context(
            operation, Status(Errc::unavailable, "calls_in_flight_max (" +
                                                     std::to_string(options_.calls_in_flight_max) +
                                                     ") reached")));
        return;
    }
    auto call = std::make_shared<Call>(
        Call{operation, std::move(body), std::move(done), endpoints_.size(), {}});
    attempt(call, preferred_.load());
}

void Client::Impl::attempt(const std::shared_ptr<Call>& call, std::size_t endpoint) {
    --call->tries_left;
    http_[endpoint]->call_async(
        {.method = "POST",
         .path = std::string(call->operation.path),
         .headers = {},
         .body = call->body,
         .timeout = options_.request_timeout},
        // `this` outlives the callback: stop() joins every I/O thread before ~Impl ends.
        [this, call, endpoint](const Result<http::Response>& answer) {
            on_answer(call, endpoint, answer);
        });
}

// The answer as JSON, or what it means (wire::interpret). A safe call's unknown_outcome
// (the connection failed) is unavailable: nothing it could have done matters.
Result<Json> Client::Impl::read_answer(const Call& call,
                                       std::size_t endpoint,
                                       const Result<http::Response>& answer) const {
    Result<Json> result = answer.ok()
                              ? wire::interpret(answer->status, answer->body, call.operation.repeat)
                              : Result<Json>(answer.status());
    if (result.ok()) {
        return result;
    }
    Errc code = result.status().code();
    if (code == Errc::unknown_outcome && call.operation.repeat == Repeat::safe) {
        code = Errc::unavailable;
    }
    return Status(code, "at " + endpoints_[endpoint] + ": " + result.status().message());
}

void Client::Impl::on_answer(const std::shared_ptr<Call>& call,
                             std::size_t endpoint,
                             const Result<http::Response>& answer) {
    const bool answered = answer.ok();
    Result<Json> result = read_answer(*call, endpoint, answer);
    const Errc code = result.status().code();
    if (answered && code != Errc::unavailable) {
        preferred_.store(endpoint);  // it answers: later calls start here
    } else {
        // Pass it over next time; another call may have moved on already.
        std::size_t expected = endpoint;
        preferred_.compare_exchange_strong(expected, (endpoint + 1) % endpoints_.size());
    }
    if (code == Errc::unavailable && call->tries_left > 0 && !stopped_.load()) {
        call->failures += result.status().message() + "; ";
        attempt(call, (endpoint + 1) % endpoints_.size());
        return;
    }
    if (!result.ok() && !call->failures.empty()) {
        result = Status(code, call->failures + result.status().message());
    }
    finish(call, std::move(result));
}

void Client::Impl::finish(const std::shared_ptr<Call>& call, Result<Json> result) {
    in_flight_.fetch_sub(1);
    JsonDone done = std::move(call->done);
    if (result.ok()) {
        done(std::move(result));
        return;
    }
    done(with_context(call->operation, result.status()));
}

void Client::Impl::stop() {
    std::lock_guard lock(stop_mutex_);
    stopped_.store(true);
    for (const auto& http : http_) {
        http->stop();  // fails or cuts its calls; a call then tried here fails at once
    }
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() { stop(); }

Result<std::unique_ptr<Client>> Client::open(const ClientOptions& options) {
    if (Status valid = check_options(options); !valid.ok()) {
        return valid;
    }
    Result<std::vector<std::string>> endpoints = parse_endpoints(options.endpoints);
    if (!endpoints.ok()) {
        return endpoints.status();
    }
    std::vector<std::unique_ptr<http::Client>> http;
    for (const std::string& endpoint : *endpoints) {
        auto opened = http::Client::open({.base_url = endpoint,
                                          .connect_timeout = options.connect_timeout,
                                          .response_timeout = options.request_timeout,
                                          .connections_max = options.connections_per_endpoint_max,
                                          .calls_waiting_max = options.calls_in_flight_max,
                                          .response_body_bytes_max = options.response_bytes_max});
        if (!opened.ok()) {
            return Status(opened.status().code(),
                          "etcd endpoint " + endpoint + ": " + opened.status().message());
        }
        http.push_back(std::move(*opened));
    }
    return std::unique_ptr<Client>(
        new Client(std::make_unique<Impl>(options, std::move(*endpoints), std::move(http))));
}

void Client::grant_lease(std::chrono::seconds ttl, Done<Lease> done) {
    JsonDone then = parse_then<Lease>(grant_operation, std::move(done), wire::granted_lease);
    if (ttl < lease_ttl_min || ttl > lease_ttl_max) {
        then(invalid(grant_operation,
                     "ttl of " + std::to_string(ttl.count()) + " s is outside [1 s, 9e9 s]"));
        return;
    }
    impl_->send(grant_operation, wire::grant_body(ttl), std::move(then));
}

void Client::keep_alive(std::int64_t lease, Done<std::chrono::seconds> done) {
    JsonDone then = parse_then<std::chrono::seconds>(keep_alive_operation, std::move(done),
                                                     wire::kept_alive_ttl);
    if (Status valid = check_lease_id(keep_alive_operation, lease); !valid.ok()) {
        then(valid);
        return;
    }
    impl_->send(keep_alive_operation, wire::lease_body(lease), std::move(then));
}

void Client::revoke_lease(std::int64_t lease, StatusDone done) {
    QRPAY_ASSERT(done != nullptr, "an etcd call needs a done callback");
    if (Status valid = check_lease_id(revoke_operation, lease); !valid.ok()) {
        done(valid);
        return;
    }
    impl_->send(revoke_operation, wire::lease_body(lease),
                [done = std::move(done)](const Result<Json>& answer) { done(answer.status()); });
}

void Client::put(std::string_view key,
                 std::string_view value,
                 std::int64_t lease,
                 Done<std::int64_t> done) {
    JsonDone then = parse_then<std::int64_t>(put_operation, std::move(done), wire::header_revision);
    Status valid = check_key(put_operation, key);
    if (valid.ok()) {
        valid = check_attached_lease(put_operation, lease);
    }
    if (!valid.ok()) {
        then(valid);
        return;
    }
    impl_->send(put_operation, wire::put_body(key, value, lease), std::move(then));
}

void Client::create(std::string_view key,
                    std::string_view value,
                    std::int64_t lease,
                    Done<CreateResult> done) {
    JsonDone then =
        parse_then<CreateResult>(create_operation, std::move(done), wire::create_result);
    Status valid = check_key(create_operation, key);
    if (valid.ok()) {
        valid = check_attached_lease(create_operation, lease);
    }
    if (!valid.ok()) {
        then(valid);
        return;
    }
    impl_->send(create_operation, wire::create_body(key, value, lease), std::move(then));
}

void Client::delete_if_unchanged(std::string_view key, std::int64_t mod_revision, Done<bool> done) {
    JsonDone then = parse_then<bool>(delete_operation, std::move(done), wire::txn_succeeded);
    Status valid = check_key(delete_operation, key);
    if (valid.ok() && mod_revision <= 0) {
        valid = invalid(delete_operation,
                        "mod_revision " + std::to_string(mod_revision) + " is not > 0");
    }
    if (!valid.ok()) {
        then(valid);
        return;
    }
    impl_->send(delete_operation, wire::delete_if_unchanged_body(key, mod_revision),
                std::move(then));
}

void Client::get(std::string_view key, Done<std::optional<KeyValue>> done) {
    JsonDone then = parse_then<std::optional<KeyValue>>(
        get_operation, std::move(done),
        [key = std::string(key)](const Json& answer) { return got_key(answer, key); });
    if (Status valid = check_key(get_operation, key); !valid.ok()) {
        then(valid);
        return;
    }
    impl_->send(get_operation, wire::range_body(key, "", 0), std::move(then));
}

void Client::range_prefix(std::string_view prefix, Done<RangeResult> done) {
    JsonDone then = parse_then<RangeResult>(range_operation, std::move(done), wire::range_result);
    if (prefix.empty()) {
        then(invalid(range_operation, "empty prefix"));
        return;
    }
    impl_->send(range_operation,
                wire::range_body(prefix, wire::prefix_end(prefix), impl_->options().range_keys_max),
                std::move(then));
}

std::string Client::preferred_endpoint() const { return impl_->preferred_endpoint(); }

void Client::stop() { impl_->stop(); }

}  // namespace qrpay::etcd
