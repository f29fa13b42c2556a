// The flows across Token and Transaction on the real runtime and the in-memory journal, with
// an agency that approves at once.
#include "domain/payment_flows.h"

#include <gtest/gtest.h>

#include <cstring>
#include <future>

namespace qrpay::domain {
namespace {

class ApprovingAgency final : public AgencyPort {
public:
    void pay(const AgencyPayment& payment, Done done) override {
        done({AgencyVerdict::approved, "ref-" + payment.idempotency_key, ""});
    }
    void inquire(const std::string& key, Done done) override {
        done({AgencyVerdict::approved, "ref-" + key, ""});
    }
    void reverse(const AgencyReversal& /*reversal*/, Done done) override {
        done({AgencyVerdict::approved, "", ""});
    }
};

// Draws the same code every time (digits come one byte at a time) but fresh transaction ids
// (16 bytes at a time), so that a second issue_code finds its code held by another transaction.
// Every draw gives the same bytes, so every code is the same: the second code finds the
// first one's token in use however often it is drawn again.
class FixedCodeRandom final : public RandomSource {
public:
    void fill(void* out, std::size_t size) override { std::memset(out, 7, size); }
};

class PaymentFlowsTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(runtime_.start().ok()); }
    void TearDown() override { runtime_.stop(); }

    Result<TransactionView> wait(std::function<void(PaymentFlows::ViewCallback)> start) {
        std::promise<Result<TransactionView>> promise;
        start([&promise](Result<TransactionView> view) { promise.set_value(std::move(view)); });
        return promise.get_future().get();
    }

    std::unique_ptr<journal::Journal> journal_ = journal::make_memory_journal();
    SystemClock clock_;
    runtime::Runtime runtime_{*journal_, clock_, {.shard_count = 8}};
    ApprovingAgency agency_;
    Token token_;
    Transaction transaction_{agency_};
    runtime::EntityHost<Token> tokens_{runtime_, token_};
    runtime::EntityHost<Transaction> transactions_{runtime_, transaction_};
    SecureRandom random_;
};

TEST_F(PaymentFlowsTest, IssuesACodeThatAMerchantPays) {
    PaymentFlows flows(tokens_, transactions_, random_, clock_, {});
    auto issued = wait([&](auto done) { flows.issue_code(ConsumerId{"c1"}, done); });
    ASSERT_TRUE(issued.ok()) << issued.status().to_string();
    EXPECT_TRUE(is_well_formed_transaction_id(issued->transaction_id.value));
    EXPECT_EQ(issued->state.phase, TransactionPhase::waiting_for_read_token);
    const std::string code = issued->state.code.reveal();
    auto paid = wait([&](auto done) {
        flows.pay(MerchantId{"m1"}, code, Money{500, "JPY"}, "o1", {"key-1", "hash-1"}, done);
    });
    ASSERT_TRUE(paid.ok()) << paid.status().to_string();
    EXPECT_EQ(paid->transaction_id, issued->transaction_id);
    auto second = wait([&](auto done) {
        flows.pay(MerchantId{"m2"}, code, Money{500, "JPY"}, "", {}, done);
    });
    EXPECT_EQ(second.status().code(), Errc::conflict);
}

TEST_F(PaymentFlowsTest, UnknownOrMalformedCodeIsNotFound) {
    PaymentFlows flows(tokens_, transactions_, random_, clock_, {});
    for (const char* code : {"12345678901234567890", "123", "abcdefghijabcdefghij"}) {
        auto paid = wait([&](auto done) {
            flows.pay(MerchantId{"m1"}, code, Money{1, "JPY"}, "", {}, done);
        });
        EXPECT_EQ(paid.status().code(), Errc::not_found) << code;
    }
}

TEST_F(PaymentFlowsTest, GivesUpAfterDrawingOnlyCodesInUse) {
    FixedCodeRandom fixed;
    PaymentFlows flows(tokens_, transactions_, fixed, clock_, {.code_draws_max = 3});
    auto first = wait([&](auto done) { flows.issue_code(ConsumerId{"c1"}, done); });
    ASSERT_TRUE(first.ok());
    auto second = wait([&](auto done) { flows.issue_code(ConsumerId{"c2"}, done); });
    EXPECT_EQ(second.status().code(), Errc::conflict);
}

TEST(TransactionIdFormat, AcceptsOnlyIssuedShape) {
    EXPECT_TRUE(is_well_formed_transaction_id("tx_0123456789abcdef0123456789abcdef"));
    EXPECT_FALSE(is_well_formed_transaction_id("tx_0123456789ABCDEF0123456789abcdef"));
    EXPECT_FALSE(is_well_formed_transaction_id("tx_0123"));
    EXPECT_FALSE(is_well_formed_transaction_id("ab_0123456789abcdef0123456789abcdef"));
}

}  // namespace
}  // namespace qrpay::domain
