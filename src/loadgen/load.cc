// The load generator's engine: LoadRun drives one load (open or closed loop) and walks each
// flow through its steps with http::Client callbacks. See load.h for what is measured.

#include "loadgen/load.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/assert.h"
#include "http/client.h"

namespace qrpay::loadgen {

namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

std::uint64_t micros_between(TimePoint from, TimePoint to) {
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
    return micros < 0 ? 0 : static_cast<std::uint64_t>(micros);
}

// splitmix64: decides per flow, without shared random state between threads.
std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// A number in [0, 1) drawn from (seed, flow, salt).
double draw(std::uint64_t seed, std::uint64_t flow, std::uint64_t salt) {
    constexpr double two_to_minus_53 = 1.0 / 9007199254740992.0;
    return static_cast<double>(mix64(seed ^ mix64(flow * 4 + salt)) >> 11) * two_to_minus_53;
}

bool is_final_word(std::string_view status) {
    return status == "completed" || status == "failed" || status == "expired" ||
           status == "cancelled";
}

std::string_view transport_word(Errc code) {
    switch (code) {
        case Errc::timeout:
            return "timeout";
        case Errc::unavailable:
            return "unavailable";
        case Errc::unknown_outcome:
            return "unknown_outcome";
        default:
            return "client_error";
    }
}

std::size_t kind_index(RequestKind kind) { return static_cast<std::size_t>(kind); }

// Recording of one client lane. Written on the lane's I/O thread (and by the driver for
// generator errors), read by the driver for progress and the report: guarded by `mutex`.
struct Lane {
    std::unique_ptr<http::Client> client;
    std::mutex mutex;
    std::array<LatencyHistogram, request_kind_count> latency_us;
    std::array<std::uint64_t, request_kind_count> ok{};
    std::array<std::uint64_t, request_kind_count> errors{};
    // The same since the last interval report (only with LoadOptions::interval > 0).
    std::array<LatencyHistogram, request_kind_count> interval_latency_us;
    std::array<std::uint64_t, request_kind_count> interval_ok{};
    std::array<std::uint64_t, request_kind_count> interval_errors{};
    std::map<std::string, std::uint64_t> error_kinds;
    std::map<std::string, std::uint64_t> outcomes;
};

// One flow from its due time to its end; shared by the callbacks of its requests, which run
// one after another on its lane's I/O thread.
struct Flow {
    std::uint64_t index = 0;
    Lane* lane = nullptr;
    TimePoint intended_start;
    bool measured = false;
    const std::string* consumer = nullptr;
    const std::string* merchant = nullptr;
    bool cancel = false;
    bool history = false;
    std::string transaction_id;
    std::string code;
    std::uint64_t version = 0;
    std::string status;
    int wait_rounds = 0;
    bool failed = false;
};
using FlowPtr = std::shared_ptr<Flow>;

// Reads a JSON object from a response body; a discarded value when it is not one.
nlohmann::json parse_body(const http::Response& response) {
    nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    return body.is_object() ? body : nlohmann::json(nlohmann::json::value_t::discarded);
}

std::string string_field(const nlohmann::json& body, const char* name) {
    auto it = body.find(name);
    return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::uint64_t version_field(const nlohmann::json& body) {
    auto it = body.find("version");
    return it != body.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

class LoadRun {
public:
    explicit LoadRun(const LoadOptions& options) : options_(options) {}
    LoadRun(const LoadRun&) = delete;
    LoadRun& operator=(const LoadRun&) = delete;
    LoadRun(LoadRun&&) = delete;
    LoadRun& operator=(LoadRun&&) = delete;

    Status open();
    LoadReport run();

private:
    using Accept = bool (*)(int status);
    using Next = std::function<void(const FlowPtr&, TimePoint answered_at, const http::Response&)>;

    void drive_open_loop();
    void drive_closed_loop();
    void wait_with_progress(TimePoint until);
    void drain();
    void start_flow(TimePoint intended);
    void finish_flow(const FlowPtr& flow);

    void send(const FlowPtr& flow,
              RequestKind kind,
              TimePoint due,
              http::ClientRequest request,
              Accept accept,
              Next next);
    void on_answer(const FlowPtr& flow,
                   RequestKind kind,
                   TimePoint due,
                   Accept accept,
                   const Next& next,
                   Result<http::Response> answer);
    http::ClientRequest request_for(const std::string& method,
                                    std::string path,
                                    const std::string* bearer) const;

    void step_create_code(const FlowPtr& flow, TimePoint due);
    void step_pay(const FlowPtr& flow, TimePoint due);
    void step_wait(const FlowPtr& flow, TimePoint due);
    void after_result(const FlowPtr& flow, TimePoint due);
    void after_payment(const FlowPtr& flow, TimePoint due);
    void step_cancel(const FlowPtr& flow, TimePoint due);
    void step_history(const FlowPtr& flow, TimePoint due);
    void step_healthz(const FlowPtr& flow, TimePoint due);
    bool take_view(const FlowPtr& flow, RequestKind kind, const http::Response& response);

    void record(const FlowPtr& flow, RequestKind kind, TimePoint due, TimePoint now, bool ok);
    void fail(const FlowPtr& flow, RequestKind kind, const std::string& what);
    void record_error(Lane& lane, RequestKind kind, const std::string& what);
    void record_outcome(const FlowPtr& flow, const std::string& what);
    void report_progress(TimePoint now);
    void report_interval(TimePoint now);
    // REQUIRES: lane.mutex is held.
    void record_latency(Lane& lane, RequestKind kind, std::uint64_t micros, bool ok);
    [[nodiscard]] LoadReport collect() const;

    const LoadOptions& options_;
    std::string run_id_;  // makes idempotency keys unique across runs against one server
    std::vector<std::unique_ptr<Lane>> lanes_;
    TimePoint start_;
    TimePoint measure_from_;
    TimePoint end_;
    std::atomic<std::uint64_t> next_index_{0};
    std::atomic<std::uint64_t> in_flight_{0};
    std::atomic<std::uint64_t> started_measured_{0};
    std::atomic<std::uint64_t> completed_measured_{0};
    std::atomic<std::uint64_t> failed_measured_{0};
    std::atomic<std::uint64_t> completed_in_window_{0};
    std::atomic<std::uint64_t> completed_total_{0};
    std::atomic<std::uint64_t> errors_total_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> history_missing_{false};
    std::mutex idle_mutex_;  // pairs with idle_ for the drain's wait on in_flight_ == 0
    std::condition_variable idle_;
    // Driver-thread only: progress bookkeeping.
    TimePoint next_progress_;
    TimePoint last_progress_;
    std::uint64_t completed_at_last_progress_ = 0;
    TimePoint last_interval_;
    TimePoint next_interval_;
    std::uint64_t completed_at_last_interval_ = 0;
};

Status LoadRun::open() {
    const bool flows = options_.target == Target::payment_flow;
    const std::string& url = flows ? options_.api_url : options_.admin_url;
    const std::size_t lanes = std::max<std::size_t>(1, options_.client_threads);
    const std::size_t per_lane = std::max<std::size_t>(1, options_.connections / lanes);
    for (std::size_t i = 0; i < lanes; ++i) {
        auto client = http::Client::open({
            .base_url = url,
            .connect_timeout = options_.request_timeout,  // also the wait for a pooled slot
            .response_timeout = options_.request_timeout,
            .connections_max = per_lane,
            .calls_waiting_max = options_.flows_in_flight_max,
        });
        if (!client.ok()) {
            return client.status();
        }
        lanes_.push_back(std::make_unique<Lane>());
        lanes_.back()->client = std::move(client).value();
    }
    std::random_device entropy;
    run_id_ = std::to_string(entropy()) + std::to_string(entropy());
    return {};
}

LoadReport LoadRun::run() {
    start_ = SteadyClock::now();
    measure_from_ = start_ + options_.warmup;
    end_ = start_ + options_.duration;
    last_progress_ = start_;
    next_progress_ = start_ + options_.progress_interval;
    last_interval_ = start_;
    next_interval_ = start_ + options_.interval;
    if (options_.concurrency > 0) {
        drive_closed_loop();
    } else {
        drive_open_loop();
    }
    drain();
    if (options_.interval.count() > 0) {
        report_interval(SteadyClock::now());
    }
    return collect();
}

void LoadRun::drive_open_loop() {
    const double interval_s = 1.0 / options_.rate_per_s;
    for (std::uint64_t n = 0;; ++n) {
        auto offset = std::chrono::duration<double>(static_cast<double>(n) * interval_s);
        TimePoint due = start_ + std::chrono::duration_cast<SteadyClock::duration>(offset);
        if (due >= end_) {
            return;
        }
        wait_with_progress(due);
        if (in_flight_.load() >= options_.flows_in_flight_max) {
            if (due >= measure_from_) {
                std::lock_guard lock(lanes_.front()->mutex);
                record_error(*lanes_.front(), RequestKind::flow, "backlog_full");
            }
            continue;
        }
        start_flow(due);
    }
}

void LoadRun::drive_closed_loop() {
    for (std::size_t worker = 0; worker < options_.concurrency; ++worker) {
        start_flow(start_);
    }
    wait_with_progress(end_);
}

// Sleeps until `until`, waking for each progress report on the way.
void LoadRun::wait_with_progress(TimePoint until) {
    for (TimePoint now = SteadyClock::now(); now < until; now = SteadyClock::now()) {
        if (now >= next_progress_) {
            report_progress(now);
        }
        std::this_thread::sleep_until(std::min(until, next_progress_));
    }
}

// Waits for the flows in flight (drain_max at most), then stops the clients: the callbacks
// of whatever is still outstanding run inside stop() and end their flows as unfinished.
void LoadRun::drain() {
    const TimePoint deadline = SteadyClock::now() + options_.drain_max;
    for (;;) {
        {
            std::unique_lock lock(idle_mutex_);
            TimePoint wake = std::min(deadline, next_progress_);
            idle_.wait_until(lock, wake, [this] { return in_flight_.load() == 0; });
        }
        TimePoint now = SteadyClock::now();
        if (in_flight_.load() == 0 || now >= deadline) {
            break;
        }
        if (now >= next_progress_) {
            report_progress(now);
        }
    }
    stopping_ = true;
    for (auto& lane : lanes_) {
        lane->client->stop();
    }
    QRPAY_ASSERT(in_flight_.load() == 0, "every flow ends once its client has stopped");
}

void LoadRun::start_flow(TimePoint intended) {
    auto flow = std::make_shared<Flow>();
    flow->index = next_index_++;
    flow->lane = lanes_[flow->index % lanes_.size()].get();
    flow->intended_start = intended;
    flow->measured = intended >= measure_from_;
    ++in_flight_;
    if (flow->measured) {
        ++started_measured_;
    }
    if (options_.target == Target::healthz) {
        step_healthz(flow, intended);
        return;
    }
    const auto& consumers = options_.consumer_tokens;
    const auto& merchants = options_.merchant_tokens;
    flow->consumer = &consumers[flow->index % consumers.size()];
    flow->merchant = &merchants[(flow->index * 7919) % merchants.size()];
    flow->cancel = draw(options_.seed, flow->index, 1) < options_.cancel_share;
    flow->history =
        !history_missing_.load() && draw(options_.seed, flow->index, 2) < options_.history_share;
    step_create_code(flow, intended);
}

void LoadRun::finish_flow(const FlowPtr& flow) {
    const TimePoint now = SteadyClock::now();
    if (!flow->failed && !stopping_.load()) {
        ++completed_total_;
        if (now >= measure_from_ && now < end_) {
            ++completed_in_window_;
        }
    }
    if (flow->measured) {
        ++completed_measured_;
        if (flow->failed || stopping_.load()) {
            ++failed_measured_;
        }
        std::lock_guard lock(flow->lane->mutex);
        if (stopping_.load()) {
            record_error(*flow->lane, RequestKind::flow, "unfinished");
        } else if (!flow->failed) {
            record_latency(*flow->lane, RequestKind::flow,
                           micros_between(flow->intended_start, now), true);
        }
    }
    const bool next = options_.concurrency > 0 && now < end_ && !stopping_.load();
    if (next) {
        start_flow(now);  // closed loop: this worker's next flow, due now
    }
    if (--in_flight_ == 0) {
        std::lock_guard lock(idle_mutex_);
        idle_.notify_all();
    }
}

http::ClientRequest LoadRun::request_for(const std::string& method,
                                         std::string path,
                                         const std::string* bearer) const {
    http::ClientRequest request;
    request.method = method;
    request.path = std::move(path);
    request.timeout = options_.request_timeout;
    if (bearer != nullptr) {
        request.headers["Authorization"] = "Bearer " + *bearer;
    }
    return request;
}

void LoadRun::send(const FlowPtr& flow,
                   RequestKind kind,
                   TimePoint due,
                   http::ClientRequest request,
                   Accept accept,
                   Next next) {
    flow->lane->client->call_async(
        std::move(request),
        [this, flow, kind, due, accept, next = std::move(next)](Result<http::Response> answer) {
            on_answer(flow, kind, due, accept, next, std::move(answer));
        });
}

void LoadRun::on_answer(const FlowPtr& flow,
                        RequestKind kind,
                        TimePoint due,
                        Accept accept,
                        const Next& next,
                        Result<http::Response> answer) {
    const TimePoint now = SteadyClock::now();
    if (stopping_.load()) {
        finish_flow(flow);  // cut by the drain deadline: "flow:unfinished"
        return;
    }
    if (kind == RequestKind::history && answer.ok() && answer->status == 404) {
        history_missing_ = true;  // no query side on this server yet: not an error
        finish_flow(flow);
        return;
    }
    const bool ok = answer.ok() && accept(answer->status);
    record(flow, kind, due, now, ok);
    if (!ok) {
        std::string what = answer.ok() ? "http_" + std::to_string(answer->status)
                                       : std::string(transport_word(answer.status().code()));
        fail(flow, kind, what);
    }
    if (flow->failed) {
        finish_flow(flow);
        return;
    }
    next(flow, now, *answer);
}

bool accept_created(int status) { return status == 201; }
bool accept_final_or_waiting(int status) { return status == 200 || status == 202; }
bool accept_ok(int status) { return status == 200; }

void LoadRun::step_create_code(const FlowPtr& flow, TimePoint due) {
    send(flow, RequestKind::create_code, due,
         request_for("POST", "/v1/payment-codes", flow->consumer), accept_created,
         [this](const FlowPtr& self, TimePoint at, const http::Response& answer) {
             nlohmann::json body = parse_body(answer);
             self->transaction_id = body.is_discarded() ? "" : string_field(body, "transaction_id");
             self->code = body.is_discarded() ? "" : string_field(body, "code");
             if (self->transaction_id.empty() || self->code.empty()) {
                 fail(self, RequestKind::create_code, "bad_body");
                 finish_flow(self);
                 return;
             }
             step_pay(self, at);
         });
}

void LoadRun::step_pay(const FlowPtr& flow, TimePoint due) {
    http::ClientRequest request = request_for("POST", "/v1/payments", flow->merchant);
    const std::string order_id = "bench-" + std::to_string(flow->index);
    nlohmann::json body = {
        {"code", flow->code},
        {"amount", {{"value", options_.amount_minor}, {"currency", options_.currency}}},
        {"order_id", order_id},
    };
    request.body = body.dump();
    request.headers["Idempotency-Key"] = "bench-" + run_id_ + "-" + order_id;
    send(flow, RequestKind::pay, due, std::move(request), accept_final_or_waiting,
         [this](const FlowPtr& self, TimePoint at, const http::Response& answer) {
             if (!take_view(self, RequestKind::pay, answer)) {
                 finish_flow(self);
                 return;
             }
             if (options_.consumer_wait || !is_final_word(self->status)) {
                 self->version = 1;  // what the consumer knows: the code was issued
                 step_wait(self, at);
                 return;
             }
             after_result(self, at);
         });
}

// Takes status and version from a transaction view; records "<kind>:bad_body" when absent.
bool LoadRun::take_view(const FlowPtr& flow, RequestKind kind, const http::Response& response) {
    nlohmann::json body = parse_body(response);
    std::string status = body.is_discarded() ? "" : string_field(body, "status");
    if (status.empty()) {
        fail(flow, kind, "bad_body");
        return false;
    }
    flow->status = std::move(status);
    flow->version = std::max(flow->version, version_field(body));
    return true;
}

// The consumer's long-poll: answers once the transaction is newer than what it has seen.
void LoadRun::step_wait(const FlowPtr& flow, TimePoint due) {
    ++flow->wait_rounds;
    std::string path = "/v1/transactions/" + http::url_encode_component(flow->transaction_id) +
                       "?wait=" + std::to_string(options_.long_poll_wait_s) +
                       "&after_version=" + std::to_string(flow->version);
    http::ClientRequest request = request_for("GET", std::move(path), flow->consumer);
    request.timeout += std::chrono::seconds(options_.long_poll_wait_s);
    send(flow, RequestKind::wait_result, due, std::move(request), accept_ok,
         [this](const FlowPtr& self, TimePoint at, const http::Response& answer) {
             if (!take_view(self, RequestKind::wait_result, answer)) {
                 finish_flow(self);
                 return;
             }
             if (is_final_word(self->status)) {
                 after_result(self, at);
             } else if (self->wait_rounds < options_.wait_rounds_max) {
                 step_wait(self, at);
             } else {
                 fail(self, RequestKind::wait_result, "not_final");
                 finish_flow(self);
             }
         });
}

// The payment is final: count its outcome, then the rest of the flow.
void LoadRun::after_result(const FlowPtr& flow, TimePoint due) {
    record_outcome(flow, "payment:" + flow->status);
    after_payment(flow, due);
}

// Maybe cancel the payment, maybe read the merchant's history, then end.
void LoadRun::after_payment(const FlowPtr& flow, TimePoint due) {
    if (flow->cancel && flow->status == "completed") {
        flow->cancel = false;
        step_cancel(flow, due);
    } else if (flow->history && !history_missing_.load()) {
        flow->history = false;
        step_history(flow, due);
    } else {
        finish_flow(flow);
    }
}

void LoadRun::step_cancel(const FlowPtr& flow, TimePoint due) {
    std::string path =
        "/v1/transactions/" + http::url_encode_component(flow->transaction_id) + "/cancel";
    http::ClientRequest request = request_for("POST", std::move(path), flow->merchant);
    request.headers["Idempotency-Key"] =
        "bench-" + run_id_ + "-cancel-" + std::to_string(flow->index);
    send(flow, RequestKind::cancel, due, std::move(request), accept_final_or_waiting,
         [this](const FlowPtr& self, TimePoint at, const http::Response& answer) {
             if (!take_view(self, RequestKind::cancel, answer)) {
                 finish_flow(self);
                 return;
             }
             record_outcome(self, "cancel:" + self->status);
             after_payment(self, at);
         });
}

void LoadRun::step_history(const FlowPtr& flow, TimePoint due) {
    send(flow, RequestKind::history, due, request_for("GET", "/v1/me/payments", flow->merchant),
         accept_ok,
         [this](const FlowPtr& self, TimePoint, const http::Response&) { finish_flow(self); });
}

void LoadRun::step_healthz(const FlowPtr& flow, TimePoint due) {
    send(flow, RequestKind::healthz, due, request_for("GET", "/healthz", nullptr), accept_ok,
         [this](const FlowPtr& self, TimePoint, const http::Response&) { finish_flow(self); });
}

// Counts one answered request; its latency runs from when it was due.
void LoadRun::record(const FlowPtr& flow, RequestKind kind, TimePoint due, TimePoint now, bool ok) {
    if (!ok) {
        ++errors_total_;
    }
    if (!flow->measured) {
        return;
    }
    std::lock_guard lock(flow->lane->mutex);
    record_latency(*flow->lane, kind, micros_between(due, now), ok);
}

void LoadRun::record_latency(Lane& lane, RequestKind kind, std::uint64_t micros, bool ok) {
    lane.latency_us[kind_index(kind)].record(micros);
    ++(ok ? lane.ok : lane.errors)[kind_index(kind)];
    if (options_.interval.count() > 0) {
        lane.interval_latency_us[kind_index(kind)].record(micros);
        ++(ok ? lane.interval_ok : lane.interval_errors)[kind_index(kind)];
    }
}

// Marks the flow failed and counts "<kind>:<what>" when the flow is measured.
void LoadRun::fail(const FlowPtr& flow, RequestKind kind, const std::string& what) {
    flow->failed = true;
    if (flow->measured) {
        std::lock_guard lock(flow->lane->mutex);
        record_error(*flow->lane, kind, what);
    }
}

// REQUIRES: lane.mutex is held.
void LoadRun::record_error(Lane& lane, RequestKind kind, const std::string& what) {
    ++lane.error_kinds[std::string(request_kind_name(kind)) + ":" + what];
}

void LoadRun::record_outcome(const FlowPtr& flow, const std::string& what) {
    if (flow->measured) {
        std::lock_guard lock(flow->lane->mutex);
        ++flow->lane->outcomes[what];
    }
}

void LoadRun::report_progress(TimePoint now) {
    const double since_s = std::chrono::duration<double>(now - last_progress_).count();
    const std::uint64_t completed = completed_total_.load();
    if (options_.on_progress) {
        LatencyHistogram flows;
        for (const auto& lane : lanes_) {
            std::lock_guard lock(lane->mutex);
            flows.merge(lane->latency_us[kind_index(RequestKind::flow)]);
        }
        options_.on_progress(Progress{
            .elapsed_s = std::chrono::duration<double>(now - start_).count(),
            .flows_started = next_index_.load(),
            .flows_completed = completed,
            .flows_in_flight = in_flight_.load(),
            .errors = errors_total_.load(),
            .flows_per_s_recent =
                since_s > 0 ? static_cast<double>(completed - completed_at_last_progress_) / since_s
                            : 0,
            .flow_latency_us_p99 = flows.value_at_quantile(0.99),
        });
    }
    completed_at_last_progress_ = completed;
    last_progress_ = now;
    next_progress_ = now + options_.progress_interval;
    if (options_.interval.count() > 0 && now >= next_interval_) {
        report_interval(now);
    }
}

// Hands the requests answered since the previous interval report to on_interval and starts
// the next interval. On the driver thread.
void LoadRun::report_interval(TimePoint now) {
    IntervalReport report;
    report.from_s = std::chrono::duration<double>(last_interval_ - start_).count();
    report.to_s = std::chrono::duration<double>(now - start_).count();
    const std::uint64_t completed = completed_measured_.load();
    report.flows_completed = completed - completed_at_last_interval_;
    for (std::size_t i = 0; i < request_kind_count; ++i) {
        KindReport kind;
        kind.kind = static_cast<RequestKind>(i);
        for (const auto& lane : lanes_) {
            std::lock_guard lock(lane->mutex);
            kind.latency_us.merge(lane->interval_latency_us[i]);
            kind.ok += lane->interval_ok[i];
            kind.errors += lane->interval_errors[i];
            lane->interval_latency_us[i].reset();
            lane->interval_ok[i] = 0;
            lane->interval_errors[i] = 0;
        }
        if (kind.ok + kind.errors > 0) {
            report.kinds.push_back(std::move(kind));
        }
    }
    completed_at_last_interval_ = completed;
    last_interval_ = now;
    next_interval_ = now + options_.interval;
    if (options_.on_interval) {
        options_.on_interval(report);
    }
}

LoadReport LoadRun::collect() const {
    LoadReport report;
    report.closed_loop = options_.concurrency > 0;
    report.target = options_.target;
    report.rate_per_s_target = report.closed_loop ? 0 : options_.rate_per_s;
    report.concurrency = options_.concurrency;
    report.connections = options_.connections;
    report.measured_s = std::chrono::duration<double>(end_ - measure_from_).count();
    report.flows_started = started_measured_.load();
    report.flows_completed = completed_measured_.load();
    report.flows_failed = failed_measured_.load();
    report.flows_per_s = static_cast<double>(completed_in_window_.load()) / report.measured_s;
    report.flows_ok_all = completed_total_.load();
    std::array<KindReport, request_kind_count> kinds;
    for (const auto& lane : lanes_) {
        std::lock_guard lock(lane->mutex);
        for (std::size_t i = 0; i < request_kind_count; ++i) {
            kinds[i].kind = static_cast<RequestKind>(i);
            kinds[i].ok += lane->ok[i];
            kinds[i].errors += lane->errors[i];
            kinds[i].latency_us.merge(lane->latency_us[i]);
        }
        for (const auto& [what, count] : lane->error_kinds) {
            report.errors[what] += count;
        }
        for (const auto& [what, count] : lane->outcomes) {
            report.outcomes[what] += count;
        }
    }
    for (auto& kind : kinds) {
        if (kind.ok + kind.errors > 0) {
            report.kinds.push_back(std::move(kind));
        }
    }
    if (history_missing_.load()) {
        report.notes.push_back(
            "history: GET /v1/me/payments answered 404 (no query side on this server); "
            "history reads were skipped");
    }
    return report;
}

Status validate(const LoadOptions& options) {
    if (options.target == Target::payment_flow &&
        (options.consumer_tokens.empty() || options.merchant_tokens.empty())) {
        return {Errc::invalid_argument, "payment flows need consumer and merchant tokens"};
    }
    if (options.concurrency == 0 && !(options.rate_per_s > 0)) {
        return {Errc::invalid_argument, "an open-loop load needs a rate above 0"};
    }
    if (options.duration <= options.warmup) {
        return {Errc::invalid_argument, "the duration must be longer than the warmup"};
    }
    if (options.connections == 0 || options.flows_in_flight_max == 0) {
        return {Errc::invalid_argument, "connections and flows_in_flight_max must be above 0"};
    }
    if (options.long_poll_wait_s < 0 || options.wait_rounds_max < 1) {
        return {Errc::invalid_argument, "long_poll_wait_s >= 0 and wait_rounds_max >= 1"};
    }
    return {};
}

}  // namespace

std::string_view request_kind_name(RequestKind kind) {
    switch (kind) {
        case RequestKind::create_code:
            return "create_code";
        case RequestKind::pay:
            return "pay";
        case RequestKind::wait_result:
            return "wait_result";
        case RequestKind::cancel:
            return "cancel";
        case RequestKind::history:
            return "history";
        case RequestKind::healthz:
            return "healthz";
        case RequestKind::flow:
            return "flow";
    }
    return "unknown";
}

Result<LoadReport> run_load(const LoadOptions& options) {
    if (Status valid = validate(options); !valid.ok()) {
        return valid;
    }
    LoadRun run(options);
    if (Status opened = run.open(); !opened.ok()) {
        return opened;
    }
    return run.run();
}

Result<MaxSearchReport> find_max(const MaxSearchOptions& options) {
    if (options.concurrency_steps.empty()) {
        return Status(Errc::invalid_argument, "the search needs at least one concurrency step");
    }
    MaxSearchReport search;
    std::size_t steps_without_gain = 0;
    for (std::size_t step : options.concurrency_steps) {
        LoadOptions load = options.load;
        load.concurrency = std::max<std::size_t>(1, step);
        load.connections = std::max(load.connections, load.concurrency);
        auto report = run_load(load);
        if (!report.ok()) {
            return report.status();
        }
        search.steps.push_back(std::move(report).value());
        if (search.steps.size() == 1) {
            continue;
        }
        const double best = search.best().flows_per_s;
        const double now = search.steps.back().flows_per_s;
        steps_without_gain = now < best * (1 + options.gain_min) ? steps_without_gain + 1 : 0;
        if (now > best) {
            search.best_step = search.steps.size() - 1;
        }
        if (steps_without_gain >= std::max<std::size_t>(1, options.patience)) {
            break;
        }
    }
    return search;
}

}  // namespace qrpay::loadgen
