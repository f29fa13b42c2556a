// Hardening (issue 10), end to end through a real `qrpay serve` with its built-in agency:
// failed writes that must not leave a payment stuck, Idempotency-Key scopes and claims, limits
// that compose, input the agency would refuse, per-consumer code limits, storage errors as
// problems, and secrets that never reach the log.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "base/testing/eventually.h"
#include "tests/integration/api_client.h"

namespace qrpay::harness {
namespace {

using qrpay::testing::eventually;

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// One server (built-in agency) in its own directory, with the flags a test gives it.
class Node {
public:
    explicit Node(std::vector<std::string> flags) : server_(dir_.path() + "/serve", flags) {
        server_.start();
        client_ = client_for(server_.port(), std::chrono::seconds(20), 16);
        consumer_ = server_.token("consumer", "hardening-consumer");
        merchant_ = server_.token("merchant", "hardening-merchant");
    }

    ApiResponse call(const std::string& method,
                     const std::string& path,
                     const std::string& token,
                     const std::string& body = "",
                     const std::string& key = "") {
        return call_api(*client_, method, path, token, body, key);
    }
    ApiResponse admin(const std::string& path) {
        auto admin = client_for(server_.admin_port());
        return call_api(*admin, "GET", path, "");
    }
    ApiResponse new_code(const std::string& consumer) {
        auto created = call("POST", "/v1/payment-codes", consumer);
        EXPECT_EQ(created.status, 201) << created.raw;
        return created;
    }
    std::string status_of(const std::string& id) {
        auto seen = call("GET", "/v1/transactions/" + id, consumer_);
        return seen.status == 200 ? seen.body["status"].get<std::string>() : seen.raw;
    }
    std::string log() { return file_text(server_.process().log_path()); }

