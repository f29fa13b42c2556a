#include "cli/serve.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "agency/agency_client.h"
#include "agency/sim/in_process_agency.h"
#include "agency/sim/simulator.h"
#include "api/admin_api.h"
#include "api/auth.h"
#include "api/change_feed.h"
#include "api/idempotency.h"
#include "api/payment_api.h"
#include "api/query_api.h"
#include "base/log.h"
#include "base/random.h"
#include "cli/metrics.h"
#include "cli/projection_serve.h"
#include "domain/payment_flows.h"
#include "http/server.h"
#include "journal/sqlite/sqlite_journal.h"
#include "runtime/entity_host.h"

namespace qrpay::cli {
namespace {

// The shard count is fixed when the data is created: a restart with another count would
// move entities to shards whose journal order they were never in.
Status check_shard_count(const std::string& data_dir, std::uint32_t shard_count) {
    const std::string path = data_dir + "/shard_count";
    std::ifstream in(path);
    std::uint32_t stored = 0;
    if (in >> stored) {
        if (stored != shard_count) {
            return {Errc::invalid_argument, "data was created with --shard-count " +
                                                std::to_string(stored) + ", not " +
                                                std::to_string(shard_count)};
        }
        return {};
    }
    std::ofstream out(path);
    out << shard_count << "\n";
    return out ? Status() : Status(Errc::io_error, "cannot write " + path);
}

// The agency: over HTTP when a URL is configured, else the simulator in this process.
struct Agency {
    std::unique_ptr<agency::sim::Simulator> simulator;
    std::unique_ptr<domain::AgencyPort> port;
};

Result<Agency> open_agency(const ServeConfig& config) {
    Agency agency;
    if (!config.agency_url.empty()) {
        auto client = agency::AgencyClient::open(
            {.base_url = config.agency_url, .response_timeout = config.agency_timeout});
        if (!client.ok()) {
            return client.status();
        }
        agency.port = std::move(client).value();
        QRPAY_LOG_INFO("agency: %s", config.agency_url.c_str());
        return agency;
    }
    auto simulator = agency::sim::Simulator::open({.data_dir = config.data_dir + "/agency-sim"});
    if (!simulator.ok()) {
        return simulator.status();
    }
    agency.simulator = std::move(simulator).value();
    agency.port = agency::sim::make_in_process_agency(*agency.simulator);
    QRPAY_LOG_INFO(
        "agency: no --agency-url given, using the built-in simulated agency "
        "(ledger in %s/agency-sim)",
        config.data_dir.c_str());
    return agency;
}

Result<std::unique_ptr<http::Server>> start_server(const std::string& listen,
                                                   std::size_t threads,
                                                   http::Handler handler) {
    auto address = http::parse_host_port(listen);
    if (!address.ok()) {
        return address.status();
    }
    http::ServerOptions options;
    options.host = address->host;
    options.port = address->port;
    options.threads = threads;
    return http::Server::start(options, std::move(handler));
}

void print_quickstart(const ServeConfig& config,
                      const api::TokenSigner& signer,
                      const Clock& clock) {
    UnixMs tomorrow{clock.wall_now().value + 24 * 3'600'000};
    std::string consumer = signer.issue({"consumer-1", api::Role::consumer}, tomorrow);
    std::string merchant = signer.issue({"merchant-1", api::Role::merchant}, tomorrow);
    const std::string base = "http://" + config.listen;
    std::printf(
        "\nqrpay is ready on %s (admin on %s). Quick start, valid for 24 hours:\n\n"
        "  export CONSUMER=%s\n  export MERCHANT=%s\n\n"
        "  # 1. the consumer asks for a payment code (shown as a QR code)\n"
        "  curl -s -X POST %s/v1/payment-codes -H \"Authorization: Bearer $CONSUMER\"\n\n"
        "  # 2. the merchant reads the code and charges 1200 JPY (replace CODE)\n"
        "  curl -s -X POST %s/v1/payments -H \"Authorization: Bearer $MERCHANT\" \\\n"
        "       -H 'Idempotency-Key: order-1' -H 'Content-Type: application/json' \\\n"
        "       -d '{\"code\":\"CODE\",\"amount\":{\"value\":1200,\"currency\":\"JPY\"},"
        "\"order_id\":\"order-1\"}'\n\n"
        "  # 3. the merchant cancels it (replace TX)\n"
        "  curl -s -X POST %s/v1/transactions/TX/cancel -H \"Authorization: Bearer $MERCHANT\" "
        "-H 'Idempotency-Key: cancel-1'\n\n",
        config.listen.c_str(), config.admin_listen.c_str(), consumer.c_str(), merchant.c_str(),
        base.c_str(), base.c_str(), base.c_str());
    std::fflush(stdout);
}

void wait_for_signal() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    int received = 0;
    sigwait(&signals, &received);
    QRPAY_LOG_INFO("received signal %d: shutting down", received);
}

std::size_t thread_count(std::uint32_t configured) {
    return configured != 0 ? configured : std::max(1U, std::thread::hardware_concurrency());
}

}  // namespace

