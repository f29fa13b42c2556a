// `qrpay projection bench`: projection lag under a steady payment rate (issue 5). A benchmark,
// not a test: it asserts nothing and its numbers go to docs/benchmarks.md.
//
// The service runs in this process without HTTP: SQLite journal, runtime, Token and
// Transaction entities, the simulated agency in process, and the payments projection fed by
// the journal's commit listener, as `qrpay serve` wires them. A probe first finds the
// sustainable payment rate (closed loop, probe_concurrency payments in flight); the steady run
// then starts payments (issue a code, then pay) at half of it (or at --rate), open loop. Every
// event the projection applies during the steady run reports its lag: the event's journal
// written_at to the read-model commit that applied it.

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "agency_sim/in_process_agency.h"
#include "agency_sim/simulator.h"
#include "base/log.h"
#include "base/random.h"
#include "cli/projection_command.h"
#include "cli/projection_serve.h"
#include "domain/payment_flows.h"
#include "journal/sqlite/sqlite_journal.h"
#include "runtime/entity_host.h"

namespace qrpay::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto drain_wait_max = std::chrono::seconds(60);

// The lag of every applied event, bounded; the engine's worker adds, the bench reads.
class LagSamples {
public:
    explicit LagSamples(std::size_t samples_max) : samples_max_(samples_max) {}
    void add(milliseconds lag) {
        std::lock_guard lock(mutex_);
        if (samples_.size() < samples_max_) {
            samples_.push_back(lag.count());
        }
    }
    void clear() {
        std::lock_guard lock(mutex_);
        samples_.clear();
    }
    std::vector<std::int64_t> sorted() {
        std::lock_guard lock(mutex_);
        std::vector<std::int64_t> out = samples_;
        std::sort(out.begin(), out.end());
        return out;
    }

private:
    const std::size_t samples_max_;
    std::mutex mutex_;  // guards samples_: the engine's worker and the bench thread
    std::vector<std::int64_t> samples_;
};

// Payments started and not yet answered, bounded by in_flight_max.
class InFlight {
public:
    explicit InFlight(std::size_t in_flight_max) : in_flight_max_(in_flight_max) {}
    bool try_start() {
        std::lock_guard lock(mutex_);
        if (count_ >= in_flight_max_) {
            return false;
        }
        ++count_;
        return true;
    }
    void finish(bool ok) {
        std::lock_guard lock(mutex_);
        --count_;
        ++(ok ? succeeded_ : failed_);
        changed_.notify_all();
    }
    bool wait_idle(SteadyClock::time_point deadline) {
        std::unique_lock lock(mutex_);
        return changed_.wait_until(lock, deadline, [this] { return count_ == 0; });
    }
    std::uint64_t succeeded() {
        std::lock_guard lock(mutex_);
        return succeeded_;
    }
    std::uint64_t failed() {
        std::lock_guard lock(mutex_);
        return failed_;
    }

private:
    const std::size_t in_flight_max_;
    std::mutex mutex_;  // guards the counters: executors finish, the driver starts
    std::condition_variable changed_;
    std::size_t count_ = 0;
    std::uint64_t succeeded_ = 0;
    std::uint64_t failed_ = 0;
};

// The service without HTTP, wired as `qrpay serve` wires it.
class Stack {
public:
    Stack(const ProjectionBenchConfig& config, LagSamples& samples)
        : config_(config), samples_(samples) {}
    ~Stack() { shutdown(); }
    Stack(const Stack&) = delete;
    Stack& operator=(const Stack&) = delete;
    Stack(Stack&&) = delete;
    Stack& operator=(Stack&&) = delete;

    Status open();
    void shutdown();
    // Starts one payment: a code for a consumer, then the merchant pays 100 JPY with it.
    void start_payment(std::uint64_t n, InFlight& in_flight);
    // Waits until the projection has applied everything the journal reported durable.
    bool wait_projection_idle(SteadyClock::time_point deadline);
    [[nodiscard]] const projection::Engine& engine() const { return *engine_; }

private:
    Status open_service();

