// qrpay: the command line. Every flag also has a config-file key (the flag's long name, in
// the subcommand's [section]) and a QRPAY_<FLAG> environment variable; the command line wins
// over the file, which wins over the environment (CLI11's order).

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "cli/agency_sim.h"
#include "cli/bench.h"
#include "cli/cluster_command.h"
#include "cli/flags.h"
#include "cli/journal_open.h"
#include "cli/projection_command.h"
#include "cli/serve.h"
#include "cli/token_issue.h"

namespace {

using qrpay::cli::add_duration;
using qrpay::cli::add_environment_names;
using qrpay::cli::show_every_default;

void add_serve(CLI::App& root, qrpay::cli::ServeConfig& config) {
    CLI::App* serve = root.add_subcommand("serve", "run the payment service");
    serve->add_option("--listen", config.listen, "HOST:PORT of the API");
    serve->add_option("--admin-listen", config.admin_listen, "HOST:PORT of healthz/readyz/metrics");
    qrpay::cli::add_node_flags(
        *serve, {.data_dir = {&config.data_dir, "where the journal and keys live"},
                 .code_ttl = {&config.code_ttl, "payment code validity"},
                 .shard_count = {&config.shard_count, "shards (fixed once data exists)"},
                 .executors = &config.executors});
    serve->add_option("--journal", config.journal_url,
                      "postgresql:// URL of the journal; empty: SQLite in the data directory");
    serve->add_option("--read-model", config.query.read_model,
                      "postgresql:// URL of the read models; empty: the journal's database when "
                      "it is PostgreSQL, else SQLite in the data directory");
    add_duration(*serve, "--journal-connect-wait", config.journal_connect_wait,
                 "how long to wait for PostgreSQL at start");
    serve->add_option("--agency-url", config.agency_url,
                      "payment agency base URL; empty: the built-in simulator");
    serve->add_option("--jwt-key", config.jwt_key, "HS256 key; empty: DATA_DIR/jwt.key");
    add_duration(*serve, "--pay-wait", config.pay_wait, "wait for a final state before 202");
    add_duration(*serve, "--agency-timeout", config.agency_timeout, "agency call timeout");
    add_duration(*serve, "--passivate-after", config.passivate_after, "idle entity unload");
    serve->add_option("--http-threads", config.http_threads, "HTTP threads; 0: one per core");
    serve->add_option("--snapshot-every", config.snapshot_every, "events between snapshots")
        ->check(CLI::Range(1U, 1'000'000U));
    serve
        ->add_option("--active-entities-max", config.active_entities_max,
                     "entities in memory before idle ones are unloaded early")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
    serve->add_option("--etcd", config.etcd,
                      "etcd client URLs: run as a node of the cluster defined there (qrpay "
                      "cluster init); needs --journal postgresql://");
    serve->add_option("--node-id", config.node_id, "this node's id in the cluster");
    serve->add_option("--cluster-name", config.cluster_name, "the cluster's name in etcd");
    add_duration(*serve, "--lease-ttl", config.lease_ttl,
                 "the node's etcd lease: its shards move this long after it dies");
    add_duration(*serve, "--cluster-leave-wait", config.cluster_leave_wait,
                 "on SIGTERM, how long to wait for this node's shards to be handed over");
    serve->add_option("--internal-listen", config.internal_listen,
                      "a cluster node's internal listener (host:port): peers forward the "
                      "commands of this node's shards to it");
    add_duration(*serve, "--shard-move-wait", config.shard_move_wait,
                 "how long a command waits for its shard's owner while the shard moves");
    add_duration(*serve, "--drain-wait", config.drain_wait,
                 "on SIGTERM, how long a cluster node serves with /readyz red before it hands "
                 "its shards over (time for HAProxy's checks)");
    serve->add_flag("--quickstart", config.quickstart, "print tokens and curl commands");
    serve->add_option("--log-level", config.log_level, "debug, info, warn or error")
        ->transform(CLI::CheckedTransformer(std::map<std::string, qrpay::log::Level>{
                                                {"debug", qrpay::log::Level::debug},
                                                {"info", qrpay::log::Level::info},
                                                {"warn", qrpay::log::Level::warn},
                                                {"error", qrpay::log::Level::error}})
                        .description(""))
        ->type_name("LEVEL")
        ->default_str("info");
    serve
        ->add_option("--codes-burst-max", config.codes_burst_max,
                     "codes one consumer may ask for at once")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000'000}));
    add_duration(*serve, "--code-refill-interval", config.code_refill_interval,
                 "then one more code per consumer per interval");
    serve
        ->add_option("--open-codes-max", config.open_codes_max,
                     "codes one consumer may have within one code TTL")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000'000}));
    serve->add_option("--business-time-zone", config.query.business_time_zone,
                      "IANA zone of the sales' business day");
    serve->add_option("--sse-subscribers-max", config.query.sse_subscribers_max,
                      "open event streams at most");
    serve
        ->add_option("--sse-subscribers-per-subject-max", config.sse_subscribers_per_subject_max,
                     "open event streams of one token subject at most")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
    serve
        ->add_option("--http-connections-max", config.http_connections_max,
                     "open API connections at most; beyond: 503")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
    serve
        ->add_option("--http-connections-per-address-max", config.http_connections_per_address_max,
                     "open API connections from one client address at most; beyond: 429")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
    add_duration(*serve, "--http-first-byte-timeout", config.http_first_byte_timeout,
                 "a new connection's wait for its first byte");
    serve
        ->add_option("--projection-fault", config.query.projection_fault,
                     "projection fault points, for tests only (projection/fault_points.h)")
        ->group(qrpay::cli::hidden_group);
    serve
        ->add_option("--journal-fault", config.journal_fault,
                     "journal fault points, for tests only (journal/fault_injection.h)")
        ->group(qrpay::cli::hidden_group);
    serve
        ->add_option("--agency-fault", config.agency_fault,
                     "agency fault points, for tests only (agency/fault_injection.h)")
        ->group(qrpay::cli::hidden_group);
    add_environment_names(*serve);
}

}  // namespace

