// End to end through real HTTP: a real `qrpay serve` and a real `qrpay agency-sim` process.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "tests/integration/api_client.h"

namespace qrpay::harness {
namespace {

// One agency simulator and one server, with their own directories.
class Stack {
public:
    Stack(AgencySimFlags agency_flags, std::vector<std::string> serve_flags)
        : agency_(dir_.path() + "/agency", agency_flags) {
        serve_flags.push_back("--agency-url");
        serve_flags.push_back(agency_.url());
        server_ = std::make_unique<Server>(dir_.path() + "/serve", serve_flags);
        server_->start();
        client_ = client_for(server_->port(), std::chrono::seconds(20), 64);
        consumer_ = server_->token("consumer", "consumer-a");
        merchant_ = server_->token("merchant", "merchant-a");
        other_merchant_ = server_->token("merchant", "merchant-b");
    }

    ApiResponse call(const std::string& method,
                     const std::string& path,
                     const std::string& token,
                     const std::string& body = "",
                     const std::string& key = "") {
        return call_api(*client_, method, path, token, body, key);
    }
    ApiResponse new_code() {
        auto created = call("POST", "/v1/payment-codes", consumer_);
        EXPECT_EQ(created.status, 201) << created.raw;
        return created;
    }
    nlohmann::json ledger() {
        auto client = client_for(agency_.port());
        auto response = call_api(*client, "GET", "/ledger", "");
        EXPECT_EQ(response.status, 200);
        return response.body;
    }
    Server& server() { return *server_; }
    const std::string& consumer() const { return consumer_; }
    const std::string& merchant() const { return merchant_; }
    const std::string& other_merchant() const { return other_merchant_; }

private:
    TempDir dir_;
    AgencySim agency_;
    std::unique_ptr<Server> server_;
    std::unique_ptr<http::Client> client_;
    std::string consumer_;
    std::string merchant_;
    std::string other_merchant_;
};

class PaymentFlow : public ::testing::Test {
protected:
    static void SetUpTestSuite() { stack_ = new Stack({}, {}); }
    static void TearDownTestSuite() {
        delete stack_;
        stack_ = nullptr;
    }
    static Stack* stack_;
};
Stack* PaymentFlow::stack_ = nullptr;

TEST_F(PaymentFlow, PaymentCompletesAndBothPartiesSeeIt) {
    auto code = stack_->new_code();
    std::string id = code.body["transaction_id"];
    EXPECT_EQ(code.body["code"].get<std::string>().size(), 20U);
    EXPECT_EQ(code.body["qr_svg"], "/v1/transactions/" + id + "/qr.svg");
    auto paid = stack_->call("POST", "/v1/payments", stack_->merchant(),
                             pay_body(code.body["code"], 1200, "order-1"), "key-pay-1");
    ASSERT_EQ(paid.status, 200) << paid.raw;
    EXPECT_EQ(paid.body["status"], "completed");
    EXPECT_EQ(paid.body["amount"]["value"], 1200);
    EXPECT_EQ(paid.body["amount"]["currency"], "JPY");
    EXPECT_EQ(paid.body["merchant_id"], "merchant-a");
    EXPECT_EQ(paid.body["order_id"], "order-1");
    for (const auto& token : {stack_->consumer(), stack_->merchant()}) {
        auto seen = stack_->call("GET", "/v1/transactions/" + id, token);
        ASSERT_EQ(seen.status, 200) << seen.raw;
        EXPECT_EQ(seen.body["status"], "completed");
        EXPECT_EQ(seen.body["consumer_id"], "consumer-a");
    }
}

TEST_F(PaymentFlow, QrImagesDecodeToTheCode) {
    auto code = stack_->new_code();
    std::string id = code.body["transaction_id"];
    auto svg = stack_->call("GET", "/v1/transactions/" + id + "/qr.svg", stack_->consumer());
    ASSERT_EQ(svg.status, 200);
    EXPECT_EQ(svg.content_type, "image/svg+xml");
    auto png = stack_->call("GET", "/v1/transactions/" + id + "/qr.png", stack_->consumer());
    ASSERT_EQ(png.status, 200);
    EXPECT_EQ(png.content_type, "image/png");
    TempDir dir;
    std::ofstream(dir.path() + "/qr.png", std::ios::binary) << png.raw;
    std::string decoded = run_and_capture("zbarimg --quiet --raw " + dir.path() + "/qr.png");
    EXPECT_EQ(decoded, code.body["code"].get<std::string>());
    // The merchant may not fetch the consumer's QR.
    EXPECT_EQ(stack_->call("GET", "/v1/transactions/" + id + "/qr.png", stack_->merchant()).status,
              404);
}

TEST_F(PaymentFlow, CancellationReversesThePayment) {
    auto code = stack_->new_code();
    std::string id = code.body["transaction_id"];
    ASSERT_EQ(stack_
                  ->call("POST", "/v1/payments", stack_->merchant(),
                         pay_body(code.body["code"], 500), "key-pay-2")
                  .status,
              200);
    auto cancelled =
        stack_->call("POST", "/v1/transactions/" + id + "/cancel", stack_->merchant(), "", "c-2");
    ASSERT_EQ(cancelled.status, 200) << cancelled.raw;
    EXPECT_EQ(cancelled.body["status"], "cancelled");
    auto again =
        stack_->call("POST", "/v1/transactions/" + id + "/cancel", stack_->merchant(), "", "c-3");
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(again.body["code"], "not_cancellable");
    EXPECT_EQ(again.content_type, "application/problem+json");
}

TEST_F(PaymentFlow, SecondReadOfACodeIsAConflict) {
    auto code = stack_->new_code();
    ASSERT_EQ(
        stack_->call("POST", "/v1/payments", stack_->merchant(), pay_body(code.body["code"], 100))
            .status,
        200);
    auto second = stack_->call("POST", "/v1/payments", stack_->other_merchant(),
                               pay_body(code.body["code"], 100));
    EXPECT_EQ(second.status, 409);
    EXPECT_EQ(second.body["code"], "code_already_read");
}

TEST_F(PaymentFlow, FiftyConcurrentPaysOfOneCodeHaveOneWinner) {
    auto code = stack_->new_code();
    std::string body = pay_body(code.body["code"], 700);
    std::atomic<int> won{0};
    std::atomic<int> conflicts{0};
    std::atomic<int> other{0};
    std::vector<std::thread> merchants;
    for (int i = 0; i < 50; ++i) {
        merchants.emplace_back([&, i] {
            auto client = client_for(stack_->server().port());
            std::string token = stack_->server().token("merchant", "m-" + std::to_string(i));
            auto paid = call_api(*client, "POST", "/v1/payments", token, body);
            if (paid.status == 200 || paid.status == 202) {
                ++won;
            } else if (paid.status == 409) {
                ++conflicts;
            } else {
                ++other;
            }
        });
    }
    for (auto& merchant : merchants) {
        merchant.join();
    }
    EXPECT_EQ(won.load(), 1);
    EXPECT_EQ(conflicts.load(), 49);
    EXPECT_EQ(other.load(), 0);
}

TEST_F(PaymentFlow, IdempotentRetryReturnsTheSameTransaction) {
    auto code = stack_->new_code();
    std::string body = pay_body(code.body["code"], 300, "o-3");
    auto first = stack_->call("POST", "/v1/payments", stack_->merchant(), body, "same-key");
    auto second = stack_->call("POST", "/v1/payments", stack_->merchant(), body, "same-key");
    ASSERT_EQ(first.status, 200) << first.raw;
    ASSERT_EQ(second.status, 200) << second.raw;
    EXPECT_EQ(first.body["transaction_id"], second.body["transaction_id"]);
    auto different = stack_->call("POST", "/v1/payments", stack_->merchant(),
                                  pay_body(code.body["code"], 301, "o-3"), "same-key");
    EXPECT_EQ(different.status, 422);
    EXPECT_EQ(different.body["code"], "idempotency_key_reused");
    // Keys are scoped per merchant: another merchant's same key is its own request.
    auto other = stack_->call("POST", "/v1/payments", stack_->other_merchant(), body, "same-key");
    EXPECT_EQ(other.status, 409);
    EXPECT_EQ(other.body["code"], "code_already_read");
}

TEST_F(PaymentFlow, ProblemForAFailedRequestIsReplayedToo) {
    std::string body = pay_body("00000000000000000000", 300);
    auto first = stack_->call("POST", "/v1/payments", stack_->merchant(), body, "missing-code");
    auto second = stack_->call("POST", "/v1/payments", stack_->merchant(), body, "missing-code");
    EXPECT_EQ(first.status, 404);
    EXPECT_EQ(second.status, 404);
    EXPECT_EQ(first.body["code"], "code_not_found");
    EXPECT_EQ(second.body, first.body);
}

TEST_F(PaymentFlow, AnotherMerchantCannotSeeOrCancel) {
    auto code = stack_->new_code();
    std::string id = code.body["transaction_id"];
    ASSERT_EQ(
        stack_->call("POST", "/v1/payments", stack_->merchant(), pay_body(code.body["code"], 900))
            .status,
        200);
    auto seen = stack_->call("GET", "/v1/transactions/" + id, stack_->other_merchant());
    EXPECT_EQ(seen.status, 404);
    auto cancelled =
        stack_->call("POST", "/v1/transactions/" + id + "/cancel", stack_->other_merchant());
    EXPECT_EQ(cancelled.status, 404);
    auto still = stack_->call("GET", "/v1/transactions/" + id, stack_->merchant());
    EXPECT_EQ(still.body["status"], "completed");
    auto other_consumer = stack_->server().token("consumer", "consumer-z");
    EXPECT_EQ(stack_->call("GET", "/v1/transactions/" + id, other_consumer).status, 404);
}

TEST_F(PaymentFlow, LongPollAnswersWhenTheVersionMoves) {
    auto code = stack_->new_code();
    std::string id = code.body["transaction_id"];
    auto before = stack_->call("GET", "/v1/transactions/" + id, stack_->consumer());
    ASSERT_EQ(before.status, 200);
    std::uint64_t version = before.body["version"];
    std::thread merchant([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        stack_->call("POST", "/v1/payments", stack_->merchant(), pay_body(code.body["code"], 50));
    });
    auto after = stack_->call(
        "GET", "/v1/transactions/" + id + "?wait=20&after_version=" + std::to_string(version),
        stack_->consumer());
    merchant.join();
    ASSERT_EQ(after.status, 200) << after.raw;
    EXPECT_GT(after.body["version"].get<std::uint64_t>(), version);
}

struct BadCall {
    std::string name;
    std::string method;
    std::string path;
    std::string token_kind;  // consumer, merchant, none, garbage, expired
    std::string body;
    int status;
    std::string code;
};

TEST_F(PaymentFlow, BadInputGetsItsProblemAndChangesNothing) {
    auto code = stack_->new_code();
    std::string valid_code = code.body["code"];
    std::string id = code.body["transaction_id"];
    std::string expired =
        run_and_capture(qrpay_binary() + " token issue --data-dir " + stack_->server().data_dir() +
                        " --role merchant --sub m-x --ttl 0s");
    const std::string c = R"("code":")" + valid_code + R"(")";
    std::vector<BadCall> table = {
        {"no token", "POST", "/v1/payments", "none", pay_body(valid_code, 1), 401, "unauthorized"},
        {"garbage token", "POST", "/v1/payments", "garbage", pay_body(valid_code, 1), 401,
         "unauthorized"},
        {"expired token", "POST", "/v1/payments", "expired", pay_body(valid_code, 1), 401,
         "unauthorized"},
        {"consumer pays", "POST", "/v1/payments", "consumer", pay_body(valid_code, 1), 403,
         "forbidden"},
        {"merchant makes code", "POST", "/v1/payment-codes", "merchant", "", 403, "forbidden"},
        {"malformed json", "POST", "/v1/payments", "merchant", "{\"code\":", 400, "malformed_json"},
        {"wrong type", "POST", "/v1/payments", "merchant", "{" + c + R"(,"amount":{"value":"12"}})",
         422, "invalid_amount"},
        {"unknown field", "POST", "/v1/payments", "merchant",
         "{" + c + R"(,"amount":{"value":12},"tip":1})", 422, "unknown_field"},
        {"missing amount", "POST", "/v1/payments", "merchant", "{" + c + "}", 422, "missing_field"},
        {"zero amount", "POST", "/v1/payments", "merchant", pay_body(valid_code, 0), 422,
         "invalid_amount"},
        {"negative amount", "POST", "/v1/payments", "merchant", pay_body(valid_code, -3), 422,
         "invalid_amount"},
        {"overflowing amount", "POST", "/v1/payments", "merchant",
         "{" + c + R"(,"amount":{"value":92233720368547758070}})", 422, "invalid_amount"},
        {"unknown currency", "POST", "/v1/payments", "merchant",
         "{" + c + R"(,"amount":{"value":12,"currency":"ABC"}})", 422, "unknown_currency"},
        {"oversized body", "POST", "/v1/payments", "merchant",
         "{" + c + R"(,"order_id":")" + std::string(100'000, 'x') + "\"}", 413, ""},
        {"unknown code", "POST", "/v1/payments", "merchant", pay_body("11111111111111111111", 5),
         404, "code_not_found"},
        {"body on code create", "POST", "/v1/payment-codes", "consumer", R"({"x":1})", 422,
         "unknown_field"},
        {"bad wait", "GET", "/v1/transactions/" + id + "?wait=abc", "consumer", "", 422,
         "invalid_query"},
        {"too long wait", "GET", "/v1/transactions/" + id + "?wait=31", "consumer", "", 422,
         "invalid_query"},
        {"malformed id", "GET", "/v1/transactions/nope", "consumer", "", 404,
         "transaction_not_found"},
        {"unknown id", "GET", "/v1/transactions/tx_00000000000000000000000000000000", "consumer",
         "", 404, "transaction_not_found"},
        {"wrong method", "GET", "/v1/payments", "merchant", "", 405, "method_not_allowed"},
    };
    for (const auto& bad : table) {
        std::string token = bad.token_kind == "consumer"   ? stack_->consumer()
                            : bad.token_kind == "merchant" ? stack_->merchant()
                            : bad.token_kind == "garbage"  ? "abc.def.ghi"
                            : bad.token_kind == "expired"  ? expired
                                                           : "";
        auto response = stack_->call(bad.method, bad.path, token, bad.body);
        EXPECT_EQ(response.status, bad.status) << bad.name << ": " << response.raw;
        if (!bad.code.empty()) {
            EXPECT_EQ(response.body["code"], bad.code) << bad.name;
            EXPECT_EQ(response.content_type, "application/problem+json") << bad.name;
        }
    }
    // Nothing changed: the code is still waiting and still payable.
    auto state = stack_->call("GET", "/v1/transactions/" + id, stack_->consumer());
    EXPECT_EQ(state.body["status"], "waiting_for_read_token");
    EXPECT_EQ(state.body["version"], 1);
    auto paid = stack_->call("POST", "/v1/payments", stack_->merchant(), pay_body(valid_code, 10));
    EXPECT_EQ(paid.status, 200) << paid.raw;
}

TEST_F(PaymentFlow, AdminListenerReportsHealthReadinessAndMetrics) {
    auto admin = client_for(stack_->server().admin_port());
    EXPECT_EQ(call_api(*admin, "GET", "/healthz", "").status, 200);
    EXPECT_EQ(call_api(*admin, "GET", "/readyz", "").status, 200);
    auto metrics = call_api(*admin, "GET", "/metrics", "");
    ASSERT_EQ(metrics.status, 200);
    for (const char* family :
         {"qrpay_entities_active{entity_type=\"transaction\"}",
          "qrpay_events_persisted_total{entity_type=\"token\"}", "qrpay_journal_commits_total"}) {
        EXPECT_NE(metrics.raw.find(family), std::string::npos) << family;
    }
    // The API is not served on the admin port.
    EXPECT_EQ(call_api(*admin, "POST", "/v1/payment-codes", stack_->consumer()).status, 405);
}

TEST(PaymentFlowDeclined, DeclineIsRecordedAsFailed) {
    Stack stack({.decline_rate = 1.0}, {});
    auto code = stack.new_code();
    auto paid =
        stack.call("POST", "/v1/payments", stack.merchant(), pay_body(code.body["code"], 1000));
    ASSERT_EQ(paid.status, 200) << paid.raw;
    EXPECT_EQ(paid.body["status"], "failed");
    EXPECT_FALSE(paid.body["failure_reason"].is_null());
}

TEST(PaymentFlowExpiry, UnreadCodeExpiresAndCannotBePaid) {
    Stack stack({}, {"--code-ttl", "1s"});
    auto code = stack.new_code();
    std::string id = code.body["transaction_id"];
    auto expired =
        stack.call("GET", "/v1/transactions/" + id + "?wait=10&after_version=1", stack.consumer());
    ASSERT_EQ(expired.status, 200) << expired.raw;
    EXPECT_EQ(expired.body["status"], "expired");
    auto paid =
        stack.call("POST", "/v1/payments", stack.merchant(), pay_body(code.body["code"], 10));
    EXPECT_EQ(paid.status, 404);
}

TEST(PaymentFlowInFlight, SameKeyWhileTheFirstIsInFlightIsAConflict) {
    Stack stack({.latency_ms = 1500}, {});
    auto code = stack.new_code();
    std::string body = pay_body(code.body["code"], 10);
    ApiResponse first;
    std::thread merchant(
        [&] { first = stack.call("POST", "/v1/payments", stack.merchant(), body, "slow-key"); });
    // The agency answers after 1.5 s: by then the first request holds the key.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto second = stack.call("POST", "/v1/payments", stack.merchant(), body, "slow-key");
    merchant.join();
    EXPECT_EQ(first.status, 200) << first.raw;
    EXPECT_EQ(second.status, 409) << second.raw;
    EXPECT_EQ(second.body["code"], "idempotency_key_in_flight");
}

TEST(PaymentFlowRestart, IdempotentReplaySurvivesARestart) {
    Stack stack({}, {});
    auto code = stack.new_code();
    std::string body = pay_body(code.body["code"], 42);
    auto first = stack.call("POST", "/v1/payments", stack.merchant(), body, "durable-key");
    ASSERT_EQ(first.status, 200);
    ASSERT_EQ(stack.server().terminate(), 0);
    stack.server().start();
    auto client = client_for(stack.server().port());
    auto replay = call_api(*client, "POST", "/v1/payments", stack.merchant(), body, "durable-key");
    EXPECT_EQ(replay.status, 200) << replay.raw;
    EXPECT_EQ(replay.body["transaction_id"], first.body["transaction_id"]);
    EXPECT_EQ(replay.body["status"], "completed");
}

}  // namespace
}  // namespace qrpay::harness
