// AgencyClient against a real simulator over HTTP on 127.0.0.1 (ephemeral port, temporary
// ledger). Waits are bounded; no duration is asserted.

#include "agency/agency_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "agency/agency_test_support.h"
#include "agency_sim/simulator.h"
#include "agency_sim/simulator_http.h"
#include "base/random.h"

namespace qrpay::agency {
namespace {

using namespace std::chrono_literals;
using agency_sim::LedgerBalance;
using agency_sim::SimulatorOptions;
using domain::AgencyOutcome;
using domain::AgencyPayment;
using domain::AgencyReversal;
using domain::AgencyVerdict;

using test_support::wait_max;
using test_support::wait_outcome;

AgencyPayment payment(std::string key, std::int64_t amount_minor = 1200) {
    return {.idempotency_key = std::move(key),
            .merchant_id = "m-1",
            .amount = {amount_minor, "JPY"},
            .order_id = "order-1"};
}

AgencyReversal reversal(std::string key, std::int64_t amount_minor = 1200) {
    return {
        .idempotency_key = std::move(key), .merchant_id = "m-1", .amount = {amount_minor, "JPY"}};
}

class AgencyOverHttp : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("qrpay-agency-client-test-" + SecureRandom().hex(8));
    }

    void TearDown() override {
        client_.reset();
        if (simulator_) {
            simulator_->stop();  // answers late (simulated timeout) requests first
        }
        server_.reset();
        simulator_.reset();
        std::filesystem::remove_all(dir_);
    }

    void start(SimulatorOptions options = {},
               std::chrono::milliseconds response_timeout = 5'000ms) {
        options.data_dir = dir_.string();
        auto simulator = agency_sim::Simulator::open(options);
        ASSERT_TRUE(simulator.ok()) << simulator.status().to_string();
        simulator_ = std::move(*simulator);
        auto server = agency_sim::serve_simulator(*simulator_, {.host = "127.0.0.1", .port = 0});
        ASSERT_TRUE(server.ok()) << server.status().to_string();
        server_ = std::move(*server);
        auto client =
            AgencyClient::open({.base_url = "http://127.0.0.1:" + std::to_string(server_->port()),
                                .response_timeout = response_timeout});
        ASSERT_TRUE(client.ok()) << client.status().to_string();
        client_ = std::move(*client);
    }

    AgencyOutcome pay(const AgencyPayment& request) {
        return wait_outcome([&](domain::AgencyPort::Done done) { client_->pay(request, done); });
    }
    AgencyOutcome inquire(const std::string& key) {
        return wait_outcome([&](domain::AgencyPort::Done done) { client_->inquire(key, done); });
    }
    AgencyOutcome reverse(const AgencyReversal& request) {
        return wait_outcome(
            [&](domain::AgencyPort::Done done) { client_->reverse(request, done); });
    }
    std::vector<LedgerBalance> balances() {
        auto balances = simulator_->ledger();
        EXPECT_TRUE(balances.ok()) << balances.status().to_string();
        return balances.ok() ? *balances : std::vector<LedgerBalance>{};
    }

    std::filesystem::path dir_;
    std::unique_ptr<agency_sim::Simulator> simulator_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<AgencyClient> client_;
};

TEST_F(AgencyOverHttp, PayIsApprovedAndTheLedgerShowsTheCharge) {
    start();
    AgencyOutcome outcome = pay(payment("tx-1"));
    EXPECT_EQ(outcome.verdict, AgencyVerdict::approved) << outcome.reason;
    EXPECT_FALSE(outcome.reference.empty());
    std::vector<LedgerBalance> expected{{.merchant_id = "m-1",
                                         .currency = "JPY",
                                         .captured_minor = 1200,
                                         .reversed_minor = 0,
                                         .net_minor = 1200,
                                         .captured_count = 1,
                                         .reversed_count = 0}};
    EXPECT_EQ(balances(), expected);
}

TEST_F(AgencyOverHttp, PayIsDeclinedWhenTheDeclineRateIsOne) {
    start({.decline_rate = 1.0});
    AgencyOutcome outcome = pay(payment("tx-1"));
    EXPECT_EQ(outcome.verdict, AgencyVerdict::declined);
    EXPECT_FALSE(outcome.reason.empty());
    EXPECT_EQ(pay(payment("tx-1")).verdict, AgencyVerdict::declined) << "the first outcome";
    EXPECT_EQ(inquire("tx-1").verdict, AgencyVerdict::declined);
    EXPECT_TRUE(balances().empty());
}

TEST_F(AgencyOverHttp, RetryWithTheSameKeyDoesNotChargeTwice) {
    start();
    AgencyOutcome first = pay(payment("tx-1"));
    auto after_first = balances();
    AgencyOutcome second = pay(payment("tx-1"));
    ASSERT_EQ(first.verdict, AgencyVerdict::approved);
    EXPECT_EQ(second.verdict, AgencyVerdict::approved);
    EXPECT_EQ(second.reference, first.reference);
    EXPECT_EQ(balances(), after_first);
    ASSERT_EQ(after_first.size(), 1U);
    EXPECT_EQ(after_first[0].captured_count, 1);
}

