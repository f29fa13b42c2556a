// PostgreSQL lost and found again (issue 12), end to end: `qrpay serve --journal URL` against a
// PostgreSQL server of the test's own, which the test kills (-9), stops and restarts. What the
// issue asks for: serve never takes a write without its journal; while PostgreSQL is gone a
// write answers 503 journal_unavailable with Retry-After (or 202 when the payment was taken and
// only its outcome is not known yet), a read of an entity in memory still answers, and /readyz
// is red with the reason; once PostgreSQL is back the service resumes by itself: no payment
// answered completed is lost, every one in flight ends, and the agency's ledger agrees.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/testing/eventually.h"
#include "postgres/connection.h"
#include "postgres/testing/test_server.h"
#include "tests/integration/api_client.h"
#include "tests/integration/payment_load.h"

namespace qrpay::harness {
namespace {

using postgres::testing::TestServer;
using qrpay::testing::eventually;

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The readiness probe's answer, from a fresh connection each time.
Answer readyz(std::uint16_t admin_port) {
    auto admin = client_for(admin_port, std::chrono::seconds(5), 1);
    return call(*admin, "GET", "/readyz");
}

// Each test has a PostgreSQL server of its own (it kills it) with one database for the journal.
class PgFault : public ::testing::Test {
protected:
    void SetUp() override {
        auto started = TestServer::start();
        ASSERT_TRUE(started.ok()) << started.status().to_string();
        postgres_ = std::move(started).value();
        Status created = postgres_->create_database("qrpay");
        ASSERT_TRUE(created.ok()) << created.to_string();
        url_ = postgres_->url("qrpay");
    }

