#pragma once
// The load generator behind `qrpay bench load` (issue 6). It plays many consumers and merchants
// through DESIGN §3's flows against a running `qrpay serve`, over http::Client keep-alive pools:
//
//   create_code  consumer  POST /v1/payment-codes                         expects 201
//   pay          merchant  POST /v1/payments {code, amount}               expects 200 or 202
//   wait_result  consumer  GET /v1/transactions/{id}?wait=S&after_version=N, until final
//   cancel       merchant  POST /v1/transactions/{id}/cancel              (cancel_share)
//   history      merchant  GET /v1/me/payments                            (history_share)
//   healthz      -         GET /healthz on the admin listener             (Target::healthz)
//
// A flow runs its steps one after another; `flow` latency spans all of them.
//
// Open loop (concurrency == 0): flow n is due at start + n / rate_per_s, whether or not earlier
// flows have finished. Every latency is measured from the time its request was DUE (the
// flow's intended start, or the moment the previous step's answer arrived), never from when it
// was actually sent, so a generator or a connection pool that falls behind shows up as
// latency instead of hiding it (coordinated omission). Closed loop (concurrency > 0): that
// many workers each start the next flow as soon as their previous one ends.
//
// Measurement: flows due before `warmup` ends are run but not recorded; the achieved rate
// counts flows that completed inside [warmup, duration). After `duration` no flow starts;
// flows in flight get `drain_max` to finish, then count as errors ("flow:unfinished").
//
// Errors by kind are "<request kind>:<what>", where what is an HTTP status ("pay:http_503"),
// a transport outcome ("create_code:timeout", ":unavailable", ":unknown_outcome") or a
// malformed answer ("create_code:bad_body"). A GET /v1/me/payments answered 404 means the
// server has no query side yet: history reads stop and the report carries a note instead.
//
// Threads: run_load() blocks its caller (the driver thread, which also reports progress) and
// owns one I/O thread per client lane; all are joined before it returns.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "loadgen/histogram.h"

namespace qrpay::loadgen {

enum class Target {
    payment_flow,  // the payment flow above
    healthz,       // the same generator against GET /healthz: the HTTP ceiling
};

enum class RequestKind { create_code, pay, wait_result, cancel, history, healthz, flow };
inline constexpr std::size_t request_kind_count = 7;
std::string_view request_kind_name(RequestKind kind);

// A snapshot shown while the load runs.
struct Progress {
    double elapsed_s = 0;
    std::uint64_t flows_started = 0;
    std::uint64_t flows_completed = 0;
    std::uint64_t flows_in_flight = 0;
    std::uint64_t errors = 0;
    double flows_per_s_recent = 0;          // completions since the previous snapshot, per second
    std::uint64_t flow_latency_us_p99 = 0;  // so far, measured flows only
};

struct IntervalReport;

struct LoadOptions {
    std::string api_url;    // "http://127.0.0.1:8080"
    std::string admin_url;  // "http://127.0.0.1:8081"; used by Target::healthz
    Target target = Target::payment_flow;
    // Bearer tokens of the simulated consumers and merchants; flow n uses consumer n % size
    // and merchant (n * 7919) % size. Both must be non-empty for Target::payment_flow.
    std::vector<std::string> consumer_tokens;
    std::vector<std::string> merchant_tokens;

    double rate_per_s = 100;                     // open loop: flows due per second
    std::size_t concurrency = 0;                 // > 0: closed loop with that many workers
    std::chrono::milliseconds duration{10'000};  // including warmup
    std::chrono::milliseconds warmup{1'000};
    std::chrono::milliseconds drain_max{15'000};

    std::size_t connections = 64;              // keep-alive connections, over all lanes
    std::size_t client_threads = 1;            // lanes: one http::Client, one I/O thread each
    std::size_t flows_in_flight_max = 20'000;  // beyond: "generator:backlog_full", not started
    std::chrono::milliseconds request_timeout{30'000};

    bool consumer_wait = true;   // the consumer long-polls for the result after the pay
    double cancel_share = 0.1;   // of completed payments, cancelled by the merchant
    double history_share = 0.1;  // of flows, ending with a merchant history read
    int long_poll_wait_s = 10;
    int wait_rounds_max = 8;  // long-polls per flow before "wait_result:not_final"
    std::int64_t amount_minor = 1200;
    std::string currency = "JPY";
    std::uint64_t seed = 1;  // chooses which flows cancel and read history

    std::chrono::milliseconds progress_interval{1'000};
    std::function<void(const Progress&)> on_progress;  // on the driver thread; may be empty

    // > 0: every `interval` (at the first progress tick past it) and once at the end, the
    // latencies of the measured requests answered since the previous one go to on_interval
    // (on the driver thread), so a long run shows how its tail moves (bench/soak).
    std::chrono::milliseconds interval{0};
    std::function<void(const IntervalReport&)> on_interval;
};

struct KindReport {
    RequestKind kind = RequestKind::flow;
    std::uint64_t ok = 0;
    std::uint64_t errors = 0;
    LatencyHistogram latency_us;  // measured requests, errors included
};

// The requests answered in one interval of a run (LoadOptions::interval).
struct IntervalReport {
    double from_s = 0;  // since the run's start, warmup included
    double to_s = 0;
    std::uint64_t flows_completed = 0;  // measured flows that ended in the interval
    std::vector<KindReport> kinds;      // kinds with at least one request in the interval
};

struct LoadReport {
    bool closed_loop = false;
    Target target = Target::payment_flow;
    double rate_per_s_target = 0;  // open loop
    std::size_t concurrency = 0;   // closed loop
    std::size_t connections = 0;
    double measured_s = 0;
    std::uint64_t flows_started = 0;    // measured flows only
    std::uint64_t flows_completed = 0;  // measured flows that ended, ok or not
    std::uint64_t flows_failed = 0;     // of those, ended by an error
    double flows_per_s = 0;             // completions inside the measurement window, per second
    std::uint64_t flows_ok_all = 0;     // flows that ended well, warmup and drain included
                                        // (to divide costs measured over the whole run)
    std::map<std::string, std::uint64_t> errors;    // "<kind>:<what>" -> count
    std::map<std::string, std::uint64_t> outcomes;  // final status word -> payments
    std::vector<KindReport> kinds;                  // kinds with at least one request
    std::vector<std::string> notes;
};

// Runs one load. invalid_argument for inconsistent options; unavailable when a base URL does
// not resolve. Request failures are results, reported in LoadReport::errors.
Result<LoadReport> run_load(const LoadOptions& options);

// Closed-loop search for the highest flow rate: runs `load` once per concurrency step (in
// order, connections = max(load.connections, step)) and stops once `patience` steps in a row
// raised the best rate so far by less than gain_min (one noisy step does not end it).
struct MaxSearchOptions {
    LoadOptions load;
    std::vector<std::size_t> concurrency_steps{4, 8, 16, 32, 64, 128};
    double gain_min = 0.05;
    std::size_t patience = 2;
};
struct MaxSearchReport {
    std::vector<LoadReport> steps;
    std::size_t best_step = 0;  // index into steps
    [[nodiscard]] const LoadReport& best() const { return steps.at(best_step); }
};
Result<MaxSearchReport> find_max(const MaxSearchOptions& options);

// Renderings: a fixed-width table for people and JSON for bench/run (field names carry units).
std::string format_table(const LoadReport& report);
std::string to_json(const LoadReport& report);
std::string to_json(const MaxSearchReport& report);
std::string to_json(const IntervalReport& report);  // one line, for JSON Lines files

}  // namespace qrpay::loadgen
