#include "cli/bench.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "agency_sim/in_process_agency.h"
#include "agency_sim/simulator.h"
#include "api/auth.h"
#include "base/clock.h"
#include "base/random.h"
#include "cli/flags.h"
#include "domain/payment_flows.h"
#include "domain/token/token.h"
#include "domain/transaction/transaction.h"
#include "http/client.h"
#include "journal/sqlite/sqlite_journal.h"
#include "loadgen/load.h"
#include "runtime/entity_host.h"

namespace qrpay::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point start) {
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

Status write_json(const std::string& path, const std::string& json) {
    if (path.empty()) {
        return {};
    }
    std::ofstream out(path, std::ios::trunc);
    out << json << "\n";
    return out ? Status() : Status(Errc::io_error, "cannot write " + path);
}

int fail(const char* what, const Status& status) {
    std::fprintf(stderr, "qrpay bench %s: %s\n", what, status.to_string().c_str());
    return 1;
}

// ---- qrpay bench load ------------------------------------------------------------------

void add_load(CLI::App& bench, BenchConfig& config) {
    BenchLoadConfig& load = config.load;
    CLI::App* cmd = bench.add_subcommand("load", "drive a running `qrpay serve` with flows");
    cmd->callback([&config] { config.command = "load"; });
    cmd->add_option("--url", load.url, "the API's base URL");
    cmd->add_option("--admin-url", load.admin_url, "the admin listener (healthz target)");
    cmd->add_option("--data-dir", load.data_dir, "the server's data dir (its jwt.key)");
    cmd->add_option("--jwt-key", load.jwt_key, "HS256 key instead of DATA_DIR/jwt.key");
    cmd->add_option("--consumers", load.consumers, "simulated consumers");
    cmd->add_option("--merchants", load.merchants, "simulated merchants");
    cmd->add_option("--target", load.target, "flow or healthz")
        ->check(CLI::IsMember({"flow", "healthz"}));
    cmd->add_option("--mode", load.mode, "open (constant rate), closed, or max (search)")
        ->check(CLI::IsMember({"open", "closed", "max"}));
    cmd->add_option("--rate", load.rate_per_s, "open loop: flows per second");
    cmd->add_option("--concurrency", load.concurrency, "closed loop: workers");
    cmd->add_option("--concurrency-steps", load.concurrency_steps, "max mode: workers per step")
        ->delimiter(',');
    add_duration(*cmd, "--duration", load.duration, "length of each run, warmup included");
    add_duration(*cmd, "--warmup", load.warmup, "first part not measured");
    cmd->add_option("--connections", load.connections, "keep-alive connections");
    cmd->add_option("--client-threads", load.client_threads, "generator I/O threads");
    cmd->add_option("--cancel-share", load.cancel_share, "completed payments cancelled")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--history-share", load.history_share, "flows ending with a history read")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_flag("--no-consumer-wait", load.no_consumer_wait,
                  "skip the consumer's long-poll when the pay answered a final state");
    cmd->add_option("--long-poll-wait", load.long_poll_wait_s, "seconds per long-poll")
        ->check(CLI::Range(0, 30));
    cmd->add_option("--json", load.json_path, "write the report as JSON to this file");
    cmd->add_option("--interval-json", load.interval_json_path,
                    "also write each --interval's latencies, one JSON object a line");
    add_duration(*cmd, "--interval", load.interval, "length of an --interval-json interval");
    cmd->add_flag("--quiet", load.quiet, "no progress lines");
}

Result<std::vector<std::string>> sign_tokens(const BenchLoadConfig& config,
                                             api::Role role,
                                             std::size_t count,
                                             const char* prefix) {
    std::string key = config.jwt_key;
    if (key.empty()) {
        auto loaded = api::load_key(config.data_dir);  // the server's key, never a new one
        if (!loaded.ok()) {
            return loaded.status();
        }
        key = *loaded;
    }
    api::TokenSigner signer(key);
    SystemClock clock;
    UnixMs expires_at{clock.wall_now().value + std::int64_t{24} * 3'600'000};
    std::vector<std::string> tokens;
    for (std::size_t i = 0; i < count; ++i) {
        tokens.push_back(signer.issue({prefix + std::to_string(i), role}, expires_at));
    }
    return tokens;
}

