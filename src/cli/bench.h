#pragma once
// `qrpay bench`: the measuring tools of issue 6 (bench/run drives them; docs/benchmarks.md
// shows what they measured).
//
//   qrpay bench load     the load generator (bench/load.h) against a running `qrpay serve`:
//                        open loop at --rate, closed loop at --concurrency, or --mode max
//                        (closed-loop search for the highest flow rate); --target healthz
//                        runs the same generator against the admin listener's GET /healthz.
//   qrpay bench fill     issues --codes payment codes through the runtime straight into a
//                        data directory's journal (no HTTP), as the service issues them: a
//                        token held by a transaction waiting to be read (its expiry a durable
//                        deadline), every entity kept in memory; reports RSS growth per active
//                        entity and the durable event rate.
//   qrpay bench startup  starts `qrpay serve` on a data directory and times it to /readyz
//                        (and, with --wait-active N, until N transactions are back in memory or
//                        their count stops rising for 3 s, as a limit would stop it).
// Each prints a summary for people and, with --json FILE, writes the numbers for bench/run.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace qrpay::cli {

struct BenchLoadConfig {
    std::string url = "http://127.0.0.1:8080";
    std::string admin_url = "http://127.0.0.1:8081";
    std::string data_dir = "./data";  // holds jwt.key, to sign the simulated users' tokens
    std::string jwt_key;
    std::size_t consumers = 1'000;
    std::size_t merchants = 100;
    std::string target = "flow";  // flow or healthz
    std::string mode = "open";    // open, closed or max
    double rate_per_s = 100;
    std::size_t concurrency = 16;
    std::vector<std::size_t> concurrency_steps{4, 8, 16, 32, 64, 128};
    std::chrono::milliseconds duration{std::chrono::seconds(10)};
    std::chrono::milliseconds warmup{std::chrono::seconds(1)};
    std::size_t connections = 64;
    std::size_t client_threads = 1;
    double cancel_share = 0.1;
    double history_share = 0.1;
    bool no_consumer_wait = false;
    int long_poll_wait_s = 10;
    std::string json_path;
    std::string interval_json_path;  // empty: no interval reports
    std::chrono::milliseconds interval{std::chrono::minutes(1)};
    bool quiet = false;
};

struct BenchFillConfig {
    std::string data_dir = "./bench-data";
    std::uint64_t codes = 1'000'000;
    std::size_t in_flight_max = 4'096;
    std::chrono::milliseconds code_ttl{std::chrono::hours(1)};
    std::uint32_t shard_count = 64;
    std::uint32_t executors = 0;  // 0: one per core
    std::string json_path;
};

struct BenchStartupConfig {
    std::string data_dir = "./bench-data";
    std::uint32_t shard_count = 64;
    std::uint64_t wait_active = 0;  // > 0: also wait until this many transactions are in memory
    std::chrono::milliseconds timeout{std::chrono::seconds(120)};
    std::string log_path;  // the server's output; empty: <data_dir>/startup.log
    std::string json_path;
};

struct BenchConfig {
    std::string command;  // set by the chosen subcommand: load, fill or startup
    BenchLoadConfig load;
    BenchFillConfig fill;
    BenchStartupConfig startup;
};

void add_bench(CLI::App& root, BenchConfig& config);
int run_bench(const BenchConfig& config);

}  // namespace qrpay::cli
