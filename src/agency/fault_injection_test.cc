// The agency fault points over the real in-process simulator: a lost answer leaves the
// payment made at the agency (an inquiry finds it), a failed call leaves nothing there.
#include "agency/fault_injection.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "agency/agency_test_support.h"
#include "agency_sim/in_process_agency.h"
#include "agency_sim/simulator.h"
#include "base/random.h"

namespace qrpay::agency {
namespace {

using domain::AgencyVerdict;
using test_support::wait_outcome;

domain::AgencyPayment payment(std::string key) {
    return {.idempotency_key = std::move(key),
            .merchant_id = "m-1",
            .amount = {500, "JPY"},
            .order_id = "o-1"};
}

class AgencyFaultTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("qrpay-agency-fault-test-" + SecureRandom().hex(8));
        auto simulator = agency_sim::Simulator::open({.data_dir = dir_.string()});
        ASSERT_TRUE(simulator.ok()) << simulator.status().to_string();
        simulator_ = std::move(*simulator);
    }
    void TearDown() override {
        simulator_.reset();
        std::filesystem::remove_all(dir_);
    }
    FaultInjectingAgency faulty(std::string_view spec) {
        return FaultInjectingAgency(agency_sim::make_in_process_agency(*simulator_),
                                    parse_agency_faults(spec).value());
    }

    std::filesystem::path dir_;
    std::unique_ptr<agency_sim::Simulator> simulator_;
};

TEST(AgencyFaultSpec, ParsesAndRefuses) {
    auto rules = parse_agency_faults("lose_answer@pay*2,fail_call@reverse*1");
    ASSERT_TRUE(rules.ok()) << rules.status().to_string();
    ASSERT_EQ(rules->size(), 2U);
    EXPECT_EQ((*rules)[0].fault, AgencyFault::lose_answer);
    EXPECT_EQ((*rules)[0].operation, AgencyOperation::pay);
    EXPECT_EQ((*rules)[1].count, 1U);
    EXPECT_TRUE(parse_agency_faults("").value().empty());
    for (const char* bad : {"lose_answer", "lose_answer@pay", "lose_answer@charge*1",
                            "explode@pay*1", "fail_call@pay*0", "fail_call@pay*x"}) {
        EXPECT_EQ(parse_agency_faults(bad).status().code(), Errc::invalid_argument) << bad;
    }
}

TEST_F(AgencyFaultTest, ALostAnswerIsUnknownButThePaymentWasMade) {
    auto agency = faulty("lose_answer@pay*1");
    auto paid = wait_outcome([&](auto done) { agency.pay(payment("tx-1"), done); });
    EXPECT_EQ(paid.verdict, AgencyVerdict::unknown);
    auto asked = wait_outcome([&](auto done) { agency.inquire("tx-1", done); });
    EXPECT_EQ(asked.verdict, AgencyVerdict::approved);
}

TEST_F(AgencyFaultTest, AFailedCallIsUnknownAndNothingWasMade) {
    auto agency = faulty("fail_call@pay*1");
    auto paid = wait_outcome([&](auto done) { agency.pay(payment("tx-2"), done); });
    EXPECT_EQ(paid.verdict, AgencyVerdict::unknown);
    auto asked = wait_outcome([&](auto done) { agency.inquire("tx-2", done); });
    EXPECT_EQ(asked.verdict, AgencyVerdict::not_found);
    auto again = wait_outcome([&](auto done) { agency.pay(payment("tx-2"), done); });
    EXPECT_EQ(again.verdict, AgencyVerdict::approved);  // used up: calls go through again
}

}  // namespace
}  // namespace qrpay::agency