// Wires every module together, serves until a signal, then shuts down in reverse order.
int run_serve(const ServeConfig& config) {
    // Block the stop signals before any thread starts, so that only sigwait() sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto fail = [](const char* what, const Status& status) {
        QRPAY_LOG_ERROR("%s: %s", what, status.to_string().c_str());
        return 1;
    };
    std::error_code dir_error;
    std::filesystem::create_directories(config.data_dir, dir_error);
    if (Status shards = check_shard_count(config.data_dir, config.shard_count); !shards.ok()) {
        return fail("data directory", shards);
    }
    auto key = config.jwt_key.empty() ? api::load_or_create_key(config.data_dir)
                                      : Result<std::string>(config.jwt_key);
    if (!key.ok()) {
        return fail("signing key", key.status());
    }
    auto journal = journal::open_sqlite_journal({.path = config.data_dir + "/journal.sqlite3"});
    if (!journal.ok()) {
        return fail("journal", journal.status());
    }
    auto agency = open_agency(config);
    if (!agency.ok()) {
        return fail("agency", agency.status());
    }

    SystemClock clock;
    auto query =
        QuerySide::open(config.data_dir, config.shard_count, **journal, clock, config.query);
    if (!query.ok()) {
        return fail("read model", query.status());
    }
    projection::Engine& projections = (*query)->engine();
    (*journal)->set_commit_listener([&projections](ShardId shard, ShardOffset offset) {
        projections.on_commit(shard, offset);
    });
    projections.start();
    SecureRandom random;
    api::TokenSigner signer(*key);
    runtime::Runtime runtime(**journal, clock,
                             {.executor_count = config.executors,
                              .shard_count = config.shard_count,
                              .snapshot_every_events = config.snapshot_every,
                              .passivate_after = config.passivate_after,
                              .active_entities_max = config.active_entities_max});
    domain::Token token;
    domain::Transaction transaction(*agency->port,
                                    {.agency_call_timeout = config.agency_timeout * 2});
    api::IdempotencyKey idempotency;
    runtime::EntityHost<domain::Token> tokens(runtime, token);
    runtime::EntityHost<domain::Transaction> transactions(runtime, transaction);
    runtime::EntityHost<api::IdempotencyKey> keys(runtime, idempotency);
    api::ChangeFeed feed;
    runtime.add_persist_listener(
        [&feed](const std::string& pid, SequenceNr seq) { feed.on_persisted(pid, seq); });

    if (Status started = runtime.start(); !started.ok()) {
        return fail("runtime", started);
    }
    for (Status woken : {tokens.wake_pending(), transactions.wake_pending()}) {
        if (!woken.ok()) {
            return fail("recovery", woken);
        }
    }
    tokens.start_passivation();
    transactions.start_passivation();
    keys.start_passivation();

    domain::PaymentFlows flows(tokens, transactions, random, clock, {.code_ttl = config.code_ttl});
    api::PaymentApi api(flows, keys, signer, clock, feed, {.pay_wait_max = config.pay_wait});
    api::QueryApi query_api({.store = &(*query)->store(),
                             .business_zone = &(*query)->business_zone(),
                             .as_of = [&projections] { return projections.as_of(); }},
                            flows, feed, signer, clock,
                            {.sse_subscribers_max = config.query.sse_subscribers_max});
    std::atomic<bool> ready{false};
    MetricsSources metric_sources{&tokens, &transactions, &keys, journal->get()};
    api::AdminApi admin({.ready = [&ready] { return ready.load(); },
                         .metrics =
                             [&metric_sources, &query, &query_api] {
                                 return render_metrics(metric_sources) + (*query)->metrics() +
                                        event_stream_metrics(query_api.subscribers());
                             }});

    std::size_t http_threads = thread_count(config.http_threads);
    auto server =
        start_server(config.listen, http_threads,
                     [&api, &query_api](http::Request request, http::Responder responder) {
                         if (!query_api.handle(request, responder)) {
                             api.handle(std::move(request), std::move(responder));
                         }
                     });
    if (!server.ok()) {
        return fail("listen", server.status());
    }
    auto admin_server = start_server(
        config.admin_listen, 1, [&admin, &query](http::Request request, http::Responder responder) {
            if (!(*query)->answer_readyz_if_stopped(request, responder)) {
                admin.handle(request, responder);
            }
        });
    if (!admin_server.ok()) {
        return fail("admin listen", admin_server.status());
    }
    ready = true;
    QRPAY_LOG_INFO("serving on %s, admin on %s, data in %s", config.listen.c_str(),
                   config.admin_listen.c_str(), config.data_dir.c_str());
    if (config.quickstart) {
        print_quickstart(config, signer, clock);
    }

    wait_for_signal();
    ready = false;
    (*server)->stop();
    (*admin_server)->stop();
    query_api.stop();
    feed.stop();
    runtime.stop();
    projections.stop();
    // The agency's callbacks tell the hosts below; they must all have run before the hosts go.
    agency->port.reset();
    agency->simulator.reset();
    QRPAY_LOG_INFO("stopped");
    return 0;
}

}  // namespace qrpay::cli