namespace {

// CLI11's one-line error, and the help (which lists the subcommands) when one is missing:
// `qrpay` alone shows what it can do.
std::string failure_message(const CLI::App* app, const CLI::Error& error) {
    std::string message = CLI::FailureMessage::simple(app, error);
    if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr &&
        std::string_view(error.what()).find("subcommand") != std::string_view::npos) {
        message += "\n" + app->help();
    }
    return message;
}

int run(int argc, char** argv) {
    CLI::App app{"qrpay: QR-code payments, event sourced"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "qrpay " QRPAY_VERSION);
    app.failure_message(failure_message);
    // Subcommands created after this pass options they do not know (--config, --version) to
    // their parent: `qrpay serve --config FILE` and `qrpay --config FILE serve` both work.
    app.fallthrough();
    // CLI11 reads the config file before it looks at the environment, so QRPAY_CONFIG is
    // taken here, as the default file name.
    const char* config_from_env = std::getenv("QRPAY_CONFIG");
    app.set_config("--config", config_from_env != nullptr ? config_from_env : "",
                   "configuration file (TOML/INI, one [section] per command); also QRPAY_CONFIG");

    qrpay::cli::ServeConfig serve_config;
    add_serve(app, serve_config);
    qrpay::cli::AgencySimConfig sim_config;
    qrpay::cli::add_agency_sim(app, sim_config);
    qrpay::cli::TokenIssueConfig token_config;
    qrpay::cli::add_token_issue(app, token_config);
    qrpay::cli::BenchConfig bench_config;
    qrpay::cli::add_bench(app, bench_config);
    qrpay::cli::ProjectionConfig projection_config;
    qrpay::cli::add_projection(app, projection_config);
    qrpay::cli::DbConfig db_config;
    qrpay::cli::add_db(app, db_config);
    qrpay::cli::ClusterConfig cluster_config;
    qrpay::cli::add_cluster(app, cluster_config);

    show_every_default(app);

    CLI11_PARSE(app, argc, argv);

    if (app.got_subcommand("serve")) {
        return qrpay::cli::run_serve(serve_config);
    }
    if (app.got_subcommand("agency-sim")) {
        return qrpay::cli::run_agency_sim(sim_config);
    }
    if (app.got_subcommand("bench")) {
        return qrpay::cli::run_bench(bench_config);
    }
    if (app.got_subcommand("db")) {
        return qrpay::cli::run_db(db_config);
    }
    if (app.got_subcommand("cluster")) {
        return qrpay::cli::run_cluster(cluster_config);
    }
    if (app.got_subcommand("projection")) {
        return qrpay::cli::run_projection(app, projection_config);
    }
    return qrpay::cli::run_token_issue(token_config);
}

}  // namespace

// The edge of the process: an exception that escaped every module (a bug, since none should
// cross a module's API) is reported, not swallowed.
int main(int argc, char** argv) {
    // Every file qrpay creates (journal, read model, keys, the simulator's ledger) is its
    // owner's alone: the journal holds payment codes, which are bearer secrets while valid.
    ::umask(S_IRWXG | S_IRWXO);
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "qrpay: unexpected exception: %s\n", error.what());
        return 70;  // EX_SOFTWARE
    }
}
