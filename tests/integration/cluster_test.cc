// A cluster of real `qrpay serve --etcd` processes on one real etcd and one real PostgreSQL:
// `qrpay cluster init` and its refusals; two nodes sharing the shards, each taking any request
// and forwarding the commands of the other's shards to it (a payment whose Token and
// Transaction live on different nodes), event streams that follow a transaction on the other
// node; a planned leave (SIGTERM) and a rolling restart behind a real HAProxy while requests
// keep coming, none failing; fencing's positive control (a paused owner's late append refused);
// a kill -9 whose lease the survivor revokes at once; ten kills in a row of a node of three under
// load, with every payment checked afterwards against the shared agency's ledger; scaling out
// from three nodes to four under load with no failed request; etcd (three members in every
// test) losing one member, then the majority; a lone etcd lost and back.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/testing/eventually.h"
#include "etcd/testing/test_cluster.h"
#include "postgres/connection.h"
#include "postgres/testing/test_server.h"
#include "tests/integration/api_client.h"
#include "tests/integration/payment_load.h"

namespace qrpay::harness {
namespace {

// Polls at a pace fit for a /metrics call.
template <class Condition>
bool eventually(Condition condition) {
    return qrpay::testing::eventually(condition, std::chrono::seconds(60),
                                      std::chrono::milliseconds(50));
}

constexpr std::uint32_t shard_count = 16;

// UTC time of day with milliseconds, as the server logs print it: lines a failure up with them.
std::string wall_clock_now() {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::snprintf(text, sizeof text, "%02d:%02d:%02d.%03d", utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(ms.count()));
    return text;
}

// Runs `qrpay ARGS...`; its exit status.
int run_qrpay(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv = {qrpay_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    Process process(argv, log);
    return process.wait_exit();
}

// A gauge of the node's /metrics; -1 when it cannot be read.
std::int64_t gauge(std::uint16_t admin_port, const std::string& name) {
    auto client = client_for(admin_port, std::chrono::seconds(2), 1);
    auto response = client->call({.method = "GET", .path = "/metrics"});
    if (!response.ok() || response->status != 200) {
        return -1;
    }
    const std::string& text = response->body;
    for (std::size_t at = text.find(name + " "); at != std::string::npos;
         at = text.find(name + " ", at + 1)) {
        if (at == 0 || text[at - 1] == '\n') {
            return std::stoll(text.substr(at + name.size() + 1));
        }
    }
    return -1;
}

std::int64_t served(Server& node) {
    return gauge(node.admin_port(), "qrpay_cluster_shards_served");
}

// Both nodes serve some shards, and together all of them.
bool share_the_shards(Server& a, Server& b) {
    const std::int64_t on_a = served(a), on_b = served(b);
    return on_a > 0 && on_b > 0 && on_a + on_b == shard_count;
}

class ClusterTest : public ::testing::Test {
protected:
    void SetUp() override {
        database_ = "cluster_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
        ASSERT_TRUE(postgres::testing::shared_test_server().create_database(database_).ok());
        journal_ = postgres::testing::shared_test_server().url(database_);
        // Three members, as a cluster runs it: losing one changes nothing.
        auto etcd = etcd::testing::TestCluster::start({.members = 3});
        ASSERT_TRUE(etcd.ok()) << etcd.status().to_string();
        etcd_cluster_ = std::move(etcd).value();
        etcd_ = etcd_cluster_->client_urls();
        name_ = "it-" + std::to_string(::getpid()) + "-" + std::to_string(databases_);
    }
    int init(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {
            "cluster",   "init",  "--etcd",   etcd_,
            "--name",    name_,   "--shards", std::to_string(shard_count),
            "--journal", journal_};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_qrpay(args, dir_.path() + "/init-" + std::to_string(++inits_) + ".log");
    }
    // Every node of a cluster shares the token key: a token any node issued works on all, and
    // the internal listeners' secret derives from it.
    std::unique_ptr<Server> node(const std::string& id,
                                 const std::string& lease_ttl = "1s",
                                 const std::vector<std::string>& extra = {}) {
        const std::string data_dir = dir_.path() + "/" + id;
        std::filesystem::create_directories(data_dir);
        {
            std::ofstream key(data_dir + "/jwt.key", std::ios::trunc);
            key << std::string(64, 'a');
        }
        ::chmod((data_dir + "/jwt.key").c_str(), 0600);
        std::vector<std::string> flags = {"--etcd",
                                          etcd_,
                                          "--cluster-name",
                                          name_,
                                          "--node-id",
                                          id,
                                          "--journal",
                                          journal_,
                                          "--shard-count",
                                          std::to_string(shard_count),
                                          "--lease-ttl",
                                          lease_ttl,
                                          "--internal-listen",
                                          "127.0.0.1:" + std::to_string(free_port())};
        flags.insert(flags.end(), extra.begin(), extra.end());
        return std::make_unique<Server>(data_dir, flags);
    }

    std::unique_ptr<etcd::testing::TestCluster> etcd_cluster_;
    TempDir dir_;
    std::string database_;
    std::string journal_;
    std::string etcd_;
    std::string name_;
    int inits_ = 0;
    static inline int databases_ = 0;
};

TEST_F(ClusterTest, InitStoresTheDefinitionOnceAndRefusesBadOrDifferentOnes) {
    EXPECT_EQ(run_qrpay({"cluster", "init", "--etcd", etcd_, "--name", "Not Valid", "--journal",
                         journal_},
                        dir_.path() + "/bad-name.log"),
              2);
    EXPECT_EQ(run_qrpay({"cluster", "init", "--etcd", etcd_, "--name", name_, "--journal",
                         "sqlite:///tmp/x"},
                        dir_.path() + "/bad-journal.log"),
              2);
    EXPECT_EQ(init(), 0);
    EXPECT_EQ(init(), 0);  // the same definition again changes nothing
    // A node whose journal is another database than the definition's refuses to start.
    const std::string other = database_ + "_other";
    ASSERT_TRUE(postgres::testing::shared_test_server().create_database(other).ok());
    const auto stray_node = [&](const std::string& journal, bool internal_listener) {
        std::vector<std::string> argv = {
            qrpay_binary(),   "serve",
            "--etcd",         etcd_,
            "--cluster-name", name_,
            "--node-id",      "stray",
            "--journal",      journal,
            "--shard-count",  std::to_string(shard_count),
            "--data-dir",     dir_.path() + "/stray",
            "--listen",       "127.0.0.1:" + std::to_string(free_port()),
            "--admin-listen", "127.0.0.1:" + std::to_string(free_port())};
        if (internal_listener) {
            argv.push_back("--internal-listen");
            argv.push_back("127.0.0.1:" + std::to_string(free_port()));
        }
        return std::make_unique<Process>(argv, dir_.path() + "/stray.log");
    };
    auto stray = stray_node(postgres::testing::shared_test_server().url(other), true);
    EXPECT_EQ(stray->wait_exit(), 1);
    EXPECT_NE(stray->log_tail().find("the cluster is defined with"), std::string::npos)
        << stray->log_tail();
    // A node with nowhere for its peers to forward commands to refuses to start.
    auto deaf = stray_node(journal_, false);
    EXPECT_EQ(deaf->wait_exit(), 1);
    EXPECT_NE(deaf->log_tail().find("needs --internal-listen"), std::string::npos)
        << deaf->log_tail();
}

// Two nodes, each serving about half the shards: every request works through either node.
// A code asked of node a whose token (or transaction) lands on a shard of b is made on b; a
// payment through b reads a token on a; a cancellation through a and a read through b see the
// same transaction.
TEST_F(ClusterTest, AnyNodeTakesAnyRequestAndForwardsItToTheShardsOwner) {
    ASSERT_EQ(init(), 0);
    auto a = node("a");
    auto b = node("b");
    a->start();
    b->start();
    ASSERT_TRUE(eventually([&] { return share_the_shards(*a, *b); }));
    auto via_a = client_for(a->port());
    auto via_b = client_for(b->port());
    const std::string consumer = a->token("consumer", "c-1");
    const std::string merchant = a->token("merchant", "m-1");
    for (int i = 0; i < 24; ++i) {
        ApiResponse code = call_api(*via_a, "POST", "/v1/payment-codes", consumer);
        ASSERT_EQ(code.status, 201) << code.raw;
        const std::string id = code.body["transaction_id"];
        ApiResponse paid = call_api(*via_b, "POST", "/v1/payments", merchant,
                                    pay_body(code.body["code"], 100 + i), "pay-" + id);
        ASSERT_EQ(paid.status, 200) << paid.raw;
        EXPECT_EQ(paid.body["status"], "completed") << paid.raw;
        if (i % 3 == 0) {
            ApiResponse cancelled = call_api(*via_a, "POST", "/v1/transactions/" + id + "/cancel",
                                             merchant, "", "cancel-" + id);
            ASSERT_EQ(cancelled.status, 200) << cancelled.raw;
            EXPECT_EQ(cancelled.body["status"], "cancelled");
        }
        ApiResponse seen = call_api(*via_b, "GET", "/v1/transactions/" + id, merchant);
        ASSERT_EQ(seen.status, 200) << seen.raw;
        EXPECT_EQ(seen.body["status"], i % 3 == 0 ? "cancelled" : "completed");
    }
    // Both nodes sent commands to the other: the Tokens and Transactions are spread over both.
    EXPECT_GT(gauge(a->admin_port(), "qrpay_forwarded_commands_total"), 0);
    EXPECT_GT(gauge(b->admin_port(), "qrpay_forwarded_commands_total"), 0);
    EXPECT_EQ(gauge(a->admin_port(), "qrpay_forward_gave_up_total"), 0);
}

// A consumer's event stream opened on one node follows its transaction wherever it runs: each
// stream, through node b, shows the payment and the cancellation made through node a.
TEST_F(ClusterTest, AnEventStreamOnOneNodeFollowsATransactionOnAnyNode) {
    ASSERT_EQ(init(), 0);
    auto a = node("a");
    auto b = node("b");
    a->start();
    b->start();
    ASSERT_TRUE(eventually([&] { return share_the_shards(*a, *b); }));
    auto via_a = client_for(a->port());
    const std::string consumer = a->token("consumer", "c-1");
    const std::string merchant = a->token("merchant", "m-1");
    for (int i = 0; i < 6; ++i) {
        ApiResponse code = call_api(*via_a, "POST", "/v1/payment-codes", consumer);
        ASSERT_EQ(code.status, 201) << code.raw;
        const std::string id = code.body["transaction_id"];
        ApiResponse stream;
        std::thread watcher([&] {
            auto via_b = client_for(b->port());
            stream = call_api(*via_b, "GET", "/v1/transactions/" + id + "/events", consumer);
        });
        ASSERT_TRUE(
            eventually([&] { return gauge(b->admin_port(), "qrpay_event_streams_open") == 1; }));
        ApiResponse paid = call_api(*via_a, "POST", "/v1/payments", merchant,
                                    pay_body(code.body["code"], 300), "pay-" + id);
        ASSERT_EQ(paid.status, 200) << paid.raw;
        ApiResponse cancelled = call_api(*via_a, "POST", "/v1/transactions/" + id + "/cancel",
                                         merchant, "", "cancel-" + id);
        ASSERT_EQ(cancelled.status, 200) << cancelled.raw;
        watcher.join();
        ASSERT_EQ(stream.status, 200) << stream.raw;
        EXPECT_NE(stream.raw.find("\"status\":\"completed\""), std::string::npos) << stream.raw;
        EXPECT_NE(stream.raw.find("\"status\":\"cancelled\""), std::string::npos) << stream.raw;
    }
}

// A planned leave under load: while b hands its shards to a (SIGTERM), clients keep asking both
// nodes for codes; a command for a moving shard waits for its new owner, and none fails.
TEST_F(ClusterTest, ASigtermHandsEveryShardToTheOtherNodeAndNoRequestFails) {
    ASSERT_EQ(init(), 0);
    auto a = node("a");
    a->start();
    ASSERT_TRUE(eventually([&] { return served(*a) == shard_count; }));
    auto b = node("b");
    b->start();
    ASSERT_TRUE(eventually([&] { return share_the_shards(*a, *b); }));
    const std::string consumer = a->token("consumer", "c-1");
    std::atomic<bool> leaving_done{false};
    std::atomic<int> created{0};
    std::vector<std::string> failures;
    std::thread load([&] {
        auto client = client_for(a->port());
        // Codes are limited per consumer: each request is its own consumer.
        for (int i = 0; !leaving_done.load() || i < 20; ++i) {
            ApiResponse answer = call_api(*client, "POST", "/v1/payment-codes",
                                          a->token("consumer", "load-" + std::to_string(i)));
            if (answer.status == 201) {
                ++created;
            } else {
                failures.push_back(answer.raw);
            }
        }
    });
    EXPECT_EQ(b->terminate(), 0);
    leaving_done = true;
    load.join();
    EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front()
                                  << "\nnode a:\n"
                                  << a->process().log_tail(20000);
    EXPECT_GE(created.load(), 20);
    ASSERT_TRUE(eventually([&] { return served(*a) == shard_count; }));
    auto client = client_for(a->port());
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(call_api(*client, "POST", "/v1/payment-codes", consumer).status, 201);
    }
}

// HAProxy in front of two nodes, configured by `qrpay cluster haproxy-config`: each node in turn
// is stopped (SIGTERM: /readyz red, --drain-wait, its shards handed over) and started again,
// while a client asks for codes through HAProxy all along. No request fails.
TEST_F(ClusterTest, ARollingRestartBehindHaproxyFailsNoRequest) {
    ASSERT_EQ(init(), 0);
    auto a = node("a");
    auto b = node("b");
    a->start();
    b->start();
    const auto shared = [&] { return share_the_shards(*a, *b); };
    ASSERT_TRUE(eventually(shared));
    const std::uint16_t front = free_port();
    const std::string config =
        run_and_capture(qrpay_binary() + " cluster haproxy-config --etcd " + etcd_ + " --name " +
                        name_ + " --listen 127.0.0.1:" + std::to_string(front));
    ASSERT_NE(config.find("server a "), std::string::npos) << config;
    ASSERT_NE(config.find("server b "), std::string::npos) << config;
    {
        std::ofstream file(dir_.path() + "/haproxy.cfg");
        file << config << "\n";
    }
    Process haproxy({"/usr/sbin/haproxy", "-f", dir_.path() + "/haproxy.cfg"},
                    dir_.path() + "/haproxy.log");
    auto client = client_for(front);
    std::vector<std::string> consumers;
    for (int i = 0; i < 60; ++i) {
        consumers.push_back(a->token("consumer", "roll-" + std::to_string(i)));
    }
    ASSERT_TRUE(eventually([&] {
        return call_api(*client, "POST", "/v1/payment-codes", consumers[0]).status == 201;
    })) << haproxy.log_tail();

    std::atomic<bool> done{false};
    std::atomic<int> created{0};
    std::vector<std::string> failures;
    std::thread load([&] {
        auto load_client = client_for(front);
        for (std::size_t i = 0; !done.load(); ++i) {
            ApiResponse answer = call_api(*load_client, "POST", "/v1/payment-codes",
                                          consumers[i % consumers.size()]);
            if (answer.status == 201) {
                ++created;
            } else {
                failures.push_back(wall_clock_now() + " " + std::to_string(answer.status) + " " +
                                   answer.raw);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    for (Server* restarted : {a.get(), b.get()}) {
        EXPECT_EQ(restarted->terminate(), 0);
        restarted->start();
        EXPECT_TRUE(eventually(shared));
    }
    done = true;
    load.join();
    EXPECT_TRUE(failures.empty()) << failures.size() << " of " << created.load() + failures.size()
                                  << " failed, first: " << failures.front() << "\nnode a:\n"
                                  << a->logs() << "\nnode b:\n"
                                  << b->logs();
    EXPECT_GT(created.load(), 50);
    (void)haproxy.terminate();  // HAProxy exits 143 on SIGTERM
}

// Fencing, the positive control. Node b, alone, expires a code (woken at start for the code's
// passed deadline) and its append is held back on its way to the journal (a fault point); b is
// paused (SIGSTOP) with the write decided but not stored. Node a starts, takes every shard once
// b's lease expired, raises the fences and expires the code itself. b resumes and its append
// reaches the journal, which refuses it under b's old token and counts it: the transaction holds
// the expiry once.
TEST_F(ClusterTest, APausedOwnersAppendIsRefusedByTheFenceOnceItsShardsMoved) {
    ASSERT_EQ(init(), 0);
    auto b = node("b", "1s",
                  {"--code-ttl", "2s", "--drain-wait", "0s", "--journal-fault",
                   "stall_append@Expired:500*1"});
    b->start();
    ASSERT_TRUE(eventually([&] { return served(*b) == shard_count; }));
    const std::string consumer = b->token("consumer", "c-1");
    auto via_b = client_for(b->port());
    ApiResponse code = call_api(*via_b, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(code.status, 201) << code.raw;
    const std::string id = code.body["transaction_id"];
    // Down (within the code's 2 s) until the code has expired; started again, b wakes the
    // transaction to expire it.
    ASSERT_EQ(b->terminate(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(2'500));
    b->start();
    ASSERT_TRUE(eventually(
        [&] { return gauge(b->admin_port(), "qrpay_journal_faults_injected_total") >= 1; }));
    b->process().signal(SIGSTOP);
    auto a = node("a", "1s");
    a->start();
    ASSERT_TRUE(eventually([&] { return served(*a) == shard_count; }));
    b->process().signal(SIGCONT);
    ASSERT_TRUE(eventually([&] {
        return gauge(b->admin_port(), "qrpay_journal_fenced_appends_total") >= 1;
    })) << b->process().log_tail();

    auto via_a = client_for(a->port());
    ApiResponse seen = call_api(*via_a, "GET", "/v1/transactions/" + id, consumer);
    ASSERT_EQ(seen.status, 200) << seen.raw;
    EXPECT_EQ(seen.body["status"], "expired") << seen.raw;
    EXPECT_EQ(seen.body["version"], 2) << seen.raw;  // TokenGenerated, Expired: once
}

// A crash: the survivor sees its watch connection to the dead node drop, finds nobody listening
// there, and revokes the dead node's lease at once, well before its 10 s TTL could run out.
// The shards move to it, and payments go on.
TEST_F(ClusterTest, AKilledNodesLeaseIsRevokedByItsPeerAndItsShardsMove) {
    ASSERT_EQ(init(), 0);
    auto a = node("a", "10s");
    auto b = node("b", "10s");
    a->start();
    b->start();
    ASSERT_TRUE(eventually([&] { return share_the_shards(*a, *b); }));
    b->kill_hard();
    ASSERT_TRUE(eventually([&] { return served(*a) == shard_count; }));
    EXPECT_EQ(gauge(a->admin_port(), "qrpay_cluster_peer_revocations_total"), 1);
    EXPECT_EQ(gauge(a->admin_port(), "qrpay_cluster_lease_held"), 1);
    auto client = client_for(a->port());
    const std::string consumer = a->token("consumer", "c-1");
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(call_api(*client, "POST", "/v1/payment-codes", consumer).status, 201);
    }
}

// etcd gone: the node can renew no lease, so it stops serving and /readyz says why; once etcd
// is back, the node holds a lease and serves again by itself.
TEST_F(ClusterTest, WithoutEtcdANodeServesNothingAndIsNotReadyUntilEtcdIsBack) {
    auto own_etcd = etcd::testing::TestCluster::start();
    ASSERT_TRUE(own_etcd.ok()) << own_etcd.status().to_string();
    etcd_ = (*own_etcd)->client_urls();
    ASSERT_EQ(init(), 0);
    auto a = node("a");
    a->start();
    ASSERT_TRUE(eventually([&] { return served(*a) == shard_count; }));
    ASSERT_TRUE((*own_etcd)->kill(0).ok());
    auto admin = client_for(a->admin_port(), std::chrono::seconds(2), 1);
    ASSERT_TRUE(eventually([&] {
        auto ready = admin->call({.method = "GET", .path = "/readyz"});
        return ready.ok() && ready->status == 503 &&
               ready->body.find("cluster_unavailable") != std::string::npos;
    }));
    EXPECT_EQ(served(*a), 0);
    EXPECT_EQ(gauge(a->admin_port(), "qrpay_cluster_lease_held"), 0);
    ASSERT_TRUE((*own_etcd)->restart(0).ok());
    ASSERT_TRUE(eventually([&] { return served(*a) == shard_count; }));
    auto ready = admin->call({.method = "GET", .path = "/readyz"});
    ASSERT_TRUE(ready.ok());
    EXPECT_EQ(ready->status, 200) << ready->body;
}

// kill -9 of a node under steady load, ten times in a row. Three nodes share one agency; the
// payments go through node a, which forwards each command to its shard's owner; b and c are
// killed in turn (a command on its way to the dead node answers that its outcome is unknown,
// one for a shard still moving that nothing changed) and started again. After each kill the
// survivors take the dead node's shards and payments complete again. At the end: every payment
// is final, none answered completed is lost, the agency's net equals the completed amounts,
// and each entity's events are numbered 1..N with no gap or repeat.
TEST_F(ClusterTest, TenKillsOfANodeUnderLoadLoseNoPayment) {
    ASSERT_EQ(init(), 0);
    AgencySim agency(dir_.path() + "/agency", {.latency_ms = 20});
    const std::vector<std::string> flags = {"--agency-url", agency.url(), "--agency-timeout",
                                            "500ms",        "--code-ttl", "3s",
                                            "--pay-wait",   "2s"};
    auto a = node("a", "2s", flags);
    auto b = node("b", "2s", flags);
    auto c = node("c", "2s", flags);
    a->start();
    b->start();
    c->start();
    const auto all_serve = [&] {
        const std::int64_t on_a = served(*a), on_b = served(*b), on_c = served(*c);
        return on_a > 0 && on_b > 0 && on_c > 0 && on_a + on_b + on_c == shard_count;
    };
    ASSERT_TRUE(eventually(all_serve));
    const std::string consumer = a->token("consumer", "consumer-kills");
    const std::string merchant = a->token("merchant", "merchant-kills");
    Load load(
        a->port(), consumer, merchant,
        {.nothing_changed_codes = {"journal_unavailable", "shard_unavailable", "unavailable"}});
    load.run(3);
    ASSERT_TRUE(eventually([&] { return load.completed_answers() >= 20; }));
    for (int kill = 0; kill < 10; ++kill) {
        Server& victim = kill % 2 == 0 ? *b : *c;
        Server& survivor = kill % 2 == 0 ? *c : *b;
        victim.kill_hard();
        ASSERT_TRUE(eventually([&] { return served(*a) + served(survivor) == shard_count; }))
            << "kill " << kill;
        const int completed = load.completed_answers();
        ASSERT_TRUE(eventually([&] { return load.completed_answers() >= completed + 5; }))
            << "kill " << kill;
        victim.start();
        ASSERT_TRUE(eventually(all_serve)) << "kill " << kill;
    }
    load.stop();
    check_every_payment_ends(load, a->port(), agency.port(), consumer, merchant, "merchant-kills");
    auto journal = postgres::Connection::open(journal_);
    ASSERT_TRUE(journal.ok()) << journal.status().to_string();
    auto gaps = (*journal)->query(
        "SELECT count(*) FROM (SELECT persistence_id FROM events GROUP BY persistence_id "
        "HAVING max(seq) <> count(*)) AS numbered_wrong");
    ASSERT_TRUE(gaps.ok()) << gaps.status().to_string();
    EXPECT_EQ(gaps->int_at(0, 0), 0) << "entities whose events are not numbered 1..N";
}

// Scaling out from three nodes to four under load: the new node claims its share of the shards,
// their owners hand them over (planned moves: in-flight commands finish, new ones wait for the
// new owner), and no request fails.
TEST_F(ClusterTest, ScalingOutFromThreeToFourNodesUnderLoadFailsNoRequest) {
    ASSERT_EQ(init(), 0);
    AgencySim agency(dir_.path() + "/agency", {.latency_ms = 20});
    const std::vector<std::string> flags = {"--agency-url", agency.url(), "--agency-timeout",
                                            "500ms",        "--code-ttl", "3s",
                                            "--pay-wait",   "2s"};
    std::vector<std::unique_ptr<Server>> nodes;
    for (const char* id : {"a", "b", "c"}) {
        nodes.push_back(node(id, "2s", flags));
        nodes.back()->start();
    }
    const auto all_serve = [&] {
        std::int64_t total = 0;
        for (const auto& each : nodes) {
            const std::int64_t on_node = served(*each);
            if (on_node <= 0) {
                return false;
            }
            total += on_node;
        }
        return total == shard_count;
    };
    ASSERT_TRUE(eventually(all_serve));
    Server& a = *nodes.front();
    const std::string consumer = a.token("consumer", "consumer-scale");
    const std::string merchant = a.token("merchant", "merchant-scale");
    Load load(a.port(), consumer, merchant);
    load.run(3);
    ASSERT_TRUE(eventually([&] { return load.completed_answers() >= 20; }));
    nodes.push_back(node("d", "2s", flags));
    nodes.back()->start();
    ASSERT_TRUE(eventually(all_serve));
    const int completed = load.completed_answers();
    ASSERT_TRUE(eventually([&] { return load.completed_answers() >= completed + 20; }));
    load.stop();
    const std::vector<std::string> unsuccessful = load.unsuccessful_answers();
    EXPECT_TRUE(unsuccessful.empty())
        << unsuccessful.size() << " failed, first: " << unsuccessful.front();
    check_every_payment_ends(load, a.port(), agency.port(), consumer, merchant, "merchant-scale");
}

// etcd as three members. One lost, its leader even, changes nothing: the nodes keep their leases
// and their shards, and take requests. A majority lost: no lease can be kept alive, so each node
// stops serving before its lease could have expired, and no node serves a shard. Once a majority
// is back, every shard is served again.
TEST_F(ClusterTest, OneEtcdMemberLostChangesNothingAndAMajorityLostStopsServing) {
    ASSERT_EQ(init(), 0);
    auto a = node("a", "3s");
    auto b = node("b", "3s");
    a->start();
    b->start();
    ASSERT_TRUE(eventually([&] { return share_the_shards(*a, *b); }));
    Result<std::size_t> leader = etcd_cluster_->leader();
    ASSERT_TRUE(leader.ok()) << leader.status().to_string();
    ASSERT_TRUE(etcd_cluster_->kill(*leader).ok());
    ASSERT_TRUE(eventually([&] { return etcd_cluster_->leader().ok(); }));
    const std::string consumer = a->token("consumer", "c-etcd");
    for (Server* through : {a.get(), b.get()}) {
        auto client = client_for(through->port());
        for (int i = 0; i < 5; ++i) {
            EXPECT_EQ(call_api(*client, "POST", "/v1/payment-codes", consumer).status, 201);
        }
    }
    EXPECT_TRUE(share_the_shards(*a, *b));
    for (Server* each : {a.get(), b.get()}) {
        EXPECT_EQ(gauge(each->admin_port(), "qrpay_cluster_leases_lost_total"), 0);
    }

    const std::size_t second = (*leader + 1) % etcd_cluster_->size();
    ASSERT_TRUE(etcd_cluster_->kill(second).ok());
    ASSERT_TRUE(eventually([&] { return served(*a) == 0 && served(*b) == 0; }));
    for (Server* each : {a.get(), b.get()}) {
        EXPECT_EQ(gauge(each->admin_port(), "qrpay_cluster_lease_held"), 0);
        EXPECT_EQ(gauge(each->admin_port(), "qrpay_cluster_leases_lost_total"), 1);
    }
    ASSERT_TRUE(etcd_cluster_->restart(second).ok());
    ASSERT_TRUE(etcd_cluster_->restart(*leader).ok());
    ASSERT_TRUE(eventually([&] { return share_the_shards(*a, *b); }));
    auto client = client_for(a->port());
    EXPECT_EQ(call_api(*client, "POST", "/v1/payment-codes", consumer).status, 201);
}

}  // namespace
}  // namespace qrpay::harness