void print_progress(const loadgen::Progress& progress) {
    std::fprintf(stderr,
                 "  %6.1fs  started %8llu  done %8llu  in flight %6llu  errors %6llu  "
                 "%8.1f flows/s  flow p99 %8.2f ms\n",
                 progress.elapsed_s, static_cast<unsigned long long>(progress.flows_started),
                 static_cast<unsigned long long>(progress.flows_completed),
                 static_cast<unsigned long long>(progress.flows_in_flight),
                 static_cast<unsigned long long>(progress.errors), progress.flows_per_s_recent,
                 static_cast<double>(progress.flow_latency_us_p99) / 1000.0);
}

Result<loadgen::LoadOptions> load_options(const BenchLoadConfig& config) {
    loadgen::LoadOptions options;
    options.api_url = config.url;
    options.admin_url = config.admin_url;
    options.target =
        config.target == "healthz" ? loadgen::Target::healthz : loadgen::Target::payment_flow;
    if (options.target == loadgen::Target::payment_flow) {
        auto consumers = sign_tokens(config, api::Role::consumer, config.consumers, "bench-c");
        auto merchants = sign_tokens(config, api::Role::merchant, config.merchants, "bench-m");
        if (!consumers.ok() || !merchants.ok()) {
            return consumers.ok() ? merchants.status() : consumers.status();
        }
        options.consumer_tokens = std::move(consumers).value();
        options.merchant_tokens = std::move(merchants).value();
    }
    options.rate_per_s = config.rate_per_s;
    options.concurrency = config.mode == "closed" ? config.concurrency : 0;
    options.duration = config.duration;
    options.warmup = config.warmup;
    options.connections = config.connections;
    options.client_threads = config.client_threads;
    options.consumer_wait = !config.no_consumer_wait;
    options.cancel_share = config.cancel_share;
    options.history_share = config.history_share;
    options.long_poll_wait_s = config.long_poll_wait_s;
    if (!config.quiet) {
        options.on_progress = print_progress;
    }
    return options;
}

int run_load_command(const BenchLoadConfig& config) {
    auto options = load_options(config);
    if (!options.ok()) {
        return fail("load", options.status());
    }
    std::ofstream intervals;
    if (!config.interval_json_path.empty()) {
        intervals.open(config.interval_json_path, std::ios::trunc);
        if (!intervals) {
            return fail("load",
                        Status(Errc::io_error, "cannot write " + config.interval_json_path));
        }
        options->interval = config.interval;
        options->on_interval = [&intervals](const loadgen::IntervalReport& report) {
            intervals << loadgen::to_json(report) << std::endl;  // flushed: read while running
        };
    }
    std::string json;
    if (config.mode == "max") {
        loadgen::MaxSearchOptions search{.load = *options,
                                         .concurrency_steps = config.concurrency_steps};
        auto report = loadgen::find_max(search);
        if (!report.ok()) {
            return fail("load", report.status());
        }
        for (const loadgen::LoadReport& step : report->steps) {
            std::printf("%s\n", loadgen::format_table(step).c_str());
        }
        std::printf("maximum: %.1f flows/s with %zu workers\n", report->best().flows_per_s,
                    report->best().concurrency);
        json = loadgen::to_json(*report);
    } else {
        auto report = loadgen::run_load(*options);
        if (!report.ok()) {
            return fail("load", report.status());
        }
        std::printf("%s", loadgen::format_table(*report).c_str());
        json = loadgen::to_json(*report);
    }
    std::fflush(stdout);
    Status written = write_json(config.json_path, json);
    return written.ok() ? 0 : fail("load", written);
}

// ---- qrpay bench fill ------------------------------------------------------------------

