// The simulated agency: its ledger across reopen, the in-process port, the HTTP API's refusal
// of bad input, and the agency-sim command's body. Waits are bounded; no duration is asserted.

#include "agency_sim/simulator.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <future>
#include <thread>

#include "agency/agency_test_support.h"
#include "agency/wire.h"
#include "agency_sim/in_process_agency.h"
#include "agency_sim/ledger.h"
#include "agency_sim/run.h"
#include "agency_sim/simulator_http.h"
#include "base/random.h"
#include "http/client.h"

namespace qrpay::agency_sim {
namespace {

using namespace std::chrono_literals;
using domain::AgencyOutcome;
using domain::AgencyVerdict;
namespace wire = agency::wire;

using agency::test_support::wait_max;
using agency::test_support::wait_outcome;

domain::AgencyPayment payment(std::string key) {
    return {.idempotency_key = std::move(key),
            .merchant_id = "m-1",
            .amount = {500, "USD"},
            .order_id = "o-1"};
}

class SimulatorTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("qrpay-simulator-test-" + SecureRandom().hex(8));
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::unique_ptr<Simulator> open(SimulatorOptions options = {}) {
        options.data_dir = dir_.string();
        auto simulator = Simulator::open(options);
        EXPECT_TRUE(simulator.ok()) << simulator.status().to_string();
        return simulator.ok() ? std::move(*simulator) : nullptr;
    }

    std::filesystem::path dir_;
};

TEST_F(SimulatorTest, LedgerSurvivesReopenAndKeepsIdempotency) {
    std::string reference;
    {
        auto simulator = open();
        auto agency = make_in_process_agency(*simulator);
        AgencyOutcome first = wait_outcome(
            [&](domain::AgencyPort::Done done) { agency->pay(payment("tx-1"), done); });
        ASSERT_EQ(first.verdict, AgencyVerdict::approved);
        reference = first.reference;
    }
    auto simulator = open();
    auto balances = simulator->ledger();
    ASSERT_TRUE(balances.ok());
    ASSERT_EQ(balances->size(), 1U);
    EXPECT_EQ((*balances)[0].captured_minor, 500);
    auto agency = make_in_process_agency(*simulator);
    AgencyOutcome again =
        wait_outcome([&](domain::AgencyPort::Done done) { agency->pay(payment("tx-1"), done); });
    EXPECT_EQ(again.verdict, AgencyVerdict::approved);
    EXPECT_EQ(again.reference, reference);
    EXPECT_EQ((*simulator->ledger())[0].captured_count, 1);
}

TEST_F(SimulatorTest, InProcessAgencyAnswersOnTheSimulatorsThread) {
    auto simulator = open({.latency = 5ms});
    auto agency = make_in_process_agency(*simulator);
    auto caller = std::this_thread::get_id();
    std::thread::id answered_on;
    AgencyOutcome outcome = wait_outcome([&](domain::AgencyPort::Done done) {
        agency->pay(payment("tx-1"), [&answered_on, done](AgencyOutcome result) {
            answered_on = std::this_thread::get_id();
            done(std::move(result));
        });
    });
    EXPECT_EQ(outcome.verdict, AgencyVerdict::approved);
    EXPECT_NE(answered_on, caller);
    EXPECT_EQ(wait_outcome([&](auto done) { agency->inquire("tx-none", done); }).verdict,
              AgencyVerdict::not_found);
    EXPECT_EQ(wait_outcome([&](auto done) {
                  agency->reverse(
                      {.idempotency_key = "tx-1", .merchant_id = "m-1", .amount = {500, "USD"}},
                      done);
              }).verdict,
              AgencyVerdict::approved);
}

TEST_F(SimulatorTest, InProcessTimeoutIsUnknownButTheChargeIsRecorded) {
    auto simulator = open({.timeout_rate = 1.0, .timeout_delay = 10ms});
    auto agency = make_in_process_agency(*simulator);
    AgencyOutcome outcome =
        wait_outcome([&](domain::AgencyPort::Done done) { agency->pay(payment("tx-1"), done); });
    EXPECT_EQ(outcome.verdict, AgencyVerdict::unknown);
    auto balances = simulator->ledger();
    ASSERT_TRUE(balances.ok());
    ASSERT_EQ(balances->size(), 1U);
    EXPECT_EQ((*balances)[0].captured_count, 1);
}

TEST_F(SimulatorTest, InProcessBadInputIsRefusedAndNothingRecorded) {
    auto simulator = open();
    auto agency = make_in_process_agency(*simulator);
    auto bad = payment("tx-1");
    bad.amount.amount_minor = -5;
    EXPECT_EQ(wait_outcome([&](auto done) { agency->pay(bad, done); }).verdict,
              AgencyVerdict::declined);
    EXPECT_TRUE(simulator->ledger()->empty());
}

TEST_F(SimulatorTest, StoppedSimulatorAnswersUnknown) {
    auto simulator = open();
    auto agency = make_in_process_agency(*simulator);
    simulator->stop();
    EXPECT_EQ(wait_outcome([&](auto done) { agency->pay(payment("tx-1"), done); }).verdict,
              AgencyVerdict::unknown);
}

TEST(SimulatorValidation, RefusesBadIdsAmountsAndCurrencies) {
    EXPECT_TRUE(validate_payment(payment("tx-1")).ok());
    auto check = [](auto mutate) {
        auto candidate = payment("tx-1");
        mutate(candidate);
        return validate_payment(candidate).code();
    };
    EXPECT_EQ(check([](auto& p) { p.idempotency_key = ""; }), Errc::invalid_argument);
    EXPECT_EQ(check([](auto& p) { p.idempotency_key = std::string(129, 'k'); }),
              Errc::invalid_argument);
    EXPECT_EQ(check([](auto& p) { p.merchant_id = "m 1"; }), Errc::invalid_argument);
    EXPECT_EQ(check([](auto& p) { p.amount.amount_minor = 0; }), Errc::invalid_argument);
    EXPECT_EQ(check([](auto& p) { p.amount.amount_minor = amount_minor_max + 1; }),
              Errc::invalid_argument);
    EXPECT_EQ(check([](auto& p) { p.amount.currency = "XXX"; }), Errc::invalid_argument);
    EXPECT_EQ(Simulator::open({.data_dir = "/tmp/x", .decline_rate = 1.5}).status().code(),
              Errc::invalid_argument);
}

// The HTTP API refuses bad input with a problem body and records nothing.
class SimulatorHttpTest : public SimulatorTest {
protected:
    void SetUp() override {
        SimulatorTest::SetUp();
        simulator_ = open();
        auto server = serve_simulator(*simulator_, {.host = "127.0.0.1", .port = 0});
        ASSERT_TRUE(server.ok());
        server_ = std::move(*server);
        auto client =
            http::Client::open({.base_url = "http://127.0.0.1:" + std::to_string(server_->port())});
        ASSERT_TRUE(client.ok());
        client_ = std::move(*client);
    }
    void TearDown() override {
        client_.reset();
        simulator_->stop();
        server_.reset();
        simulator_.reset();
        SimulatorTest::TearDown();
    }

