#pragma once
// `qrpay projection`: tools of the query side (issue 5).
//
//   qrpay projection rebuild NAME   rebuilds the projection NAME (payments) of a data directory
//                                   from its journal into fresh tables, online (a serving
//                                   process may keep running), and swaps them in when caught up
//   qrpay projection bench          drives payments at a steady rate through the runtime, the
//                                   domain and the in-process simulated agency (no HTTP) and
//                                   reports projection lag p50/p99/max (docs/benchmarks.md)

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "projection/time_zone.h"

namespace CLI {
class App;
}

namespace qrpay::cli {

struct ProjectionRebuildConfig {
    std::string name;
    std::string data_dir = "./data";
    std::string journal_url;  // empty: the SQLite journal in data_dir (journal_open.h)
    std::string read_model;   // empty: journal_url when set, else the data directory's file
    std::string business_time_zone{projection::default_business_time_zone};
};

struct ProjectionBenchConfig {
    std::string data_dir;   // empty: a fresh directory under /tmp, removed afterwards
    double rate_per_s = 0;  // 0: half of the sustainable rate the probe finds
    std::chrono::milliseconds duration{std::chrono::seconds(10)};
    std::chrono::milliseconds probe{std::chrono::seconds(5)};
    std::size_t probe_concurrency = 64;
    std::uint32_t shard_count = 64;
    std::size_t in_flight_max = 10'000;
    std::size_t lag_samples_max = 10'000'000;
};

struct ProjectionConfig {
    ProjectionRebuildConfig rebuild;
    ProjectionBenchConfig bench;
};

void add_projection(CLI::App& root, ProjectionConfig& config);
// Runs the subcommand of `projection` that was given; the process exit code.
int run_projection(const CLI::App& root, const ProjectionConfig& config);

int run_projection_rebuild(const ProjectionRebuildConfig& config);
int run_projection_bench(const ProjectionBenchConfig& config);

}  // namespace qrpay::cli