void add_fill(CLI::App& bench, BenchConfig& config) {
    BenchFillConfig& fill = config.fill;
    CLI::App* cmd = bench.add_subcommand("fill", "issue payment codes straight into a new journal");
    cmd->callback([&config] { config.command = "fill"; });
    add_node_flags(*cmd, {.data_dir = {&fill.data_dir, "a new data directory for `qrpay serve`"},
                          .code_ttl = {&fill.code_ttl, "validity of the activated codes"},
                          .shard_count = {&fill.shard_count, "shards, as `qrpay serve` will use"},
                          .executors = &fill.executors});
    cmd->add_option("--codes", fill.codes,
                    "payment codes to issue (a transaction waiting to be read, one event each)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
    cmd->add_option("--in-flight", fill.in_flight_max, "codes being issued at most")
        ->check(CLI::Range(std::size_t{1}, std::size_t{65'536}));
    cmd->add_option("--json", fill.json_path, "write the numbers as JSON to this file");
}

std::uint64_t rss_bytes(const std::string& statm_path) {
    std::ifstream statm(statm_path);
    std::uint64_t size_pages = 0;
    std::uint64_t resident_pages = 0;
    statm >> size_pages >> resident_pages;
    return resident_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// Codes and ids for the fill: a Mersenne twister seeded once from the kernel. Not secret (a
// benchmark needs no unguessable codes), and a getrandom(2) call per code would be a tenth of
// the fill's time.
class FillRandom final : public RandomSource {
public:
    FillRandom() {
        std::uint64_t seed = 0;
        SecureRandom().fill(&seed, sizeof seed);
        engine_.seed(seed);
    }
    void fill(void* out, std::size_t size) override {
        std::lock_guard lock(mutex_);  // a code drawn again is drawn on an executor
        auto* bytes = static_cast<unsigned char*>(out);
        for (std::size_t i = 0; i < size; i += sizeof(std::uint64_t)) {
            std::uint64_t word = engine_();
            std::memcpy(bytes + i, &word, std::min(size - i, sizeof word));
        }
    }

private:
    std::mutex mutex_;
    std::mt19937_64 engine_;  // guarded by mutex_
};

// Issues config.codes payment codes as the service does (PaymentFlows::issue_code: a Token
// held by a new Transaction that waits to be read, its expiry a durable deadline), with at
// most in_flight_max outstanding.
class CodeFiller {
public:
    CodeFiller(domain::PaymentFlows& flows, const BenchFillConfig& config)
        : flows_(flows), config_(config) {}

    Status run() {
        const auto start = SteadyClock::now();
        auto next_report = start + std::chrono::seconds(1);
        for (std::uint64_t i = 0; i < config_.codes; ++i) {
            if (!admit()) {
                return {Errc::timeout, "no code was issued within a minute"};
            }
            flows_.issue_code(
                domain::ConsumerId{"bench-c" + std::to_string(i % consumers)},
                [this](const Result<domain::TransactionView>& view) { on_reply(view.status()); });
            if (SteadyClock::now() >= next_report) {
                std::fprintf(stderr, "  %6.1fs  issued %llu of %llu\n", seconds_since(start),
                             static_cast<unsigned long long>(i),
                             static_cast<unsigned long long>(config_.codes));
                next_report += std::chrono::seconds(1);
            }
        }
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, std::chrono::minutes(1),
                               [this] { return outstanding_ == 0; })) {
            return {Errc::timeout, "codes still being issued after a minute"};
        }
        return errors_ == 0 ? Status() : first_error_;
    }

    std::uint64_t errors() const {
        std::lock_guard lock(mutex_);
        return errors_;
    }

private:
    // Waits (a minute at most) for room under in_flight_max and takes it.
    bool admit() {
        std::unique_lock lock(mutex_);
        bool room = changed_.wait_for(lock, std::chrono::minutes(1),
                                      [this] { return outstanding_ < config_.in_flight_max; });
        if (room) {
            ++outstanding_;
        }
        return room;
    }

    void on_reply(const Status& status) {  // on an executor thread, or here when refused
        std::lock_guard lock(mutex_);
        --outstanding_;
        if (!status.ok() && errors_++ == 0) {
            first_error_ = status;
        }
        changed_.notify_all();
    }

    static constexpr std::uint64_t consumers = 1'000;  // the codes' owners, round robin

    domain::PaymentFlows& flows_;
    const BenchFillConfig& config_;
    mutable std::mutex mutex_;  // guards what follows: the filler waits on it, executors reply
    std::condition_variable changed_;
    std::size_t outstanding_ = 0;
    std::uint64_t errors_ = 0;
    Status first_error_;
};

// A fresh data directory: the shard count file `qrpay serve` checks, and no journal yet.
Status prepare_data_dir(const BenchFillConfig& config) {
    std::error_code error;
    std::filesystem::create_directories(config.data_dir, error);
    if (std::filesystem::exists(config.data_dir + "/journal.sqlite3")) {
        return {Errc::invalid_argument, config.data_dir + " already holds a journal"};
    }
    std::ofstream out(config.data_dir + "/shard_count", std::ios::trunc);
    out << config.shard_count << "\n";
    return out ? Status() : Status(Errc::io_error, "cannot write the shard_count file");
}

struct FillResult {
    std::uint64_t rss_bytes_before = 0;
    std::uint64_t rss_bytes_after = 0;
    std::size_t active_entities = 0;
    std::uint64_t events = 0;  // made durable by the fill
    double elapsed_s = 0;
    journal::SqliteJournalStats journal;
};

// Issues the codes with every entity kept in memory: no passivation sweep runs and the
// active-entity limit is far above the count. Issuing a code calls no agency; the simulator
// (in its own directory beside the journal) only stands behind the Transaction behaviour.
Result<FillResult> fill_codes(const BenchFillConfig& config, journal::Journal& journal) {
    auto simulator = agency_sim::Simulator::open({.data_dir = config.data_dir + "/fill-agency"});
    if (!simulator.ok()) {
        return simulator.status();
    }
    auto agency = agency_sim::make_in_process_agency(**simulator);
    SystemClock clock;
    runtime::Runtime runtime(journal, clock,
                             {.executor_count = config.executors,
                              .shard_count = config.shard_count,
                              .passivate_after = std::chrono::hours(24 * 365),
                              .active_entities_max = 2 * config.codes + 1'024});
    domain::Token token;
    domain::Transaction transaction(*agency);
    runtime::EntityHost<domain::Token> tokens(runtime, token);
    runtime::EntityHost<domain::Transaction> transactions(runtime, transaction);
    FillRandom random;
    domain::PaymentFlows flows(tokens, transactions, random, clock, {.code_ttl = config.code_ttl});
    if (Status started = runtime.start(); !started.ok()) {
        return started;
    }
    FillResult result;
    result.rss_bytes_before = rss_bytes("/proc/self/statm");
    const auto start = SteadyClock::now();
    CodeFiller filler(flows, config);
    Status filled = filler.run();
    result.elapsed_s = seconds_since(start);
    result.rss_bytes_after = rss_bytes("/proc/self/statm");
    result.active_entities = tokens.stats().active_entities + transactions.stats().active_entities;
    result.events = tokens.stats().events_persisted + transactions.stats().events_persisted;
    result.journal = journal::sqlite_journal_stats(journal);
    runtime.stop();
    if (!filled.ok()) {
        return filled;
    }
    return result;
}

int run_fill_command(const BenchFillConfig& config) {
    if (Status prepared = prepare_data_dir(config); !prepared.ok()) {
        return fail("fill", prepared);
    }
    auto journal = journal::open_sqlite_journal({.path = config.data_dir + "/journal.sqlite3"});
    if (!journal.ok()) {
        return fail("fill", journal.status());
    }
    auto result = fill_codes(config, **journal);
    if (!result.ok()) {
        return fail("fill", result.status());
    }
    const double growth = static_cast<double>(result->rss_bytes_after) -
                          static_cast<double>(result->rss_bytes_before);
    const double entities = static_cast<double>(std::max<std::size_t>(1, result->active_entities));
    nlohmann::json json = {
        {"codes", config.codes},
        {"active_entities", result->active_entities},
        {"elapsed_s", result->elapsed_s},
        {"events", result->events},
        {"events_per_s", static_cast<double>(result->events) / result->elapsed_s},
        {"rss_bytes_before", result->rss_bytes_before},
        {"rss_bytes_after", result->rss_bytes_after},
        {"rss_bytes_per_entity", growth / entities},
        {"journal_commits", result->journal.commits},
        {"journal_appends_per_commit",
         static_cast<double>(result->journal.appends_committed) /
             static_cast<double>(std::max<std::uint64_t>(1, result->journal.commits))},
    };
    std::printf(
        "issued %llu codes in %.1f s (%.0f events/s); %zu active entities; "
        "RSS %.1f -> %.1f MiB: %.0f bytes per active entity\n",
        static_cast<unsigned long long>(config.codes), result->elapsed_s,
        json["events_per_s"].get<double>(), result->active_entities,
        static_cast<double>(result->rss_bytes_before) / 1048576.0,
        static_cast<double>(result->rss_bytes_after) / 1048576.0, growth / entities);
    std::fflush(stdout);
    Status written = write_json(config.json_path, json.dump(2));
    return written.ok() ? 0 : fail("fill", written);
}

// ---- qrpay bench startup ---------------------------------------------------------------

void add_startup(CLI::App& bench, BenchConfig& config) {
    BenchStartupConfig& startup = config.startup;
    CLI::App* cmd = bench.add_subcommand("startup", "time `qrpay serve` to ready on a data dir");
    cmd->callback([&config] { config.command = "startup"; });
    cmd->add_option("--data-dir", startup.data_dir, "the data directory to serve");
    cmd->add_option("--shard-count", startup.shard_count, "as the data was created with");
    cmd->add_option("--wait-active", startup.wait_active,
                    "also wait for this many transactions in memory (or their count to settle)");
    add_duration(*cmd, "--timeout", startup.timeout, "give up after");
    cmd->add_option("--log", startup.log_path, "the server's output; empty: DATA_DIR/startup.log");
    cmd->add_option("--json", startup.json_path, "write the numbers as JSON to this file");
}

// A port on 127.0.0.1 that was free a moment ago.
Result<std::uint16_t> free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    if (fd >= 0) {
        ::close(fd);
    }
    if (!ok) {
        return Status(Errc::unavailable, "no free port on 127.0.0.1");
    }
    return static_cast<std::uint16_t>(ntohs(address.sin_port));
}

// `qrpay serve` as a child process, killed if still running when this goes away.
class ServeProcess {
public:
    ServeProcess() = default;
    ServeProcess(const ServeProcess&) = delete;
    ServeProcess& operator=(const ServeProcess&) = delete;
    ServeProcess(ServeProcess&&) = delete;
    ServeProcess& operator=(ServeProcess&&) = delete;
    ~ServeProcess() { stop(std::chrono::seconds(0)); }

    Status spawn(std::vector<std::string> args, const std::string& log_path) {
        std::error_code error;
        std::string self = std::filesystem::read_symlink("/proc/self/exe", error).string();
        if (error) {
            return {Errc::io_error, "cannot find this binary: " + error.message()};
        }
        args.insert(args.begin(), self);
        std::vector<char*> argv;
        argv.reserve(args.size() + 1);
        for (std::string& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        int spawned = posix_spawn(&pid_, self.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (spawned != 0) {
            pid_ = -1;
            return {Errc::io_error, "posix_spawn failed: " + std::to_string(spawned)};
        }
        return {};
    }

    bool running() {
        int status = 0;
        if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
        }
        return pid_ > 0;
    }

    [[nodiscard]] std::uint64_t rss_bytes_now() const {
        return pid_ > 0 ? rss_bytes("/proc/" + std::to_string(pid_) + "/statm") : 0;
    }

    // SIGTERM, then SIGKILL once `grace` has passed; reaps the child.
    void stop(std::chrono::milliseconds grace) {
        if (!running()) {
            return;
        }
        ::kill(pid_, SIGTERM);
        const auto deadline = SteadyClock::now() + grace;
        while (running() && SteadyClock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (running()) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

private:
    pid_t pid_ = -1;
};

// Polls GET `path` until `accept` holds for its answer, the child exits, or `deadline`.
Status poll_admin(http::Client& admin,
                  ServeProcess& server,
                  const char* path,
                  SteadyClock::time_point deadline,
                  const std::function<bool(const http::Response&)>& accept,
                  std::chrono::milliseconds period) {
    while (SteadyClock::now() < deadline) {
        auto answer = admin.call({.method = "GET", .path = path});
        if (answer.ok() && accept(*answer)) {
            return {};
        }
        if (!server.running()) {
            return {Errc::unavailable, "qrpay serve exited; see its log"};
        }
        std::this_thread::sleep_for(period);
    }
    return {Errc::timeout, std::string("no answer from ") + path + " in time"};
}

// The transaction entities in memory, from the server's Prometheus text.
std::uint64_t active_transactions(const http::Response& metrics) {
    const std::string needle = "qrpay_entities_active{entity_type=\"transaction\"} ";
    std::size_t at = metrics.body.find(needle);
    return at == std::string::npos
               ? 0
               : std::strtoull(metrics.body.c_str() + at + needle.size(), nullptr, 10);
}

// How long the count of transactions in memory may stand still before the wait for it ends.
constexpr std::chrono::seconds active_still_max{3};

struct StartupResult {
    double ready_s = 0;       // spawn to the first 200 from /readyz
    double all_active_s = 0;  // spawn to the last rise of the transaction count (when asked)
    std::uint64_t active_transactions = 0;
    std::uint64_t rss_bytes = 0;  // the server's, at the end of the measurement
};

Result<StartupResult> time_startup(const BenchStartupConfig& config, ServeProcess& server) {
    auto port = free_port();
    auto admin_port = free_port();
    if (!port.ok() || !admin_port.ok()) {
        return Status(Errc::unavailable, "no free ports");
    }
    const std::string admin = "127.0.0.1:" + std::to_string(*admin_port);
    const std::string log =
        config.log_path.empty() ? config.data_dir + "/startup.log" : config.log_path;
    const auto start = SteadyClock::now();
    const auto deadline = start + config.timeout;
    Status spawned = server.spawn(
        {"serve", "--data-dir", config.data_dir, "--listen", "127.0.0.1:" + std::to_string(*port),
         "--admin-listen", admin, "--shard-count", std::to_string(config.shard_count),
         "--passivate-after", "24h"},
        log);
    if (!spawned.ok()) {
        return spawned;
    }
    auto client = http::Client::open({.base_url = "http://" + admin,
                                      .connect_timeout = std::chrono::milliseconds(200),
                                      .response_timeout = std::chrono::seconds(10),
                                      .connections_max = 1});
    if (!client.ok()) {
        return client.status();
    }
    StartupResult result;
    auto is_ok = [](const http::Response& answer) { return answer.status == 200; };
    Status ready =
        poll_admin(**client, server, "/readyz", deadline, is_ok, std::chrono::milliseconds(2));
    result.ready_s = seconds_since(start);
    if (ready.ok() && config.wait_active > 0) {
        // Done when every transaction is back, or when the count has not moved for active_still_max
        // (a limit such as the runtime's active_entities_max stopped it short: reported).
        auto last_change = SteadyClock::now();
        auto all_back = [&result, &config, &last_change](const http::Response& answer) {
            std::uint64_t now_active = answer.status == 200 ? active_transactions(answer) : 0;
            if (now_active != result.active_transactions) {
                result.active_transactions = now_active;
                last_change = SteadyClock::now();
            }
            return now_active >= config.wait_active ||
                   (now_active > 0 && SteadyClock::now() - last_change >= active_still_max);
        };
        ready = poll_admin(**client, server, "/metrics", deadline, all_back,
                           std::chrono::milliseconds(50));
        result.all_active_s = std::chrono::duration<double>(last_change - start).count();
    }
    result.rss_bytes = server.rss_bytes_now();
    (*client)->stop();
    if (!ready.ok()) {
        return ready;
    }
    return result;
}

int run_startup_command(const BenchStartupConfig& config) {
    ServeProcess server;
    auto result = time_startup(config, server);
    server.stop(std::chrono::seconds(30));
    if (!result.ok()) {
        return fail("startup", result.status());
    }
    nlohmann::json json = {
        {"ready_s", result->ready_s},
        {"all_active_s", result->all_active_s},
        {"active_transactions", result->active_transactions},
        {"rss_bytes", result->rss_bytes},
    };
    std::printf("ready after %.3f s", result->ready_s);
    if (config.wait_active > 0) {
        std::printf("; %llu transactions back in memory after %.3f s; server RSS %.1f MiB",
                    static_cast<unsigned long long>(result->active_transactions),
                    result->all_active_s, static_cast<double>(result->rss_bytes) / 1048576.0);
    }
    std::printf("\n");
    std::fflush(stdout);
    Status written = write_json(config.json_path, json.dump(2));
    return written.ok() ? 0 : fail("startup", written);
}

}  // namespace

void add_bench(CLI::App& root, BenchConfig& config) {
    CLI::App* bench = root.add_subcommand("bench", "benchmarks: load, fill, startup");
    bench->require_subcommand(1);
    add_load(*bench, config);
    add_fill(*bench, config);
    add_startup(*bench, config);
    for (CLI::App* sub : bench->get_subcommands({})) {
        add_environment_names(*sub);
    }
}

int run_bench(const BenchConfig& config) {
    if (config.command == "load") {
        return run_load_command(config.load);
    }
    if (config.command == "fill") {
        return run_fill_command(config.fill);
    }
    return run_startup_command(config.startup);
}

}  // namespace qrpay::cli
