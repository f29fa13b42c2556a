#include "cli/serve.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "agency/agency_client.h"
#include "agency/fault_injection.h"
#include "agency_sim/in_process_agency.h"
#include "agency_sim/simulator.h"
#include "api/admin_api.h"
#include "api/auth.h"
#include "api/change_feed.h"
#include "api/payment_api.h"
#include "api/query_api.h"
#include "api/transport.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/random.h"
#include "cli/journal_open.h"
#include "cli/metrics.h"
#include "cli/projection_serve.h"
#include "cluster/definition.h"
#include "cluster/member.h"
#include "domain/payment_flows.h"
#include "http/server.h"
#include "journal/fault_injection.h"
#include "runtime/entity_host.h"
#include "sql/connection.h"

namespace qrpay::cli {
namespace {

// /readyz says "not ready" for this long after a failed journal write that no successful one
// followed: long enough for a load balancer to see it, short enough to take traffic again.
constexpr std::chrono::milliseconds storage_failure_window{5'000};

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
    std::unique_ptr<agency_sim::Simulator> simulator;
    std::unique_ptr<domain::AgencyPort> port;
};

// The agency behind the fault points a test asked for, if any.
Status add_agency_faults(const ServeConfig& config, Agency& agency) {
    auto rules = agency::parse_agency_faults(config.agency_fault);
    if (!rules.ok()) {
        return rules.status();
    }
    if (!rules->empty()) {
        QRPAY_LOG_WARN("agency fault points are on: %s", config.agency_fault.c_str());
        agency.port =
            std::make_unique<agency::FaultInjectingAgency>(std::move(agency.port), *rules);
    }
    return {};
}

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
    auto simulator = agency_sim::Simulator::open({.data_dir = config.data_dir + "/agency-sim"});
    if (!simulator.ok()) {
        return simulator.status();
    }
    agency.simulator = std::move(simulator).value();
    agency.port = agency_sim::make_in_process_agency(*agency.simulator);
    QRPAY_LOG_INFO(
        "agency: no --agency-url given, using the built-in simulated agency "
        "(ledger in %s/agency-sim)",
        config.data_dir.c_str());
    return agency;
}

Result<std::unique_ptr<http::Server>> start_server(const std::string& listen,
                                                   http::ServerOptions options,
                                                   http::Handler handler) {
    auto address = http::parse_host_port(listen);
    if (!address.ok()) {
        return address.status();
    }
    options.host = address->host;
    options.port = address->port;
    options.error_response = api::transport_problem;
    return http::Server::start(options, std::move(handler));
}

void print_quickstart(const ServeConfig& config,
                      const api::TokenSigner& signer,
                      const Clock& clock) {
    UnixMs tomorrow{clock.wall_now().value + 24 * 3'600'000};
    std::string consumer = signer.issue({"consumer-1", api::Role::consumer}, tomorrow);
    std::string merchant = signer.issue({"merchant-1", api::Role::merchant}, tomorrow);
    const std::string base = "http://" + config.listen;
    // Paste-ready: the snippet carries the code and the transaction id from step to step, and
    // its Idempotency-Keys name the transaction, so pasting it again (or after a restart on the
    // same data) makes a new payment instead of reusing a key with another body (422).
    std::printf(
        "\nqrpay is ready on %s (admin on %s). Quick start (paste into a shell; the tokens are "
        "valid for 24 hours):\n\n"
        "export QRPAY=%s\n"
        "export CONSUMER=%s\n"
        "export MERCHANT=%s\n\n"
        "# 1. the consumer asks for a payment code (its QR image: "
        "$QRPAY/v1/transactions/TX/qr.png)\n"
        "CREATED=$(curl -s -X POST $QRPAY/v1/payment-codes -H \"Authorization: Bearer "
        "$CONSUMER\")\n"
        "echo \"$CREATED\"\n"
        "CODE=$(echo \"$CREATED\" | sed -E 's/.*\"code\":\"([0-9]+)\".*/\\1/')\n"
        "TX=$(echo \"$CREATED\" | sed -E 's/.*\"transaction_id\":\"([^\"]+)\".*/\\1/')\n\n"
        "# 2. the merchant reads the code and charges 1200 JPY\n"
        "curl -s -X POST $QRPAY/v1/payments -H \"Authorization: Bearer $MERCHANT\" \\\n"
        "     -H \"Idempotency-Key: pay-$TX\" -H 'Content-Type: application/json' \\\n"
        "     -d \"{\\\"code\\\":\\\"$CODE\\\",\\\"amount\\\":{\\\"value\\\":1200,"
        "\\\"currency\\\":\\\"JPY\\\"},\\\"order_id\\\":\\\"order-1\\\"}\"; echo\n\n"
        "# 3. the merchant cancels it\n"
        "curl -s -X POST $QRPAY/v1/transactions/$TX/cancel -H \"Authorization: Bearer $MERCHANT\" "
        "-H \"Idempotency-Key: cancel-$TX\"; echo\n\n",
        config.listen.c_str(), config.admin_listen.c_str(), base.c_str(), consumer.c_str(),
        merchant.c_str());
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

// While serve waits for PostgreSQL at start, the admin listener answers already: /healthz 200,
// /readyz 503 with why it waits, so an orchestrator sees the reason without reading the log.
// The listener opens at the first failed attempt (no cost when PostgreSQL answers at once) and
// closes when the wait ends; Node::start() then opens it again with the node behind it (in
// between, /readyz refuses connections: not ready either way). Main thread only, except what
// the listener's thread reads under mutex_.
class WaitingAdmin {
public:
    WaitingAdmin(std::string listen, std::chrono::milliseconds wait_max)
        : listen_(std::move(listen)), wait_max_(wait_max) {}

    void waiting(const std::string& why) {
        {
            std::lock_guard lock(mutex_);
            reason_ = "journal_unavailable: waiting for PostgreSQL before serving (for at most " +
                      std::to_string(wait_max_.count()) + " ms; see the log): " + why;
        }
        if (server_ != nullptr || listen_failed_) {
            return;
        }
        auto server =
            start_server(listen_, {.threads = 1},
                         [this](const http::Request& request, const http::Responder& responder) {
                             admin_.handle(request, responder);
                         });
        if (!server.ok()) {  // start() will fail on the same address, with the same error
            QRPAY_LOG_WARN("cannot answer /readyz while waiting for PostgreSQL: %s",
                           server.status().to_string().c_str());
            listen_failed_ = true;
            return;
        }
        server_ = std::move(server).value();
    }

private:
    std::string reason() {
        std::lock_guard lock(mutex_);
        return reason_;
    }

    const std::string listen_;
    const std::chrono::milliseconds wait_max_;
    std::mutex mutex_;
    std::string reason_;  // guarded by mutex_
    bool listen_failed_ = false;
    // ready: the reason alone answers "not ready" while there is one, and there always is.
    api::AdminApi admin_{{.ready = [] { return true; },
                          .metrics =
                              [] {
                                  return std::string(
                                      "# TYPE qrpay_journal_connected gauge\n"
                                      "qrpay_journal_connected 0\n");
                              },
                          .not_ready_reason = [this] { return reason(); }}};
    std::unique_ptr<http::Server> server_;  // last: stopped before what its handler uses goes
};

std::size_t thread_count(std::uint32_t configured) {
    return configured != 0 ? configured : std::max(1U, std::thread::hardware_concurrency());
}

// A cluster node's membership (null without --etcd): the cluster's definition read from etcd
// and checked against this node's flags.
Result<std::unique_ptr<cluster::ClusterMember>> open_member(const ServeConfig& config,
                                                            const std::string& token_key,
                                                            const Clock& clock) {
    if (config.etcd.empty()) {
        return std::unique_ptr<cluster::ClusterMember>();
    }
    if (!sql::is_postgres_url(config.journal_url)) {
        return Status(Errc::invalid_argument,
                      "a cluster node needs --journal postgresql://...: every node shares it");
    }
    if (auto internal = http::parse_host_port(config.internal_listen); !internal.ok()) {
        return Status(Errc::invalid_argument,
                      "a cluster node needs --internal-listen HOST:PORT (where peers forward "
                      "commands): " +
                          internal.status().message());
    }
    cluster::ClusterDefinition flags;
    flags.shard_count = config.shard_count;
    for (const std::string& url : split_journal_urls(config.journal_url)) {
        flags.partitions.push_back(cluster::without_password(url));
    }
    const auto ttl = std::chrono::ceil<std::chrono::seconds>(config.lease_ttl);
    cluster::MemberOptions options;
    options.etcd = config.etcd;
    options.cluster_name = config.cluster_name;
    options.node_id = config.node_id;
    options.node_info = "{\"admin\":\"" + config.admin_listen + "\",\"internal\":\"" +
                        config.internal_listen + "\",\"listen\":\"" + config.listen + "\"}";
    options.lease_ttl = std::max(ttl, std::chrono::seconds(1));
    options.internal_secret = cluster::internal_secret(token_key);
    options.move_wait_max = config.shard_move_wait;
    return cluster::ClusterMember::open(options, flags, clock);
}

std::string cluster_metrics(const cluster::ClusterMember* member) {
    if (member == nullptr) {
        return "";
    }
    const cluster::ForwarderStats forwarding = member->forwarding_stats();
    return "# TYPE qrpay_cluster_lease_held gauge\nqrpay_cluster_lease_held " +
           std::string(member->has_lease() ? "1" : "0") +
           "\n# TYPE qrpay_cluster_shards_served gauge\nqrpay_cluster_shards_served " +
           std::to_string(member->shards_served()) +
           "\n# TYPE qrpay_forwarded_commands_total counter\nqrpay_forwarded_commands_total " +
           std::to_string(forwarding.forwarded) +
           "\n# TYPE qrpay_forward_retries_total counter\nqrpay_forward_retries_total " +
           std::to_string(forwarding.retries) +
           "\n# TYPE qrpay_forward_gave_up_total counter\nqrpay_forward_gave_up_total " +
           std::to_string(forwarding.gave_up) +
           "\n# TYPE qrpay_forward_lost_answers_total counter\nqrpay_forward_lost_answers_total " +
           std::to_string(forwarding.lost_answers) +
           "\n# TYPE qrpay_cluster_peer_revocations_total counter\n"
           "qrpay_cluster_peer_revocations_total " +
           std::to_string(member->peers_revoked()) +
           "\n# TYPE qrpay_cluster_leases_lost_total counter\nqrpay_cluster_leases_lost_total " +
           std::to_string(member->leases_lost()) + "\n";
}

// After a cluster node left, how long its internal listener stays open for commands peers
// routed by a view from before the leave: several of their 100 ms refreshes.
constexpr std::chrono::milliseconds internal_close_grace{1'000};

// Everything `qrpay serve` runs, declared in construction order (each part may refer to the
// parts above it) and so destroyed in reverse. The fallible parts (files, the agency) are
// opened by open() before any thread starts; start() brings the node up, stop() down.
class Node {
public:
    static Result<std::unique_ptr<Node>> open(const ServeConfig& config);
    Status start();
    void stop();
    const api::TokenSigner& signer() const { return signer_; }
    const Clock& clock() const { return clock_; }

private:
    struct Opened {
        std::string key;
        std::unique_ptr<journal::Journal> journal;
        std::unique_ptr<journal::FaultInjectingJournal> faulty_journal;  // --journal-fault
        Agency agency;
        std::unique_ptr<cluster::ClusterMember> member;  // null unless --etcd
    };
    Node(const ServeConfig& config, Opened opened);
    void handle_api(http::Request request, http::Responder responder);
    std::string metrics();
    std::string not_ready_reason();

    ServeConfig config_;
    SystemClock clock_;
    SecureRandom random_;
    api::TokenSigner signer_;
    std::unique_ptr<journal::Journal> journal_;
    // The runtime writes through the fault points when a test asked for them.
    std::unique_ptr<journal::FaultInjectingJournal> faulty_journal_;
    Agency agency_;
    std::unique_ptr<QuerySide> query_;
    runtime::Runtime runtime_;
    domain::Token token_;
    domain::Transaction transaction_;
    runtime::EntityHost<domain::Token> tokens_;
    runtime::EntityHost<domain::Transaction> transactions_;
    api::ChangeFeed feed_;
    domain::PaymentFlows flows_;
    api::PaymentApi payment_api_;
    std::unique_ptr<api::QueryApi> query_api_;
    api::AdminApi admin_api_;
    std::unique_ptr<cluster::ClusterMember> member_;  // a cluster node's membership, else null
    std::atomic<bool> ready_{false};
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<http::Server> admin_server_;
    std::unique_ptr<http::Server> internal_server_;  // a cluster node's, else null
};

// --read-model when given; else the journal's (first) database when it is in PostgreSQL;
// else "" (the data directory's file).
std::string read_model_of(const ServeConfig& config) {
    if (!config.query.read_model.empty() || config.journal_url.empty()) {
        return config.query.read_model;
    }
    return split_journal_urls(config.journal_url).front();  // the first partition's database
}

JournalChoice journal_choice(const ServeConfig& config) {
    return {.url = config.journal_url,
            .shard_count = config.shard_count,
            .data_dir = config.data_dir,
            .connect_wait = config.journal_connect_wait};
}

// The journal, with the wait for PostgreSQL at start shown on /readyz (WaitingAdmin).
Result<std::unique_ptr<journal::Journal>> open_journal_showing_wait(const ServeConfig& config) {
    WaitingAdmin admin(config.admin_listen, config.journal_connect_wait);
    JournalChoice choice = journal_choice(config);
    choice.on_wait = [&admin](const std::string& why) { admin.waiting(why); };
    return open_journal(choice);
}

Result<std::unique_ptr<Node>> Node::open(const ServeConfig& config) {
    // Each event stream holds a connection of the API listener: streams must leave some.
    if (config.query.sse_subscribers_max >= config.http_connections_max) {
        return Status(Errc::invalid_argument, "--sse-subscribers-max (" +
                                                  std::to_string(config.query.sse_subscribers_max) +
                                                  ") must be below --http-connections-max (" +
                                                  std::to_string(config.http_connections_max) +
                                                  "): each event stream holds a connection");
    }
    std::error_code dir_error;
    std::filesystem::create_directories(config.data_dir, dir_error);
    // Owner only, also for a directory made by an older version (files then had mode 0644).
    std::filesystem::permissions(config.data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, dir_error);
    if (Status shards = check_shard_count(config.data_dir, config.shard_count); !shards.ok()) {
        return shards;
    }
    auto key = config.jwt_key.empty() ? api::load_or_create_key(config.data_dir)
                                      : Result<std::string>(config.jwt_key);
    if (!key.ok()) {
        return key.status();
    }
    auto journal = open_journal_showing_wait(config);
    if (!journal.ok()) {
        return journal.status();
    }
    auto faults = journal::parse_fault_spec(config.journal_fault);
    if (!faults.ok()) {
        return faults.status();
    }
    std::unique_ptr<journal::FaultInjectingJournal> faulty;
    if (faults->any()) {
        QRPAY_LOG_WARN("journal fault points are on: %s", config.journal_fault.c_str());
        faulty = std::make_unique<journal::FaultInjectingJournal>(**journal, *faults);
    }
    static const SystemClock member_clock;  // stateless; lives as long as the process
    auto member = open_member(config, *key, member_clock);
    if (!member.ok()) {
        return member.status();
    }
    auto agency = open_agency(config);
    if (!agency.ok()) {
        return agency.status();
    }
    if (Status faults_added = add_agency_faults(config, *agency); !faults_added.ok()) {
        return faults_added;
    }
    auto node = std::unique_ptr<Node>(
        new Node(config, Opened{std::move(key).value(), std::move(journal).value(),
                                std::move(faulty), std::move(*agency), std::move(*member)}));
    if (!node->query_) {
        return Status(Errc::io_error, "read model did not open");
    }
    return node;
}

Node::Node(const ServeConfig& config, Opened opened)
    : config_(config),
      signer_(std::move(opened.key)),
      journal_(std::move(opened.journal)),
      faulty_journal_(std::move(opened.faulty_journal)),
      agency_(std::move(opened.agency)),
      runtime_(faulty_journal_ ? *faulty_journal_ : *journal_,
               clock_,
               {.executor_count = config.executors,
                .shard_count = config.shard_count,
                .claim_every_shard = opened.member == nullptr,
                .snapshot_every_events = config.snapshot_every,
                .passivate_after = config.passivate_after,
                .active_entities_max = config.active_entities_max}),
      transaction_(*agency_.port, {.agency_call_timeout = config.agency_timeout * 2}),
      tokens_(runtime_, token_),
      transactions_(runtime_, transaction_),
      flows_(tokens_, transactions_, random_, clock_, {.code_ttl = config.code_ttl}),
      payment_api_(flows_,
                   signer_,
                   clock_,
                   feed_,
                   {.pay_wait_max = config.pay_wait,
                    .code_limits = {.burst_max = config.codes_burst_max,
                                    .refill_interval = config.code_refill_interval,
                                    .open_codes_max = config.open_codes_max,
                                    .code_ttl = config.code_ttl}}),
      admin_api_({.ready = [this] { return ready_.load(); },
                  .metrics = [this] { return metrics(); },
                  .not_ready_reason = [this] { return not_ready_reason(); }}),
      member_(std::move(opened.member)) {
    // A cluster node projects the shards it serves: each shard's projection runs on its owner
    // and moves with it, resuming from the offset stored with the rows.
    std::function<bool(ShardId)> projects;
    if (member_ != nullptr) {
        projects = [this](ShardId shard) { return runtime_.serves(shard); };
    }
    auto query =
        QuerySide::open(read_model_location(config.data_dir, read_model_of(config)),
                        config.shard_count, *journal_, clock_, config.query, std::move(projects));
    if (!query.ok()) {
        QRPAY_LOG_ERROR("read model: %s", query.status().to_string().c_str());
        return;
    }
    query_ = std::move(query).value();
    projection::Engine& projections = query_->engine();
    journal_->set_commit_listener([&projections](ShardId shard, ShardOffset offset) {
        projections.on_commit(shard, offset);
    });
    query_api_ = std::make_unique<api::QueryApi>(
        api::ReadModel{.store = &query_->store(),
                       .business_zone = &query_->business_zone(),
                       .as_of = [&projections] { return projections.as_of(); }},
        flows_, feed_, api::EventHistory{.journal = *journal_}, signer_, clock_,
        api::QueryApiOptions{
            .sse_subscribers_max = config.query.sse_subscribers_max,
            .sse_subscribers_per_subject_max = config.sse_subscribers_per_subject_max});
    runtime_.add_persist_listener(
        [this](const std::string& pid, SequenceNr seq) { feed_.on_persisted(pid, seq); });
}

// Recovery first (entities with unfinished work wake up), then the listeners.
Status Node::start() {
    query_->engine().start();
    if (Status started = runtime_.start(); !started.ok()) {
        return started;
    }
    for (Status woken : {tokens_.wake_pending(), transactions_.wake_pending()}) {
        if (!woken.ok()) {
            return woken;
        }
    }
    tokens_.start_passivation();
    transactions_.start_passivation();
    if (member_ != nullptr) {
        member_->start(runtime_, faulty_journal_ ? *faulty_journal_ : *journal_);
        auto internal =
            start_server(config_.internal_listen, {.threads = 2},
                         [this](const http::Request& request, const http::Responder& responder) {
                             member_->internal_api().handle(request, responder);
                         });
        if (!internal.ok()) {
            return internal.status();
        }
        internal_server_ = std::move(internal).value();
    }
    auto server =
        start_server(config_.listen,
                     {.threads = thread_count(config_.http_threads),
                      .connections_max = config_.http_connections_max,
                      .connections_per_address_max = config_.http_connections_per_address_max,
                      .first_byte_timeout = config_.http_first_byte_timeout},
                     [this](http::Request request, http::Responder responder) {
                         handle_api(std::move(request), std::move(responder));
                     });
    if (!server.ok()) {
        return server.status();
    }
    server_ = std::move(server).value();
    auto admin = start_server(config_.admin_listen, {.threads = 1},
                              [this](const http::Request& request, http::Responder responder) {
                                  admin_api_.handle(request, responder);
                              });
    if (!admin.ok()) {
        return admin.status();
    }
    admin_server_ = std::move(admin).value();
    ready_ = true;
    QRPAY_LOG_INFO("serving on %s, admin on %s, data in %s", config_.listen.c_str(),
                   config_.admin_listen.c_str(), config_.data_dir.c_str());
    return {};
}

// The reverse of start(): no new requests, then no new commands, then no background work.
void Node::stop() {
    ready_ = false;
    if (member_ != nullptr) {
        // /readyz is red now; the load balancer takes the node out of rotation within
        // --drain-wait while it still serves. Then its shards go to the other nodes, and
        // requests still coming in are forwarded to their new owners until the listeners close.
        std::this_thread::sleep_for(config_.drain_wait);
        member_->leave(config_.cluster_leave_wait);
        // Peers route by a view of etcd that is up to a refresh old: a command they sent here
        // meanwhile is answered not_owner (and sent to the new owner), not cut by a closing
        // listener (an answer lost, which they could not tell from a command that ran).
        std::this_thread::sleep_for(internal_close_grace);
        member_->release_watches();  // the internal listener then stops at once
    }
    for (auto* server : {server_.get(), internal_server_.get(), admin_server_.get()}) {
        if (server != nullptr) {
            server->stop();
        }
    }
    if (member_ != nullptr) {
        member_->stop();
    }
    query_api_->stop();
    feed_.stop();
    runtime_.stop();
    query_->engine().stop();
    // The agency's callbacks tell the hosts; they must all have run before the hosts go.
    agency_.port.reset();
    agency_.simulator.reset();
}

void Node::handle_api(http::Request request, http::Responder responder) {
    if (!query_api_->handle(request, responder)) {
        payment_api_.handle(std::move(request), std::move(responder));
    }
}

std::string Node::metrics() {
    MetricsSources sources{&tokens_, &transactions_};
    // Only with --journal-fault (tests): how many faults hit so far.
    const std::string faults = faulty_journal_
                                   ? "# TYPE qrpay_journal_faults_injected_total counter\n"
                                     "qrpay_journal_faults_injected_total " +
                                         std::to_string(faulty_journal_->faults_injected()) + "\n"
                                   : "";
    return render_metrics(sources) + cluster_metrics(member_.get()) +
           journal_metrics(*journal_, journal_choice(config_)) + faults + query_->metrics() +
           query_api_->metrics() + (server_ ? api::http_server_metrics(server_->stats()) : "");
}

// Read on the admin listener's thread while the API server runs; server_ is set before
// ready_ and reset only after both servers stopped.
// /readyz's reason, the first that holds: no connection to PostgreSQL, the journal failing
// writes, the API listener full, the read model stopped at an event.
std::string Node::not_ready_reason() {
    if (member_ != nullptr && !member_->has_lease()) {
        return "cluster_unavailable: node " + member_->node_id() +
               " holds no etcd lease (etcd unreachable, or joining); it serves no shard without "
               "one";
    }
    if (std::string down = journal_not_ready_reason(*journal_, journal_choice(config_));
        !down.empty()) {
        return down;
    }
    if (runtime_.writes_failing(storage_failure_window)) {
        return "storage_unavailable: the journal failed a write in the last " +
               std::to_string(storage_failure_window.count()) +
               " ms and has taken none since (see the log)";
    }
    if (std::string full = server_ ? api::http_saturation(server_->stats()) : ""; !full.empty()) {
        return full;
    }
    return query_->stop_reason();
}

}  // namespace

int run_serve(const ServeConfig& config) {
    // Block the stop signals before any thread starts, so that only sigwait() sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    log::set_min_level(config.log_level);

    auto node = Node::open(config);
    if (!node.ok()) {
        QRPAY_LOG_ERROR("cannot open: %s", node.status().to_string().c_str());
        return 1;
    }
    if (Status started = (*node)->start(); !started.ok()) {
        QRPAY_LOG_ERROR("cannot start: %s", started.to_string().c_str());
        (*node)->stop();
        return 1;
    }
    if (config.quickstart) {
        print_quickstart(config, (*node)->signer(), (*node)->clock());
    }
    wait_for_signal();
    (*node)->stop();
    QRPAY_LOG_INFO("stopped");
    return 0;
}

}  // namespace qrpay::cli