    std::unique_ptr<TestServer> postgres_;
    std::string url_;
};

// ---- a. kill -9 under load ------------------------------------------------------------------

TEST_F(PgFault, KillNineUnderLoad) {
    TempDir dir;
    // The agency's latency keeps payments in flight when PostgreSQL dies; a pay wait shorter
    // than the outage makes some of them answer while it lasts.
    AgencySim agency(dir.path() + "/agency",
                     {.error_5xx_rate = 0.05, .timeout_rate = 0.05, .latency_ms = 50});
    Server server(dir.path() + "/serve",
                  {"--journal", url_, "--agency-url", agency.url(), "--agency-timeout", "500ms",
                   "--code-ttl", "3s", "--pay-wait", "1s"});
    server.start();
    const std::string consumer = server.token("consumer", "consumer-pg-kill");
    const std::string merchant = server.token("merchant", "merchant-pg-kill");

    Load load(server.port(), consumer, merchant);
    load.run(4);
    ASSERT_TRUE(eventually([&] { return load.completed_answers() >= 40; }, std::chrono::seconds(60),
                           std::chrono::milliseconds(20)))
        << server.process().log_tail();
    ASSERT_TRUE(postgres_->kill().ok());

    // The clients see the outage (and keep driving through it), and so does /readyz.
    EXPECT_TRUE(eventually([&] { return load.nothing_changed_answers() >= 300; },
                           std::chrono::seconds(60), std::chrono::milliseconds(20)));
    Answer red;
    EXPECT_TRUE(eventually(
        [&] {
            red = readyz(server.admin_port());
            return red.raw.find("journal_unavailable") != std::string::npos;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(red);
    EXPECT_EQ(red.status, 503) << describe(red);

    ASSERT_TRUE(postgres_->restart().ok());
    const int completed_before_restart = load.completed_answers();
    EXPECT_TRUE(
        eventually([&] { return load.completed_answers() >= completed_before_restart + 20; },
                   std::chrono::seconds(120), std::chrono::milliseconds(20)))
        << "payments did not complete again after the restart of PostgreSQL";
    load.stop();
    EXPECT_TRUE(eventually([&] { return readyz(server.admin_port()).status == 200; },
                           std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(readyz(server.admin_port()));
    EXPECT_TRUE(server.process().running()) << "serve itself was never restarted";
    check_every_payment_ends(load, server.port(), agency.port(), consumer, merchant,
                             "merchant-pg-kill");
}

// ---- b. while PostgreSQL is down --------------------------------------------------------------

TEST_F(PgFault, WhileDownReadyzIsRedAndWritesAre503) {
    TempDir dir;
    Server server(dir.path() + "/serve", {"--journal", url_});
    server.start();
    const std::string consumer = server.token("consumer", "consumer-pg-down");
    const std::string merchant = server.token("merchant", "merchant-pg-down");
    auto client = client_for(server.port(), std::chrono::seconds(20), 2);

    Answer paid_code = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(paid_code.status, 201) << describe(paid_code);
    const std::string paid_id = paid_code.body["transaction_id"];
    Answer paid = call(*client, "POST", "/v1/payments", merchant,
                       pay_body(paid_code.body["code"], 1200), "pay-before");
    ASSERT_EQ(paid.status, 200) << describe(paid);
    ASSERT_EQ(paid.body["status"], "completed");
    Answer open_code = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(open_code.status, 201) << describe(open_code);

    ASSERT_TRUE(postgres_->kill().ok());
    // Red, and saying why, without a write to find out: a balancer must not wait for a failed
    // payment. (Another reason may show first: the projection stops at the failed journal read.)
    Answer red;
    EXPECT_TRUE(eventually(
        [&] {
            red = readyz(server.admin_port());
            return red.raw.find("journal_unavailable") != std::string::npos;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(red);
    EXPECT_EQ(red.status, 503) << describe(red);

    for (const auto& [what, refused] :
         {std::pair{"a new code", call(*client, "POST", "/v1/payment-codes", consumer)},
          std::pair{"a payment", call(*client, "POST", "/v1/payments", merchant,
                                      pay_body(open_code.body["code"], 500))}}) {
        EXPECT_EQ(refused.status, 503) << what << ": " << describe(refused);
        EXPECT_EQ(refused.content_type, "application/problem+json") << what;
        EXPECT_EQ(refused.code(), "journal_unavailable") << what << ": " << describe(refused);
        EXPECT_GT(std::atoi(refused.retry_after.c_str()), 0) << what << ": " << describe(refused);
        EXPECT_EQ(refused.raw.find("127.0.0.1"), std::string::npos)
            << what << ": libpq's text stays in the log: " << refused.raw;
    }
    // The command side answers from memory what it holds; what it must read says why not.
    for (const std::string& token : {consumer, merchant}) {
        Answer seen = call(*client, "GET", "/v1/transactions/" + paid_id, token);
        EXPECT_EQ(seen.status, 200) << describe(seen);
        EXPECT_EQ(seen.body["status"], "completed") << describe(seen);
    }
    Answer unknown = call(*client, "GET", "/v1/transactions/tx_" + std::string(32, '0'), consumer);
    EXPECT_EQ(unknown.status, 503) << describe(unknown);
    EXPECT_EQ(unknown.code(), "journal_unavailable") << describe(unknown);

    ASSERT_TRUE(postgres_->restart().ok());
    // Green again by itself: nothing is written meanwhile (a balancer sends nothing to a node
    // that is not ready), so only the journal's own reconnect can turn it.
    EXPECT_TRUE(eventually([&] { return readyz(server.admin_port()).status == 200; },
                           std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(readyz(server.admin_port()));
    // Ready means writes work: at once, without a restart of serve. The payment refused above
    // left nothing behind, so its code pays now.
    Answer again =
        call(*client, "POST", "/v1/payments", merchant, pay_body(open_code.body["code"], 500));
    EXPECT_EQ(again.status, 200) << describe(again);
    EXPECT_EQ(again.body["status"], "completed") << describe(again);
    Answer created = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(created.status, 201) << describe(created);
    Answer paid_after =
        call(*client, "POST", "/v1/payments", merchant, pay_body(created.body["code"], 700));
    EXPECT_EQ(paid_after.status, 200) << describe(paid_after);
    EXPECT_EQ(paid_after.body["status"], "completed") << describe(paid_after);
    EXPECT_TRUE(server.process().running());
}

// ---- c. PostgreSQL down when serve starts -------------------------------------------------------

TEST_F(PgFault, DownAtStartWaitsThenServes) {
    ASSERT_TRUE(postgres_->stop().ok());
    TempDir dir;
    const std::string data_dir = dir.path() + "/serve";
    const std::uint16_t port = free_port();
    const std::uint16_t admin_port = free_port();
    Process serve({qrpay_binary(), "serve", "--listen", "127.0.0.1:" + std::to_string(port),
                   "--admin-listen", "127.0.0.1:" + std::to_string(admin_port), "--data-dir",
                   data_dir, "--journal", url_, "--journal-connect-wait", "60s"},
                  dir.path() + "/serve.log");

    ASSERT_TRUE(eventually(
        [&] {
            return file_text(serve.log_path()).find("waiting for PostgreSQL") != std::string::npos;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(20)))
        << serve.log_tail();
    EXPECT_NE(file_text(serve.log_path()).find("Connection refused"), std::string::npos)
        << "the log says why: " << serve.log_tail();
    // /readyz answers meanwhile, with the reason.
    Answer waiting;
    EXPECT_TRUE(eventually(
        [&] {
            waiting = readyz(admin_port);
            return waiting.status != 0;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(20)));
    EXPECT_EQ(waiting.status, 503) << describe(waiting);
    EXPECT_NE(waiting.raw.find("journal_unavailable: waiting for PostgreSQL"), std::string::npos)
        << describe(waiting);
    EXPECT_NE(waiting.raw.find("Connection refused"), std::string::npos) << describe(waiting);

    // No write is served without a journal (the API listener is not up yet).
    const std::string consumer = run_and_capture(qrpay_binary() + " token issue --data-dir " +
                                                 data_dir + " --role consumer --sub c --ttl 1h");
    const std::string merchant = run_and_capture(qrpay_binary() + " token issue --data-dir " +
                                                 data_dir + " --role merchant --sub m --ttl 1h");
    ASSERT_FALSE(consumer.empty());
    auto client = client_for(port, std::chrono::seconds(20), 1);
    Answer refused = call(*client, "POST", "/v1/payment-codes", consumer);
    EXPECT_NE(refused.status, 201) << describe(refused);
    EXPECT_TRUE(serve.running()) << serve.log_tail();

    ASSERT_TRUE(postgres_->restart().ok());
    EXPECT_TRUE(eventually([&] { return readyz(admin_port).status == 200; },
                           std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << serve.log_tail();
    Answer created = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(created.status, 201) << describe(created);
    Answer paid =
        call(*client, "POST", "/v1/payments", merchant, pay_body(created.body["code"], 300));
    EXPECT_EQ(paid.status, 200) << describe(paid);
    EXPECT_EQ(paid.body["status"], "completed") << describe(paid);
    EXPECT_EQ(serve.terminate(), 0) << serve.log_tail();
}

// ---- d. partitions ---------------------------------------------------------------------------

// Two databases, shards by range: payments complete with events in both, a restart with the
// same list finds them, and a restart with another list is refused before serving.
TEST_F(PgFault, PartitionsHoldTheirShardsAndAnotherMapIsRefused) {
    ASSERT_TRUE(postgres_->create_database("second").ok());
    const std::string urls = url_ + "," + postgres_->url("second");
    TempDir dir;
    AgencySim agency(dir.path() + "/agency", {});
    std::vector<std::string> ids;
    {
        Server server(dir.path() + "/serve", {"--journal", urls, "--agency-url", agency.url()});
        server.start();
        auto client = client_for(server.port(), std::chrono::seconds(20), 1);
        const std::string consumer = server.token("consumer", "c");
        const std::string merchant = server.token("merchant", "m");
        for (int i = 0; i < 8; ++i) {
            Answer code = call(*client, "POST", "/v1/payment-codes", consumer);
            ASSERT_EQ(code.status, 201) << describe(code);
            Answer paid =
                call(*client, "POST", "/v1/payments", merchant, pay_body(code.body["code"], 100));
            ASSERT_EQ(paid.body["status"], "completed") << describe(paid);
            ids.push_back(paid.body["transaction_id"]);
        }
        EXPECT_EQ(server.terminate(), 0);
        server.start();  // the same list again: every payment is still there
        auto again = client_for(server.port(), std::chrono::seconds(20), 1);
        for (const std::string& id : ids) {
            Answer seen = call(*again, "GET", "/v1/transactions/" + id, merchant);
            EXPECT_EQ(seen.body["status"], "completed") << describe(seen);
        }
        EXPECT_EQ(server.terminate(), 0);
    }
    for (const std::string& name : {std::string("qrpay"), std::string("second")}) {
        auto db = postgres::Connection::open(postgres_->url(name));
        ASSERT_TRUE(db.ok());
        auto events = (*db)->query("SELECT count(*) FROM events");
        ASSERT_TRUE(events.ok());
        EXPECT_GT(events->int_at(0, 0), 0) << name << " holds events of its shards";
    }
    Process refused(
        {qrpay_binary(), "serve", "--listen", "127.0.0.1:" + std::to_string(free_port()),
         "--admin-listen", "127.0.0.1:" + std::to_string(free_port()), "--data-dir",
         dir.path() + "/serve", "--journal", url_},
        dir.path() + "/refused.log");
    EXPECT_TRUE(eventually([&] { return !refused.running(); }, std::chrono::seconds(60),
                           std::chrono::milliseconds(20)));
    EXPECT_NE(file_text(refused.log_path()).find("partition 0 of 2"), std::string::npos)
        << refused.log_tail();
}

}  // namespace
}  // namespace qrpay::harness
