// Crash: under a steady stream of payments (and some cancellations), kill -9 the server and
// restart it, against an agency that times out and fails with 5xx now and then. Afterwards:
// every payment whose response said completed is still completed (or cancelled, when we asked),
// every transaction reaches a final state, and the agency's ledger net equals completed minus
// cancelled as the server reports them (DESIGN §5.3, §5.4, §5.5).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/integration/api_client.h"
#include "tests/integration/payment_load.h"

namespace qrpay::harness {
namespace {

TEST(Crash, KillNineUnderLoadLosesNoPaymentAndConservesMoney) {
    TempDir dir;
    AgencySim agency(dir.path() + "/agency",
                     {.error_5xx_rate = 0.1, .timeout_rate = 0.1, .latency_ms = 2});
    Server server(dir.path() + "/serve",
                  {"--agency-url", agency.url(), "--agency-timeout", "500ms", "--code-ttl", "3s"});
    server.start();
    std::string consumer = server.token("consumer", "consumer-crash");
    std::string merchant = server.token("merchant", "merchant-crash");

    Load load(server.port(), consumer, merchant, {.server_killed = true});
    load.run(4);
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (load.completed_answers() < 40 && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    server.kill_hard();
    load.stop();
    ASSERT_GE(load.completed_answers(), 40) << server.process().log_tail();
    server.start();

    check_every_payment_ends(load, server.port(), agency.port(), consumer, merchant,
                             "merchant-crash");
}

}  // namespace
}  // namespace qrpay::harness