    const ProjectionBenchConfig& config_;
    LagSamples& samples_;
    std::string dir_;
    bool remove_dir_ = false;
    SystemClock clock_;
    SecureRandom random_;
    std::unique_ptr<journal::Journal> journal_;
    std::unique_ptr<agency_sim::Simulator> simulator_;
    std::unique_ptr<domain::AgencyPort> agency_;
    std::unique_ptr<projection::Store> store_;
    std::unique_ptr<projection::payments::PaymentsProjection> projection_;
    std::unique_ptr<projection::Engine> engine_;
    std::unique_ptr<runtime::Runtime> runtime_;
    domain::Token token_;
    std::unique_ptr<domain::Transaction> transaction_;
    std::unique_ptr<runtime::EntityHost<domain::Token>> tokens_;
    std::unique_ptr<runtime::EntityHost<domain::Transaction>> transactions_;
    std::unique_ptr<domain::PaymentFlows> flows_;
};

Status Stack::open() {
    dir_ = config_.data_dir;
    if (dir_.empty()) {
        char pattern[] = "/tmp/qrpay-projection-bench-XXXXXX";
        if (::mkdtemp(pattern) == nullptr) {
            return {Errc::io_error, "mkdtemp failed"};
        }
        dir_ = pattern;
        remove_dir_ = true;
    }
    std::error_code ignored;
    std::filesystem::create_directories(dir_, ignored);
    auto journal = journal::open_sqlite_journal({.path = dir_ + "/journal.sqlite3"});
    if (!journal.ok()) {
        return journal.status();
    }
    journal_ = std::move(journal).value();
    auto simulator = agency_sim::Simulator::open({.data_dir = dir_ + "/agency-sim"});
    if (!simulator.ok()) {
        return simulator.status();
    }
    simulator_ = std::move(simulator).value();
    agency_ = agency_sim::make_in_process_agency(*simulator_);
    return open_service();
}

Status Stack::open_service() {
    auto zone = projection::TimeZone::load(std::string(projection::default_business_time_zone));
    auto store = projection::Store::open({.path = read_model_path(dir_)});
    if (!zone.ok() || !store.ok()) {
        return zone.ok() ? store.status() : zone.status();
    }
    store_ = std::move(store).value();
    projection_ =
        std::make_unique<projection::payments::PaymentsProjection>(std::move(zone).value());
    engine_ = std::make_unique<projection::Engine>(
        *journal_, *store_, *projection_, clock_,
        projection::EngineOptions{.shard_count = config_.shard_count,
                                  .lag_observer = [this](milliseconds lag) { samples_.add(lag); }});
    if (Status opened = engine_->open(); !opened.ok()) {
        return opened;
    }
    journal_->set_commit_listener(
        [this](ShardId shard, ShardOffset offset) { engine_->on_commit(shard, offset); });
    engine_->start();
    runtime_ = std::make_unique<runtime::Runtime>(
        *journal_, clock_, runtime::RuntimeOptions{.shard_count = config_.shard_count});
    transaction_ = std::make_unique<domain::Transaction>(*agency_);
    tokens_ = std::make_unique<runtime::EntityHost<domain::Token>>(*runtime_, token_);
    transactions_ =
        std::make_unique<runtime::EntityHost<domain::Transaction>>(*runtime_, *transaction_);
    if (Status started = runtime_->start(); !started.ok()) {
        return started;
    }
    flows_ = std::make_unique<domain::PaymentFlows>(*tokens_, *transactions_, random_, clock_,
                                                    domain::FlowOptions{});
    return {};
}

void Stack::shutdown() {
    if (runtime_) {
        runtime_->stop();
    }
    if (engine_) {
        engine_->stop();
    }
    agency_.reset();  // its callbacks tell the hosts: they must have run before the hosts go
    simulator_.reset();
    if (remove_dir_) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        remove_dir_ = false;
    }
}