TEST_F(AgencyOverHttp, SameKeyForADifferentPaymentIsRefusedAndChangesNothing) {
    start();
    ASSERT_EQ(pay(payment("tx-1", 1200)).verdict, AgencyVerdict::approved);
    auto before = balances();
    AgencyOutcome other = pay(payment("tx-1", 9999));
    EXPECT_EQ(other.verdict, AgencyVerdict::declined);
    EXPECT_NE(other.reason.find("refused"), std::string::npos) << other.reason;
    EXPECT_EQ(balances(), before);
}

TEST_F(AgencyOverHttp, InquiryFindsApprovedPaymentsAndNotUnknownOnes) {
    start();
    AgencyOutcome paid = pay(payment("tx-1"));
    AgencyOutcome found = inquire("tx-1");
    EXPECT_EQ(found.verdict, AgencyVerdict::approved);
    EXPECT_EQ(found.reference, paid.reference);
    EXPECT_EQ(inquire("tx-never").verdict, AgencyVerdict::not_found);
}

TEST_F(AgencyOverHttp, ReversalLeavesANetOfZeroAndIsIdempotent) {
    start();
    ASSERT_EQ(pay(payment("tx-1")).verdict, AgencyVerdict::approved);
    EXPECT_EQ(reverse(reversal("tx-1")).verdict, AgencyVerdict::approved);
    EXPECT_EQ(reverse(reversal("tx-1")).verdict, AgencyVerdict::approved) << "again: same answer";
    auto after = balances();
    ASSERT_EQ(after.size(), 1U);
    EXPECT_EQ(after[0].net_minor, 0);
    EXPECT_EQ(after[0].captured_minor, 1200);
    EXPECT_EQ(after[0].reversed_minor, 1200);
    EXPECT_EQ(after[0].reversed_count, 1);
    AgencyOutcome inquiry = inquire("tx-1");
    EXPECT_EQ(inquiry.verdict, AgencyVerdict::approved) << "it was charged";
    EXPECT_EQ(inquiry.reason, "reversed");
}

TEST_F(AgencyOverHttp, ReversalOfADeclinedUnknownOrDifferentPaymentIsDeclined) {
    start({.decline_rate = 1.0});
    ASSERT_EQ(pay(payment("tx-declined")).verdict, AgencyVerdict::declined);
    EXPECT_EQ(reverse(reversal("tx-declined")).verdict, AgencyVerdict::declined);
    EXPECT_EQ(reverse(reversal("tx-never")).verdict, AgencyVerdict::declined);
    EXPECT_EQ(reverse(reversal("tx-declined", 1)).verdict, AgencyVerdict::declined)
        << "amount differs: refused";
    EXPECT_TRUE(balances().empty());
}

TEST_F(AgencyOverHttp, ServerErrorsAreUnknownNeverDeclined) {
    start({.error_5xx_rate = 1.0});
    EXPECT_EQ(pay(payment("tx-1")).verdict, AgencyVerdict::unknown);
    EXPECT_EQ(inquire("tx-1").verdict, AgencyVerdict::unknown);
    EXPECT_EQ(reverse(reversal("tx-1")).verdict, AgencyVerdict::unknown);
    EXPECT_TRUE(balances().empty());
}

TEST_F(AgencyOverHttp, TimeoutIsUnknownAndTheLedgerStillShowsTheCharge) {
    start({.timeout_rate = 1.0, .timeout_delay = 5'000ms}, 200ms);
    AgencyOutcome outcome = pay(payment("tx-1"));
    EXPECT_EQ(outcome.verdict, AgencyVerdict::unknown);
    auto after = balances();
    ASSERT_EQ(after.size(), 1U);
    EXPECT_EQ(after[0].captured_count, 1);
    EXPECT_EQ(inquire("tx-1").verdict, AgencyVerdict::approved) << "inquiries are answered";
}

TEST_F(AgencyOverHttp, KeysAreEscapedInPaths) {
    start();
    std::string key = "tx/1?&%#";
    ASSERT_EQ(pay(payment(key)).verdict, AgencyVerdict::approved);
    EXPECT_EQ(inquire(key).verdict, AgencyVerdict::approved);
    EXPECT_EQ(reverse(reversal(key)).verdict, AgencyVerdict::approved);
}

TEST(AgencyClient, ConnectionRefusedIsUnknown) {
    // Port 1 on loopback: nothing listens there on a test machine.
    auto client = AgencyClient::open({.base_url = "http://127.0.0.1:1"});
    ASSERT_TRUE(client.ok());
    AgencyOutcome outcome =
        wait_outcome([&](domain::AgencyPort::Done done) { (*client)->pay(payment("tx-1"), done); });
    EXPECT_EQ(outcome.verdict, AgencyVerdict::unknown);
    EXPECT_NE(outcome.reason.find("unavailable"), std::string::npos) << outcome.reason;
}

TEST(AgencyClient, BadBaseUrlIsRefused) {
    EXPECT_EQ(AgencyClient::open({.base_url = "ftp://x"}).status().code(), Errc::invalid_argument);
}

}  // namespace
}  // namespace qrpay::agency