    http::Response call(std::string method,
                        std::string path,
                        std::string body,
                        http::Headers headers = {}) {
        auto response = client_->call({.method = std::move(method),
                                       .path = std::move(path),
                                       .headers = std::move(headers),
                                       .body = std::move(body)});
        EXPECT_TRUE(response.ok()) << response.status().to_string();
        return response.ok() ? *response : http::Response{};
    }

    std::unique_ptr<Simulator> simulator_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<http::Client> client_;
};

std::string pay_body(std::string_view amount_json) {
    return R"({"idempotency_key":"tx-1","merchant_id":"m-1","order_id":"o-1","amount":)" +
           std::string(amount_json) + "}";
}

TEST_F(SimulatorHttpTest, BadInputIsRefusedWithAProblemAndNothingRecorded) {
    struct Case {
        std::string body;
        int status;
    };
    std::vector<Case> cases{
        {"{not json", 400},
        {"[1,2]", 400},
        {R"({"merchant_id":"m-1"})", 400},
        {pay_body(R"({"value_minor":"12","currency":"JPY"})"), 400},
        {pay_body(R"({"value_minor":12.5,"currency":"JPY"})"), 400},
        {pay_body(R"({"value_minor":-12,"currency":"JPY"})"), 422},
        {pay_body(R"({"value_minor":0,"currency":"JPY"})"), 422},
        {pay_body(R"({"value_minor":12,"currency":"ABC"})"), 422},
        {pay_body(R"({"value_minor":18446744073709551615,"currency":"JPY"})"), 422},
    };
    for (const Case& c : cases) {
        http::Response response = call("POST", "/v1/payments", c.body);
        EXPECT_EQ(response.status, c.status) << c.body;
        EXPECT_EQ(response.header("Content-Type"), wire::problem_content_type) << c.body;
        auto problem = wire::parse_object(response.body);
        ASSERT_TRUE(problem.ok()) << response.body;
        EXPECT_EQ((*problem)["status"], c.status);
    }
    std::string good = pay_body(R"({"value_minor":12,"currency":"JPY"})");
    EXPECT_EQ(call("POST", "/v1/payments", good, {{"Idempotency-Key", "other"}}).status, 400);
    EXPECT_EQ(call("POST", "/v1/payments/tx-1/reversal",
                   R"({"idempotency_key":"tx-2","merchant_id":"m-1",)"
                   R"("amount":{"value_minor":12,"currency":"JPY"}})")
                  .status,
              400);
    EXPECT_EQ(call("GET", "/v1/payments", "").status, 405);
    EXPECT_EQ(call("GET", "/nowhere", "").status, 404);
    http::Response ledger = call("GET", "/ledger", "");
    EXPECT_EQ(ledger.status, 200);
    EXPECT_EQ(ledger.body, R"({"balances":[]})");
}

TEST_F(SimulatorHttpTest, LedgerAndHealthEndpoints) {
    EXPECT_EQ(call("GET", "/healthz", "").status, 200);
    std::string body = pay_body(R"({"value_minor":12,"currency":"JPY"})");
    http::Response paid = call("POST", "/v1/payments", body, {{"Idempotency-Key", "tx-1"}});
    ASSERT_EQ(paid.status, 200) << paid.body;
    auto ledger = wire::parse_object(call("GET", "/ledger", "").body);
    ASSERT_TRUE(ledger.ok());
    const auto& row = (*ledger)["balances"].at(0);
    EXPECT_EQ(row["merchant_id"], "m-1");
    EXPECT_EQ(row["currency"], "JPY");
    EXPECT_EQ(row["captured_minor"], 12);
    EXPECT_EQ(row["reversed_minor"], 0);
    EXPECT_EQ(row["net_minor"], 12);
    EXPECT_EQ(row["captured_count"], 1);
    EXPECT_EQ(row["reversed_count"], 0);
}

// Balances near 2^63 - 1 minor units: exact while they fit, refused (never clamped, never a
// bare SQLite error) once they do not. The rows are written straight into the simulator's
// ledger file: through pay() each payment is at most amount_minor_max (2^53 - 1).
PaymentRecord captured(std::string key, std::int64_t amount_minor) {
    return {.idempotency_key = std::move(key),
            .merchant_id = "m-big",
            .amount = {amount_minor, "JPY"},
            .order_id = "o",
            .status = PaymentStatus::captured,
            .reference = "r",
            .reason = "",
            .created_at = UnixMs{1}};
}

TEST_F(SimulatorHttpTest, LedgerBalanceBeyond64BitsIsAProblemWithACode) {
    auto ledger = Ledger::open((dir_ / "agency-ledger.sqlite3").string());
    ASSERT_TRUE(ledger.ok()) << ledger.status().to_string();
    ASSERT_TRUE((*ledger)->insert(captured("k-1", INT64_MAX - 1)).ok());
    ASSERT_TRUE((*ledger)->insert(captured("k-2", 1)).ok());
    auto balances = (*ledger)->balances();
    ASSERT_TRUE(balances.ok()) << balances.status().to_string();
    ASSERT_EQ(balances->size(), 1U);
    EXPECT_EQ((*balances)[0].captured_minor, INT64_MAX) << "exact up to the last value";
    EXPECT_EQ((*balances)[0].net_minor, INT64_MAX);
    auto fits = wire::parse_object(call("GET", "/ledger", "").body);
    ASSERT_TRUE(fits.ok());
    EXPECT_EQ((*fits)["balances"].at(0)["captured_minor"], INT64_MAX);

    ASSERT_TRUE((*ledger)->insert(captured("k-3", 1)).ok());
    auto refused = (*ledger)->balances();
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Errc::invalid_argument);
    EXPECT_NE(refused.status().message().find("amount overflow"), std::string::npos);
    http::Response response = call("GET", "/ledger", "");
    EXPECT_EQ(response.status, 422) << response.body;
    EXPECT_EQ(response.header("Content-Type"), wire::problem_content_type);
    auto problem = wire::parse_object(response.body);
    ASSERT_TRUE(problem.ok()) << response.body;
    EXPECT_EQ((*problem)["code"], "amount_overflow");
    EXPECT_EQ((*problem)["status"], 422);
}

