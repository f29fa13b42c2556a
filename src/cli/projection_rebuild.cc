// `qrpay projection` (command line) and `qrpay projection rebuild NAME`.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/log.h"
#include "cli/flags.h"
#include "cli/journal_open.h"
#include "cli/projection_command.h"
#include "cli/projection_serve.h"
#include "projection/payments/payments_projection.h"
#include "projection/rebuild.h"

namespace qrpay::cli {
namespace {

// The shard count `qrpay serve` recorded when it created the data.
Result<std::uint32_t> stored_shard_count(const std::string& data_dir) {
    std::ifstream in(data_dir + "/shard_count");
    std::uint32_t count = 0;
    if (!(in >> count) || count == 0) {
        return Status(Errc::not_found, data_dir + " holds no qrpay data (no shard_count)");
    }
    return count;
}

int fail(const char* what, const Status& status) {
    std::fprintf(stderr, "qrpay projection: %s: %s\n", what, status.to_string().c_str());
    return 1;
}

}  // namespace

void add_projection(CLI::App& root, ProjectionConfig& config) {
    CLI::App* projection = root.add_subcommand("projection", "query-side tools");
    projection->require_subcommand(1);
    CLI::App* rebuild = projection->add_subcommand(
        "rebuild", "rebuild a read model from the journal, online, and swap it in");
    rebuild->add_option("name", config.rebuild.name, "the projection: payments")->required();
    rebuild->add_option("--data-dir", config.rebuild.data_dir, "the service's data directory");
    rebuild->add_option("--journal", config.rebuild.journal_url,
                        "postgresql:// URL of the journal; empty: SQLite in the data directory");
    rebuild->add_option("--read-model", config.rebuild.read_model,
                        "postgresql:// URL of the read models; empty: the journal's database "
                        "when it is PostgreSQL, else SQLite in the data directory");
    rebuild->add_option("--business-time-zone", config.rebuild.business_time_zone,
                        "IANA zone of the business day (as the service uses)");
    add_environment_names(*rebuild);

    ProjectionBenchConfig& bench = config.bench;
    CLI::App* bench_app = projection->add_subcommand(
        "bench", "drive payments at a steady rate and report projection lag");
    bench_app->add_option("--data-dir", bench.data_dir, "empty: a temporary directory");
    bench_app->add_option("--rate", bench.rate_per_s, "payments/s; 0: half the probed maximum");
    add_duration(*bench_app, "--duration", bench.duration, "the steady run");
    add_duration(*bench_app, "--probe", bench.probe, "the closed-loop probe for the maximum");
    bench_app->add_option("--probe-concurrency", bench.probe_concurrency,
                          "payments in flight during the probe");
    bench_app->add_option("--shard-count", bench.shard_count, "shards");
    bench_app->add_option("--in-flight-max", bench.in_flight_max, "payments in flight at most");
}

int run_projection(const CLI::App& root, const ProjectionConfig& config) {
    const CLI::App* projection = root.get_subcommand("projection");
    if (projection->got_subcommand("rebuild")) {
        return run_projection_rebuild(config.rebuild);
    }
    return run_projection_bench(config.bench);
}

int run_projection_rebuild(const ProjectionRebuildConfig& config) {
    if (config.name != projection::payments::projection_name) {
        std::fprintf(stderr, "qrpay projection rebuild: unknown projection '%s' (known: %s)\n",
                     config.name.c_str(),
                     std::string(projection::payments::projection_name).c_str());
        return 2;
    }
    auto shard_count = stored_shard_count(config.data_dir);
    if (!shard_count.ok()) {
        return fail("data directory", shard_count.status());
    }
    std::string journal_path = config.data_dir + "/journal.sqlite3";
    if (config.journal_url.empty() && !std::filesystem::exists(journal_path)) {
        return fail("journal", Status(Errc::not_found, journal_path + " does not exist"));
    }
    auto journal = open_journal({.url = config.journal_url,
                                 .shard_count = *shard_count,
                                 .data_dir = config.data_dir,
                                 .connect_wait = {}});
    if (!journal.ok()) {
        return fail("journal", journal.status());
    }
    auto zone = projection::TimeZone::load(config.business_time_zone);
    if (!zone.ok()) {
        return fail("time zone", zone.status());
    }
    const std::string read_model = read_model_location(
        config.data_dir, !config.read_model.empty() || config.journal_url.empty()
                             ? config.read_model
                             : split_journal_urls(config.journal_url).front());
    auto store = projection::Store::open({.path = read_model});
    if (!store.ok()) {
        return fail("read model", store.status());
    }
    SystemClock clock;
    projection::payments::PaymentsProjection payments(std::move(zone).value());
    projection::Rebuilder rebuilder(**journal, **store, payments, clock,
                                    {.shard_count = *shard_count});
    if (Status rebuilt = rebuilder.run(); !rebuilt.ok()) {
        return fail("rebuild", rebuilt);
    }
    std::printf("rebuilt projection %s in %s\n", config.name.c_str(),
                loggable_location(read_model).c_str());
    return 0;
}

}  // namespace qrpay::cli