void Stack::start_payment(std::uint64_t n, InFlight& in_flight) {
    domain::ConsumerId consumer{"bench-consumer-" + std::to_string(n % 1'000)};
    flows_->issue_code(consumer, [this, n, &in_flight](Result<domain::TransactionView> code) {
        if (!code.ok()) {
            in_flight.finish(false);
            return;
        }
        flows_->pay(
            domain::MerchantId{"bench-merchant-" + std::to_string(n % 100)},
            code->state.code.reveal(), Money{100, "JPY"}, "", {},
            [&in_flight](Result<domain::TransactionView> paid) { in_flight.finish(paid.ok()); });
    });
}

bool Stack::wait_projection_idle(SteadyClock::time_point deadline) {
    while (SteadyClock::now() < deadline) {
        projection::EngineStats stats = engine_->stats();
        bool idle = std::all_of(stats.shards.begin(), stats.shards.end(), [](const auto& shard) {
            return shard.durable <= shard.applied && !shard.failure;
        });
        if (idle) {
            return true;
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
}

// Closed loop: probe_concurrency chains of payments for the probe's duration; payments/s.
double probe_rate(Stack& stack, const ProjectionBenchConfig& config) {
    InFlight in_flight(config.probe_concurrency);
    auto deadline = SteadyClock::now() + config.probe;
    auto start = SteadyClock::now();
    std::uint64_t n = 0;
    while (SteadyClock::now() < deadline) {
        if (in_flight.try_start()) {
            stack.start_payment(n++, in_flight);
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
    (void)in_flight.wait_idle(SteadyClock::now() + drain_wait_max);
    double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    return static_cast<double>(in_flight.succeeded()) / seconds;
}

struct SteadyResult {
    std::uint64_t started = 0;
    std::uint64_t refused = 0;  // in_flight_max reached
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
    double seconds = 0;
};

// Open loop: one payment every 1/rate seconds for the duration.
SteadyResult run_steady(Stack& stack, const ProjectionBenchConfig& config, double rate) {
    InFlight in_flight(config.in_flight_max);
    SteadyResult result;
    auto start = SteadyClock::now();
    auto end = start + config.duration;
    auto interval = std::chrono::duration<double>(1.0 / rate);
    for (std::uint64_t n = 0;; ++n) {
        auto due = start + std::chrono::duration_cast<SteadyClock::duration>(interval * n);
        if (due >= end) {
            break;
        }
        std::this_thread::sleep_until(due);
        if (in_flight.try_start()) {
            ++result.started;
            stack.start_payment(1'000'000 + n, in_flight);
        } else {
            ++result.refused;
        }
    }
    result.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    (void)in_flight.wait_idle(SteadyClock::now() + drain_wait_max);
    result.succeeded = in_flight.succeeded();
    result.failed = in_flight.failed();
    return result;
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double quantile) {
    if (sorted.empty()) {
        return 0;
    }
    auto index = static_cast<std::size_t>(quantile * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int run_projection_bench(const ProjectionBenchConfig& config) {
    log::set_min_level(log::Level::warn);
    LagSamples samples(config.lag_samples_max);
    Stack stack(config, samples);
    if (Status opened = stack.open(); !opened.ok()) {
        std::fprintf(stderr, "projection bench: %s\n", opened.to_string().c_str());
        return 1;
    }
    double rate = config.rate_per_s;
    double probed = 0;
    if (rate <= 0) {
        probed = probe_rate(stack, config);
        rate = std::max(1.0, probed / 2);
    }
    (void)stack.wait_projection_idle(SteadyClock::now() + drain_wait_max);
    samples.clear();  // only the steady run counts
    SteadyResult steady = run_steady(stack, config, rate);
    bool idle = stack.wait_projection_idle(SteadyClock::now() + drain_wait_max);
    std::vector<std::int64_t> lags = samples.sorted();
    projection::EngineStats stats = stack.engine().stats();
    stack.shutdown();

    std::printf("projection lag benchmark (journal written_at -> read-model commit)\n");
    if (probed > 0) {
        std::printf("  probe: %.0f payments/s sustained (closed loop, %zu in flight, %lld ms)\n",
                    probed, config.probe_concurrency, static_cast<long long>(config.probe.count()));
    }
    std::printf(
        "  steady: %.1f payments/s for %.1f s: %llu started, %llu ok, %llu failed, "
        "%llu refused (in flight max)\n",
        rate, steady.seconds, static_cast<unsigned long long>(steady.started),
        static_cast<unsigned long long>(steady.succeeded),
        static_cast<unsigned long long>(steady.failed),
        static_cast<unsigned long long>(steady.refused));
    std::printf("  events applied in the steady run: %zu (%llu transactions in all)%s\n",
                lags.size(), static_cast<unsigned long long>(stats.transactions_committed),
                idle ? "" : "; the projection had NOT caught up at the end");
    std::printf("  lag: p50 %lld ms, p99 %lld ms, max %lld ms\n",
                static_cast<long long>(percentile(lags, 0.50)),
                static_cast<long long>(percentile(lags, 0.99)),
                static_cast<long long>(lags.empty() ? 0 : lags.back()));
    return idle && steady.failed == 0 ? 0 : 1;
}

}  // namespace qrpay::cli