// A port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port() {
    auto probe = http::Server::start(
        {.host = "127.0.0.1", .port = 0},
        [](http::Request, http::Responder responder) { responder(http::Response::text(200, "")); });
    EXPECT_TRUE(probe.ok());
    return probe.ok() ? (*probe)->port() : 0;
}

TEST_F(SimulatorTest, RunAgencySimServesUntilSigterm) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigset_t previous;
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);  // threads started below inherit it

    std::uint16_t port = free_port();
    std::promise<Status> result;
    std::thread runner([&] {
        result.set_value(
            run_agency_sim({.data_dir = dir_.string()}, "127.0.0.1:" + std::to_string(port)));
    });
    auto client = http::Client::open({.base_url = "http://127.0.0.1:" + std::to_string(port)});
    ASSERT_TRUE(client.ok());
    bool ready = false;
    for (int attempt = 0; attempt < 200 && !ready; ++attempt) {  // readiness, under a bound
        auto health = (*client)->call({.path = "/healthz"});
        ready = health.ok() && health->status == 200;
        if (!ready) {
            std::this_thread::sleep_for(50ms);
        }
    }
    EXPECT_TRUE(ready);
    ::kill(::getpid(), SIGTERM);
    auto future = result.get_future();
    ASSERT_EQ(future.wait_for(wait_max), std::future_status::ready);
    EXPECT_TRUE(future.get().ok());
    runner.join();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

}  // namespace
}  // namespace qrpay::agency_sim
