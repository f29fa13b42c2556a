// The journal's store without a single point of failure (issue 13): PostgreSQL as a primary
// with a synchronous standby, both run by Patroni on a real etcd, and `qrpay serve --journal`
// given both hosts with target_session_attrs=read-write. The primary's machine crashes under
// load (SIGKILL to Patroni, the postmaster and its backends); once its leader key expires,
// Patroni promotes the standby, and qrpay finds the new primary by itself. What must hold is
// what holds when a lone PostgreSQL is killed and restarted (pg_fault_test.cc): no payment
// answered completed is lost (each acknowledged commit was on the standby too), every one in
// flight ends, nothing refused went on, and the agency's ledger agrees with qrpay's.
#include "tests/harness/patroni.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "base/testing/eventually.h"
#include "etcd/testing/test_cluster.h"
#include "tests/integration/api_client.h"
#include "tests/integration/payment_load.h"

namespace qrpay::harness {
namespace {

using qrpay::testing::eventually;

// "http://127.0.0.1:2379" -> "127.0.0.1:2379", as Patroni's etcd3 hosts take it.
std::string host_port(const std::string& url) {
    const std::size_t scheme = url.find("://");
    return scheme == std::string::npos ? url : url.substr(scheme + 3);
}

TEST(PatroniFailover, AKilledPrimaryIsReplacedByItsStandbyAndNoAcknowledgedPaymentIsLost) {
    etcd::testing::TestCluster& etcd = etcd::testing::shared_test_cluster();
    auto started = PatroniPair::start({.etcd_hosts = host_port(etcd.client_url(0)),
                                       .scope = "qrpay-" + std::to_string(getpid())});
    ASSERT_TRUE(started.ok()) << started.status().to_string();
    PatroniPair& pair = **started;
    ASSERT_TRUE(pair.create_database("qrpay").ok());

    TempDir dir;
    // The agency's latency keeps payments in flight when the primary dies.
    AgencySim agency(dir.path() + "/agency",
                     {.error_5xx_rate = 0.05, .timeout_rate = 0.05, .latency_ms = 50});
    Server server(dir.path() + "/serve",
                  {"--journal", pair.url("qrpay"), "--agency-url", agency.url(), "--agency-timeout",
                   "500ms", "--code-ttl", "3s", "--pay-wait", "1s"});
    server.start();
    const std::string consumer = server.token("consumer", "consumer-patroni");
    const std::string merchant = server.token("merchant", "merchant-patroni");

    Load load(server.port(), consumer, merchant);
    load.run(4);
    ASSERT_TRUE(eventually([&] { return load.completed_answers() >= 40; }, std::chrono::seconds(60),
                           std::chrono::milliseconds(20)))
        << server.process().log_tail();
    Result<std::size_t> primary = pair.primary();
    ASSERT_TRUE(primary.ok()) << primary.status().to_string();
    ASSERT_TRUE(pair.kill(*primary).ok());

    const std::size_t standby = 1 - *primary;
    EXPECT_TRUE(eventually([&] { return pair.primary().ok() && *pair.primary() == standby; },
                           std::chrono::seconds(60), std::chrono::milliseconds(100)))
        << pair.log_tail(standby);
    const int completed_before_promotion = load.completed_answers();
    EXPECT_TRUE(
        eventually([&] { return load.completed_answers() >= completed_before_promotion + 20; },
                   std::chrono::seconds(120), std::chrono::milliseconds(20)))
        << "payments did not complete again on the promoted standby\n"
        << server.process().log_tail();
    load.stop();
    EXPECT_TRUE(server.process().running()) << "serve itself was never restarted";
    check_every_payment_ends(load, server.port(), agency.port(), consumer, merchant,
                             "merchant-patroni");
}

}  // namespace
}  // namespace qrpay::harness