    Server& server() { return server_; }
    const std::string& consumer() const { return consumer_; }
    const std::string& merchant() const { return merchant_; }

private:
    TempDir dir_;
    Server server_;
    std::unique_ptr<http::Client> client_;
    std::string consumer_;
    std::string merchant_;
};

// ---- 1. a failed write never leaves a payment unfinished until a restart
// The agency deadline is 10 minutes away in these tests, so only the resume after the failed
// write (not a deadline, not a restart) can finish the payment while the test looks.

TEST(FailedWrites, APaymentWhoseCompletionFailedToWriteCompletesWithoutARestart) {
    Node node({"--journal-fault", "fail_append@PaymentCompleted*2", "--agency-timeout", "10m"});
    auto code = node.new_code(node.consumer());
    std::string id = code.body["transaction_id"];
    auto paid = node.call("POST", "/v1/payments", node.merchant(), pay_body(code.body["code"], 900),
                          "resume-pay");
    ASSERT_TRUE(paid.status == 200 || paid.status == 202) << paid.raw;
    ASSERT_TRUE(eventually([&] { return node.status_of(id) == "completed"; }))
        << node.status_of(id);
    auto again = node.call("POST", "/v1/payments", node.merchant(),
                           pay_body(code.body["code"], 900), "resume-pay");
    EXPECT_EQ(again.status, 200) << again.raw;
    EXPECT_EQ(again.body["status"], "completed");
    EXPECT_NE(node.admin("/metrics").raw.find("qrpay_entity_resumes_total"), std::string::npos);
}

TEST(FailedWrites, ACancellationWhoseCompletionFailedToWriteCompletesWithoutARestart) {
    Node node(
        {"--journal-fault", "fail_append@CancellationCompleted*1", "--agency-timeout", "10m"});
    auto code = node.new_code(node.consumer());
    std::string id = code.body["transaction_id"];
    ASSERT_EQ(
        node.call("POST", "/v1/payments", node.merchant(), pay_body(code.body["code"], 500)).status,
        200);
    node.call("POST", "/v1/transactions/" + id + "/cancel", node.merchant());
    ASSERT_TRUE(eventually([&] { return node.status_of(id) == "cancelled"; }))
        << node.status_of(id);
}

TEST(FailedWrites, ALostCommitAnswerIsResolvedFromTheJournal) {
    Node node(
        {"--journal-fault", "lose_commit_answer@PaymentCompleted*1", "--agency-timeout", "10m"});
    auto code = node.new_code(node.consumer());
    std::string id = code.body["transaction_id"];
    node.call("POST", "/v1/payments", node.merchant(), pay_body(code.body["code"], 700));
    ASSERT_TRUE(eventually([&] { return node.status_of(id) == "completed"; }))
        << node.status_of(id);
}

// A lost agency answer is never guessed: the transaction asks again and the agency's ledger
// holds exactly what qrpay recorded.
TEST(AgencyFaults, LostAnswersAndFailedCallsEndInTheAgencysOutcome) {
    TempDir dir;
    AgencySim agency(dir.path() + "/agency", {});
    Server server(dir.path() + "/serve",
                  {"--agency-url", agency.url(), "--agency-timeout", "200ms", "--agency-fault",
                   "lose_answer@pay*1,fail_call@inquire*1,lose_answer@reverse*1"});
    server.start();
    auto client = client_for(server.port(), std::chrono::seconds(20), 4);
    std::string consumer = server.token("consumer", "agency-fault-consumer");
    std::string merchant = server.token("merchant", "agency-fault-merchant");
    auto status_of = [&](const std::string& id) {
        auto seen = call_api(*client, "GET", "/v1/transactions/" + id, consumer);
        return seen.status == 200 ? seen.body["status"].get<std::string>() : seen.raw;
    };
    auto kept = call_api(*client, "POST", "/v1/payment-codes", consumer);
    auto cancelled = call_api(*client, "POST", "/v1/payment-codes", consumer);
    std::string kept_id = kept.body["transaction_id"];
    std::string cancelled_id = cancelled.body["transaction_id"];
    call_api(*client, "POST", "/v1/payments", merchant, pay_body(kept.body["code"], 1'000));
    call_api(*client, "POST", "/v1/payments", merchant, pay_body(cancelled.body["code"], 300));
    ASSERT_TRUE(eventually([&] {
        return status_of(kept_id) == "completed" && status_of(cancelled_id) == "completed";
    }));
    call_api(*client, "POST", "/v1/transactions/" + cancelled_id + "/cancel", merchant);
    ASSERT_TRUE(eventually([&] { return status_of(cancelled_id) == "cancelled"; }));
    EXPECT_EQ(agency_net_minor(agency.port(), "agency-fault-merchant"), 1'000);
}

// ---- 5. a key is never "in flight" beyond the request that held it

// The key is taken with the read; the payment's last write fails, the entity resumes by itself,
// and a retry under the key answers that payment, never a new one.
TEST(IdempotencyKeys, ARetryAfterTheOutcomeFailedToWriteGetsThePaymentsAnswer) {
    Node node({"--journal-fault", "fail_append@PaymentCompleted*1"});
    auto code = node.new_code(node.consumer());
    auto body = pay_body(code.body["code"], 300);
    auto first = node.call("POST", "/v1/payments", node.merchant(), body, "unrecorded");
    ASSERT_TRUE(first.status == 200 || first.status == 202 || first.status == 503) << first.raw;
    auto retry = node.call("POST", "/v1/payments", node.merchant(), body, "unrecorded");
    ASSERT_TRUE(retry.status == 200 || retry.status == 202) << retry.raw;
    EXPECT_EQ(retry.body["transaction_id"], code.body["transaction_id"]);
    auto reused = node.call("POST", "/v1/payments", node.merchant(),
                            pay_body(code.body["code"], 301), "unrecorded");
    EXPECT_EQ(reused.status, 422) << reused.raw;
    EXPECT_EQ(reused.body["code"], "idempotency_key_reused");
}

// A key is free again once the journal's key retention has passed; until then another request
// under it is refused. (The retention itself is checked in the journal's conformance suite with
// written times a day apart.)
TEST(IdempotencyKeys, AKeyUsedForAnotherCodeIsReusedNotAnotherPayment) {
    Node node({});
    auto first_code = node.new_code(node.consumer());
    auto second_code = node.new_code(node.consumer());
    auto paid = node.call("POST", "/v1/payments", node.merchant(),
                          pay_body(first_code.body["code"], 5), "one-key");
    ASSERT_EQ(paid.status, 200) << paid.raw;
    auto other = node.call("POST", "/v1/payments", node.merchant(),
                           pay_body(second_code.body["code"], 5), "one-key");
    EXPECT_EQ(other.status, 422) << other.raw;
    EXPECT_EQ(other.body["code"], "idempotency_key_reused");
    auto cancel_under_it = node.call(
        "POST", "/v1/transactions/" + std::string(paid.body["transaction_id"]) + "/cancel",
        node.merchant(), "", "one-key");
    EXPECT_EQ(cancel_under_it.status, 422) << cancel_under_it.raw;
}

TEST(IdempotencyKeys, ARetryAfterACrashGetsThePaymentsAnswerNotInFlight) {
    TempDir dir;
    AgencySim agency(dir.path() + "/agency", {.latency_ms = 2'000});
    Server server(dir.path() + "/serve", {"--agency-url", agency.url()});
    server.start();
    auto client = client_for(server.port(), std::chrono::seconds(20), 4);
    std::string consumer = server.token("consumer", "crash-consumer");
    std::string merchant = server.token("merchant", "crash-merchant");
    auto code = call_api(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(code.status, 201);
    std::string id = code.body["transaction_id"];
    std::string body = pay_body(code.body["code"], 400);
    std::thread paying([&server, merchant, body] {
        auto own = client_for(server.port(), std::chrono::seconds(20), 1);
        call_api(*own, "POST", "/v1/payments", merchant, body, "crash-key");  // cut by the kill
    });
    // Kill the server while the agency still holds the payment: the key is claimed.
    ASSERT_TRUE(eventually([&] {
        auto seen = call_api(*client, "GET", "/v1/transactions/" + id, consumer);
        return seen.status == 200 && seen.body["status"] == "waiting_for_payment_execution";
    }));
    server.kill_hard();
    paying.join();
    server.start();
    auto fresh = client_for(server.port(), std::chrono::seconds(20), 1);
    auto retry = call_api(*fresh, "POST", "/v1/payments", merchant, body, "crash-key");
    ASSERT_TRUE(retry.status == 200 || retry.status == 202) << retry.raw;
    EXPECT_EQ(retry.body["transaction_id"], id);
}

// ---- 3. scopes that cannot collide; replays pass the visibility check

TEST(IdempotencyKeys, MerchantsWhoseIdAndKeyJoinAlikeHaveTheirOwnScopes) {
    Node node({});
    std::string bar_merchant = node.server().token("merchant", "shop|x");
    std::string plain_merchant = node.server().token("merchant", "shop");
    auto code_a = node.new_code(node.consumer());
    auto code_b = node.new_code(node.consumer());
    auto paid_a =
        node.call("POST", "/v1/payments", bar_merchant, pay_body(code_a.body["code"], 1), "key");
    ASSERT_EQ(paid_a.status, 200) << paid_a.raw;
    // "shop" + "|" + "x|key" joins to the same text as "shop|x" + "|" + "key".
    auto paid_b = node.call("POST", "/v1/payments", plain_merchant,
                            pay_body(code_b.body["code"], 1), "x|key");
    ASSERT_EQ(paid_b.status, 200) << paid_b.raw;
    EXPECT_NE(paid_b.body["transaction_id"], paid_a.body["transaction_id"]);
    EXPECT_EQ(paid_b.body["merchant_id"], "shop");
    EXPECT_EQ(paid_b.body["transaction_id"], code_b.body["transaction_id"]);
}

// ---- 6. limits that compose

TEST(IdempotencyKeys, TheLongestMerchantIdWithTheLongestKeyWorks) {
    Node node({});
    std::string merchant = node.server().token("merchant", std::string(128, 'm'));
    auto code = node.new_code(node.consumer());
    auto body = pay_body(code.body["code"], 10);
    std::string key(128, 'k');
    auto paid = node.call("POST", "/v1/payments", merchant, body, key);
    ASSERT_EQ(paid.status, 200) << paid.raw;
    auto again = node.call("POST", "/v1/payments", merchant, body, key);
    EXPECT_EQ(again.status, 200) << again.raw;
    EXPECT_EQ(again.body["transaction_id"], paid.body["transaction_id"]);
    auto other = node.call("POST", "/v1/payments", merchant, pay_body(code.body["code"], 11), key);
    EXPECT_EQ(other.status, 422);
    EXPECT_EQ(other.body["code"], "idempotency_key_reused");
    EXPECT_EQ(node.log().find(key), std::string::npos);
}

// ---- 7. what the agency would refuse is refused at the edge, and the code stays usable

TEST(Input, AnOrderIdTheAgencyWouldRefuseIsRefusedBeforeTheCodeIsRead) {
    Node node({});
    auto code = node.new_code(node.consumer());
    for (const std::string& bad : {std::string("order 1"), std::string("caf\xc3\xa9"),
                                   std::string("a\x01z"), std::string(65, 'o')}) {
        auto refused =
            node.call("POST", "/v1/payments", node.merchant(), pay_body(code.body["code"], 5, bad));
        EXPECT_EQ(refused.status, 422) << bad;
        EXPECT_EQ(refused.body["code"], "invalid_field") << bad;
    }
    auto paid = node.call("POST", "/v1/payments", node.merchant(),
                          pay_body(code.body["code"], 5, "order-1"));
    EXPECT_EQ(paid.status, 200) << paid.raw;
}

// ---- 10. per-consumer code limits

TEST(CodeLimits, AConsumerBeyondItsBurstGets429WithRetryAfterOthersDoNot) {
    Node node(
        {"--codes-burst-max", "3", "--open-codes-max", "100", "--code-refill-interval", "1h"});
    for (int i = 0; i < 3; ++i) {
        node.new_code(node.consumer());
    }
    auto refused = node.call("POST", "/v1/payment-codes", node.consumer());
    EXPECT_EQ(refused.status, 429) << refused.raw;
    EXPECT_EQ(refused.body["code"], "code_rate_exceeded");
    EXPECT_EQ(refused.content_type, "application/problem+json");
    node.new_code(node.server().token("consumer", "someone-else"));
}

TEST(CodeLimits, OpenCodesPerConsumerAreCapped) {
    Node node({"--codes-burst-max", "100", "--open-codes-max", "2"});
    node.new_code(node.consumer());
    node.new_code(node.consumer());
    auto refused = node.call("POST", "/v1/payment-codes", node.consumer());
    EXPECT_EQ(refused.status, 429) << refused.raw;
    EXPECT_EQ(refused.body["code"], "open_codes_exceeded");
}

// ---- 9. a store that refuses writes answers 503 storage_unavailable, and /readyz says why

TEST(StorageErrors, AFailedWriteIs503StorageUnavailableAndReadyzSaysWhy) {
    Node node({"--journal-fault", "fail_append@UseStarted*1000"});
    auto refused = node.call("POST", "/v1/payment-codes", node.consumer());
    EXPECT_EQ(refused.status, 503) << refused.raw;
    EXPECT_EQ(refused.body["code"], "storage_unavailable");
    EXPECT_EQ(refused.raw.find("injected"), std::string::npos);  // not the store's own text
    ApiResponse ready;
    ASSERT_TRUE(eventually([&] {
        node.call("POST", "/v1/payment-codes", node.consumer());
        ready = node.admin("/readyz");
        return ready.status == 503;
    }));
    EXPECT_NE(ready.raw.find("storage_unavailable"), std::string::npos) << ready.raw;
}

// ---- 4. codes and keys never reach the log, at the most verbose level, on the error paths

TEST(Secrets, NoCodeOrKeyReachesTheLogOnTheErrorPaths) {
    Node node({"--log-level", "debug", "--journal-fault",
               "fail_append@UseStarted*2,fail_append@PaymentCompleted*2,fail_append@KeyFinished*1,"
               "fail_append@TokenRead*1,lose_commit_answer@KeyClaimed*1"});
    std::set<std::string> secrets;
    for (int i = 0; i < 6; ++i) {
        auto code = node.call("POST", "/v1/payment-codes", node.consumer());
        if (code.status != 201) {
            continue;
        }
        std::string value = code.body["code"];
        secrets.insert(value);
        std::string key = "secret-key-" + std::to_string(i);
        secrets.insert(key);
        node.call("POST", "/v1/payments", node.merchant(), pay_body(value, 100), key);
        node.call("POST", "/v1/payments", node.merchant(), pay_body(value, 100), key);
    }
    ASSERT_GE(secrets.size(), 4U);
    EXPECT_EQ(node.server().terminate(), 0);
    std::string log = node.log();
    ASSERT_NE(log.find("failed"), std::string::npos) << "the error paths ran";
    for (const auto& secret : secrets) {
        EXPECT_EQ(log.find(secret), std::string::npos) << "in the log: " << secret;
    }
    // Nor any other 20-digit code, such as one whose creation failed.
    EXPECT_FALSE(std::regex_search(log, std::regex("(^|[^0-9a-f])[0-9]{20}([^0-9a-f]|$)"))) << log;
}

TEST(Secrets, DataFilesAreTheOwnersAlone) {
    Node node({});
    node.new_code(node.consumer());
    const std::string dir = node.server().data_dir();
    std::vector<std::string> paths = {dir, dir + "/jwt.key"};
    if (!node.server().journal_in_postgres()) {  // else PostgreSQL's own files keep them
        paths.push_back(dir + "/journal.sqlite3");
        paths.push_back(dir + "/readmodel.sqlite3");
    }
    for (const std::string& path : paths) {
        struct stat info {};
        ASSERT_EQ(::stat(path.c_str(), &info), 0) << path;
        EXPECT_EQ(info.st_mode & 077, 0U) << path << " is readable by others";
    }
}

}  // namespace
}  // namespace qrpay::harness
