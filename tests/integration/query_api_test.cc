// The query side through a real `qrpay serve` (built-in simulated agency) and real HTTP:
// histories, sales, pagination, server-sent events, bad query input, and a stopped
// projection showing in /readyz, /metrics and the log.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/query_support.h"

namespace qrpay::harness {
namespace {

class QueryApi : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        server_ = new Server(dir_->path() + "/serve", {"--code-ttl", "30s"});
        server_->start();
        client_ = client_for(server_->port(), std::chrono::seconds(30), 16).release();
    }
    static void TearDownTestSuite() {
        delete client_;
        delete server_;
        delete dir_;
    }

    static ApiResponse call(const std::string& method,
                            const std::string& path,
                            const std::string& token,
                            const std::string& body = "",
                            const std::string& key = "") {
        return call_api(*client_, method, path, token, body, key);
    }
    // A completed payment of `amount` JPY from `consumer` to `merchant`; its transaction id.
    static std::string pay(const std::string& consumer,
                           const std::string& merchant,
                           std::int64_t amount) {
        auto code = call("POST", "/v1/payment-codes", consumer);
        EXPECT_EQ(code.status, 201) << code.raw;
        std::string id = code.body["transaction_id"];
        auto paid = call("POST", "/v1/payments", merchant, pay_body(code.body["code"], amount),
                         "pay-" + id);
        EXPECT_EQ(paid.status, 200) << paid.raw;
        EXPECT_EQ(paid.body["status"], "completed");
        return id;
    }
    static std::string token(const std::string& role, const std::string& subject) {
        return server_->token(role, subject);
    }

    static TempDir* dir_;
    static Server* server_;
    static http::Client* client_;
};
TempDir* QueryApi::dir_ = nullptr;
Server* QueryApi::server_ = nullptr;
http::Client* QueryApi::client_ = nullptr;

TEST_F(QueryApi, PaymentAndCancellationShowInBothHistoriesAndTheSalesOfNobodyElse) {
    std::string consumer = token("consumer", "hist-consumer");
    std::string merchant = token("merchant", "hist-merchant");
    std::string kept = pay(consumer, merchant, 1200);
    std::string cancelled = pay(consumer, merchant, 500);
    auto cancel = call("POST", "/v1/transactions/" + cancelled + "/cancel", merchant, "", "c-1");
    ASSERT_EQ(cancel.status, 200) << cancel.raw;
    ASSERT_EQ(cancel.body["status"], "cancelled");

    std::map<std::string, std::string> expected = {{kept, "completed"}, {cancelled, "cancelled"}};
    for (const std::string& party : {consumer, merchant}) {
        ASSERT_TRUE(eventually([&] {
            return statuses_of(all_payments(*client_, party)) == expected;
        })) << "both payments in the history of each party";
    }
    auto rows = all_payments(*client_, merchant);
    for (const auto& row : rows) {
        EXPECT_EQ(row["consumer_id"], "hist-consumer");
        EXPECT_EQ(row["merchant_id"], "hist-merchant");
        EXPECT_EQ(row["amount"]["currency"], "JPY");
        EXPECT_FALSE(row["agency_reference"].is_null());
        EXPECT_FALSE(row["completed_at"].is_null());
        EXPECT_EQ(row["cancelled_at"].is_null(), row["transaction_id"] == kept);
    }
    ASSERT_TRUE(eventually([&] {
        return sales_totals(*client_, merchant) == std::vector<std::int64_t>{2, 1700, 1, 500, 1200};
    }));
    auto sales = call("GET", "/v1/me/sales", merchant);
    EXPECT_EQ(sales.body["time_zone"], "Asia/Tokyo");
    EXPECT_FALSE(sales.body["as_of"].is_null());
    auto history = call("GET", "/v1/me/payments", consumer);
    EXPECT_FALSE(history.body["as_of"].is_null());

    // Never in anyone else's.
    std::string other_consumer = token("consumer", "hist-other-consumer");
    std::string other_merchant = token("merchant", "hist-other-merchant");
    EXPECT_TRUE(all_payments(*client_, other_consumer).empty());
    EXPECT_TRUE(all_payments(*client_, other_merchant).empty());
    EXPECT_EQ(sales_totals(*client_, other_merchant), std::vector<std::int64_t>(5, 0));
}

TEST_F(QueryApi, PagesAreNewestFirstAndFilterByStatus) {
    std::string consumer = token("consumer", "page-consumer");
    std::string merchant = token("merchant", "page-merchant");
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(pay(consumer, merchant, 100 + i));
    }
    auto unread = call("POST", "/v1/payment-codes", consumer);  // an open code, never paid
    ASSERT_EQ(unread.status, 201);
    ASSERT_TRUE(
        eventually([&] { return all_payments(*client_, consumer, "limit=2").size() == 6; }));
    auto rows = all_payments(*client_, consumer, "limit=2");
    EXPECT_EQ(rows.front()["transaction_id"], unread.body["transaction_id"]) << "newest first";
    for (std::size_t i = 1; i < rows.size(); ++i) {
        EXPECT_GE(rows[i - 1]["created_at"].get<std::string>(),
                  rows[i]["created_at"].get<std::string>());
    }
    EXPECT_EQ(all_payments(*client_, consumer, "status=completed&limit=100").size(), 5U);
    EXPECT_EQ(all_payments(*client_, consumer, "status=waiting_for_read_token").size(), 1U);
    EXPECT_EQ(all_payments(*client_, merchant, "status=&from=&limit=3").size(), 5U)
        << "the merchant sees only payments it read";
    EXPECT_TRUE(all_payments(*client_, consumer, "to=2000-01-01").empty());
}

TEST_F(QueryApi, BadQueryInputIsAProblemAndReadsNothing) {
    std::string consumer = token("consumer", "bad-consumer");
    std::string merchant = token("merchant", "bad-merchant");
    for (const char* query :
         {"limit=0", "limit=101", "limit=x", "status=paid", "from=2026-02-30", "to=tomorrow",
          "from=2026-11-27&to=2026-11-26", "cursor=%21%21", "cursor=bm9kb3Q", "sort=asc"}) {
        auto response = call("GET", std::string("/v1/me/payments?") + query, consumer);
        EXPECT_EQ(response.status, 422) << query << ": " << response.raw;
        EXPECT_EQ(response.content_type, "application/problem+json") << query;
        EXPECT_EQ(response.body["code"], "invalid_query") << query;
    }
    for (const char* query : {"from=2026-11-02&to=2026-11-01", "from=2024-01-01&to=2025-01-01",
                              "from=11/01/2026", "merchant=other"}) {
        auto response = call("GET", std::string("/v1/me/sales?") + query, merchant);
        EXPECT_EQ(response.status, 422) << query << ": " << response.raw;
        EXPECT_EQ(response.body["code"], "invalid_query") << query;
    }
    EXPECT_EQ(call("GET", "/v1/me/sales", consumer).status, 403);
    EXPECT_EQ(call("GET", "/v1/me/payments", "").status, 401);
    EXPECT_EQ(call("POST", "/v1/me/payments", consumer).status, 405);
    EXPECT_EQ(call("GET", "/v1/me/nothing", consumer).status, 404);
    EXPECT_EQ(call("GET", "/v1/transactions/tx_nope/events", consumer).status, 404);
}

// The statuses of a finished stream's events, in order.
std::vector<std::string> statuses_in(const std::vector<SseEvent>& events) {
    std::vector<std::string> out;
    for (const auto& event : events) {
        out.push_back(event.data["status"].get<std::string>());
    }
    return out;
}

bool streams_open(http::Client& admin, int count) {
    return call_api(admin, "GET", "/metrics", "")
               .raw.find("qrpay_event_streams_open " + std::to_string(count) + "\n") !=
           std::string::npos;
}

TEST_F(QueryApi, EventStreamShowsEveryStatusUntilAStateWithNoWayOut) {
    std::string consumer = token("consumer", "sse-consumer");
    std::string merchant = token("merchant", "sse-merchant");
    auto code = call("POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(code.status, 201);
    std::string id = code.body["transaction_id"];
    ApiResponse stream;
    std::jthread watcher(
        [&] { stream = call("GET", "/v1/transactions/" + id + "/events", consumer); });
    // Pay once the stream is open: the first event the consumer sees is the open code.
    auto admin = client_for(server_->admin_port());
    ASSERT_TRUE(eventually([&] { return streams_open(*admin, 1); }));
    auto paid = call("POST", "/v1/payments", merchant, pay_body(code.body["code"], 900), "sse-1");
    ASSERT_EQ(paid.status, 200) << paid.raw;
    ASSERT_EQ(paid.body["status"], "completed");
    // Completed is not an end: the stream stays open for a cancellation.
    EXPECT_TRUE(streams_open(*admin, 1)) << "the stream is still open after completed";
    auto cancel = call("POST", "/v1/transactions/" + id + "/cancel", merchant, "", "sse-c-1");
    ASSERT_EQ(cancel.status, 200) << cancel.raw;
    watcher.join();
    ASSERT_EQ(stream.status, 200) << stream.raw;
    EXPECT_EQ(stream.content_type, "text/event-stream");
    auto events = parse_sse(stream.raw);
    // Every status, also preparing_to_payment, which lasts less than one command.
    EXPECT_EQ(statuses_in(events),
              (std::vector<std::string>{"waiting_for_read_token", "preparing_to_payment",
                                        "waiting_for_payment_execution", "completed",
                                        "waiting_for_payment_cancellation", "cancelled"}))
        << stream.raw;
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].event, "status");
        EXPECT_EQ(events[i].data["transaction_id"], id);
        EXPECT_EQ(events[i].id, std::to_string(events[i].data["version"].get<std::int64_t>()));
        if (i > 0) {
            EXPECT_LT(std::stoll(events[i - 1].id), std::stoll(events[i].id));
        }
    }
    // The merchant of it may watch it too (already final: one event); nobody else.
    auto merchant_stream = call("GET", "/v1/transactions/" + id + "/events", merchant);
    ASSERT_EQ(merchant_stream.status, 200);
    EXPECT_EQ(statuses_in(parse_sse(merchant_stream.raw)), std::vector<std::string>{"cancelled"});
    std::string stranger = token("consumer", "sse-stranger");
    EXPECT_EQ(call("GET", "/v1/transactions/" + id + "/events", stranger).status, 404);
}

// The admin's view (README, "The API"): any transaction and its events, but never its QR
// image, which is the consumer's bearer secret; and no "me" of its own.
TEST_F(QueryApi, AdminReadsAnyTransactionAndItsEventsButNotItsQrImage) {
    std::string consumer = token("consumer", "admin-view-consumer");
    std::string merchant = token("merchant", "admin-view-merchant");
    std::string admin = token("admin", "ops-1");
    std::string id = pay(consumer, merchant, 700);
    auto read = call("GET", "/v1/transactions/" + id, admin);
    ASSERT_EQ(read.status, 200) << read.raw;
    EXPECT_EQ(read.body["status"], "completed");
    // Cancelled, so that the stream ends at once (a completed payment's stream stays open).
    ASSERT_EQ(call("POST", "/v1/transactions/" + id + "/cancel", merchant, "", "admin-c-1").status,
              200);
    auto stream = call("GET", "/v1/transactions/" + id + "/events", admin);
    ASSERT_EQ(stream.status, 200) << stream.raw;
    auto events = parse_sse(stream.raw);
    ASSERT_EQ(events.size(), 1U) << stream.raw;
    EXPECT_EQ(events[0].data["status"], "cancelled");
    EXPECT_EQ(events[0].data["transaction_id"], id);
    for (const char* image : {"/qr.svg", "/qr.png"}) {
        auto qr = call("GET", "/v1/transactions/" + id + image, admin);
        EXPECT_EQ(qr.status, 404) << image << ": " << qr.raw;
        EXPECT_EQ(qr.body["code"], "transaction_not_found") << image;
    }
    EXPECT_EQ(call("GET", "/v1/transactions/tx_nope/events", admin).status, 404);
    EXPECT_EQ(call("GET", "/v1/me/payments", admin).status, 403);
    EXPECT_EQ(call("GET", "/v1/me/sales", admin).status, 403);
}

// A default bound never leaves the days a date can name: from the last day, to is that day.
TEST_F(QueryApi, SalesRangeStaysWithinTheLastDay) {
    std::string merchant = token("merchant", "range-merchant");
    auto last = call("GET", "/v1/me/sales?from=9999-12-31", merchant);
    ASSERT_EQ(last.status, 200) << last.raw;
    EXPECT_EQ(last.body["from"], "9999-12-31");
    EXPECT_EQ(last.body["to"], "9999-12-31");
    auto beyond = call("GET", "/v1/me/sales?to=10000-01-01", merchant);
    EXPECT_EQ(beyond.status, 422) << beyond.raw;
    EXPECT_EQ(beyond.body["code"], "invalid_query");
}

TEST_F(QueryApi, AStreamOpenedOnACompletedPaymentWatchesItsCancellation) {
    std::string consumer = token("consumer", "sse-late-consumer");
    std::string merchant = token("merchant", "sse-late-merchant");
    std::string id = pay(consumer, merchant, 700);
    ApiResponse stream;
    std::jthread watcher(
        [&] { stream = call("GET", "/v1/transactions/" + id + "/events", merchant); });
    auto admin = client_for(server_->admin_port());
    ASSERT_TRUE(eventually([&] { return streams_open(*admin, 1); }));
    auto cancel = call("POST", "/v1/transactions/" + id + "/cancel", merchant, "", "late-c-1");
    ASSERT_EQ(cancel.status, 200) << cancel.raw;
    watcher.join();
    ASSERT_EQ(stream.status, 200) << stream.raw;
    EXPECT_EQ(
        statuses_in(parse_sse(stream.raw)),
        (std::vector<std::string>{"completed", "waiting_for_payment_cancellation", "cancelled"}))
        << stream.raw;
}

TEST_F(QueryApi, MetricsExportTheLagHistogram) {
    std::string consumer = token("consumer", "metrics-consumer");
    std::string merchant = token("merchant", "metrics-merchant");
    pay(consumer, merchant, 42);
    auto admin = client_for(server_->admin_port());
    ASSERT_TRUE(eventually([&] {
        auto metrics = call_api(*admin, "GET", "/metrics", "");
        return metrics.raw.find("qrpay_projection_lag_seconds_count{projection=\"payments\"} 0") ==
                   std::string::npos &&
               metrics.raw.find(
                   "qrpay_projection_lag_seconds_bucket{projection=\"payments\","
                   "le=\"+Inf\"}") != std::string::npos;
    }));
    auto metrics = call_api(*admin, "GET", "/metrics", "");
    EXPECT_NE(metrics.raw.find("# TYPE qrpay_projection_lag_seconds histogram"), std::string::npos);
    EXPECT_NE(metrics.raw.find("qrpay_projection_shards_stopped{projection=\"payments\"} 0"),
              std::string::npos);
}

// Event streams are bounded: beyond --sse-subscribers-max the answer is 503, and a slot is
// free again once its stream ends.
TEST(QueryStreams, SubscribersBeyondTheMaximumGet503) {
    TempDir dir;
    Server server(dir.path() + "/serve", {"--sse-subscribers-max", "1"});
    server.start();
    auto client = client_for(server.port(), std::chrono::seconds(30), 4);
    std::string consumer = server.token("consumer", "bound-consumer");
    std::string merchant = server.token("merchant", "bound-merchant");
    auto code = call_api(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(code.status, 201);
    std::string path =
        "/v1/transactions/" + code.body["transaction_id"].get<std::string>() + "/events";
    ApiResponse first;
    std::jthread watcher([&] { first = call_api(*client, "GET", path, consumer); });
    auto admin = client_for(server.admin_port());
    ASSERT_TRUE(eventually([&] { return streams_open(*admin, 1); }));
    auto second = call_api(*client, "GET", path, consumer);
    EXPECT_EQ(second.status, 503) << second.raw;
    EXPECT_EQ(second.body["code"], "unavailable");
    auto paid = call_api(*client, "POST", "/v1/payments", merchant, pay_body(code.body["code"], 10),
                         "bound-1");
    ASSERT_EQ(paid.status, 200);
    auto cancel =
        call_api(*client, "POST",
                 "/v1/transactions/" + code.body["transaction_id"].get<std::string>() + "/cancel",
                 merchant, "", "bound-c-1");
    ASSERT_EQ(cancel.status, 200) << cancel.raw;
    watcher.join();
    EXPECT_EQ(first.status, 200);
    ASSERT_TRUE(eventually([&] { return call_api(*client, "GET", path, consumer).status == 200; }))
        << "the slot is free again";
}

// One subject holds at most --sse-subscribers-per-subject-max streams (429, Retry-After);
// other subjects still get theirs.
TEST(QueryStreams, StreamsOfOneSubjectBeyondItsMaximumGet429) {
    TempDir dir;
    Server server(dir.path() + "/serve", {"--sse-subscribers-per-subject-max", "1"});
    server.start();
    auto client = client_for(server.port(), std::chrono::seconds(30), 4);
    auto admin = client_for(server.admin_port());
    std::string greedy = server.token("consumer", "greedy-consumer");
    std::string other = server.token("consumer", "other-consumer");
    std::string merchant = server.token("merchant", "subject-merchant");
    auto code = call_api(*client, "POST", "/v1/payment-codes", greedy);
    auto other_code = call_api(*client, "POST", "/v1/payment-codes", other);
    ASSERT_EQ(code.status, 201);
    ASSERT_EQ(other_code.status, 201);
    std::string id = code.body["transaction_id"];
    std::string other_id = other_code.body["transaction_id"];
    ApiResponse first;
    std::jthread watcher(
        [&] { first = call_api(*client, "GET", "/v1/transactions/" + id + "/events", greedy); });
    ASSERT_TRUE(eventually([&] { return streams_open(*admin, 1); }));

    http::ClientRequest again{.path = "/v1/transactions/" + id + "/events",
                              .headers = {{"Authorization", "Bearer " + greedy}}};
    auto refused = client->call(again);
    ASSERT_TRUE(refused.ok()) << refused.status().to_string();
    EXPECT_EQ(refused->status, 429);
    EXPECT_EQ(refused->header("Content-Type"), "application/problem+json");
    EXPECT_EQ(refused->header("Retry-After"), "1");
    EXPECT_EQ(nlohmann::json::parse(refused->body, nullptr, false)["code"],
              "too_many_event_streams");
    EXPECT_NE(call_api(*admin, "GET", "/metrics", "")
                  .raw.find("qrpay_event_streams_refused_total{reason=\"per_subject_max\"} 1\n"),
              std::string::npos);

    ApiResponse second;
    std::jthread other_watcher([&] {
        second = call_api(*client, "GET", "/v1/transactions/" + other_id + "/events", other);
    });
    ASSERT_TRUE(eventually([&] { return streams_open(*admin, 2); })) << "another subject's stream";
    for (const auto& [paid_code, key] : {std::pair{code.body["code"], std::string("s-1")},
                                         std::pair{other_code.body["code"], std::string("s-2")}}) {
        auto paid =
            call_api(*client, "POST", "/v1/payments", merchant, pay_body(paid_code, 10), key);
        ASSERT_EQ(paid.status, 200) << paid.raw;
        auto cancel = call_api(
            *client, "POST",
            "/v1/transactions/" + paid.body["transaction_id"].get<std::string>() + "/cancel",
            merchant, "", "c-" + key);
        ASSERT_EQ(cancel.status, 200) << cancel.raw;
    }
    watcher.join();
    other_watcher.join();
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(second.status, 200);
}

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// An event that fails to apply stops its shard there: not ready, in the metrics and the log
// with the entity and sequence number; after a restart without the fault it applies.
TEST(QueryFaults, AStoppedProjectionIsNotReadyUntilTheEventApplies) {
    TempDir dir;
    std::string data = dir.path() + "/serve";
    std::string id;
    {
        Server server(data, {"--projection-fault", "fail_apply@PaymentCompleted"});
        server.start();
        auto client = client_for(server.port());
        std::string consumer = server.token("consumer", "fault-consumer");
        std::string merchant = server.token("merchant", "fault-merchant");
        auto code = call_api(*client, "POST", "/v1/payment-codes", consumer);
        ASSERT_EQ(code.status, 201);
        id = code.body["transaction_id"];
        auto paid = call_api(*client, "POST", "/v1/payments", merchant,
                             pay_body(code.body["code"], 700), "fault-1");
        ASSERT_EQ(paid.status, 200) << "payments go on while the read model is stopped";
        auto admin = client_for(server.admin_port());
        ApiResponse ready;
        ASSERT_TRUE(eventually([&] {
            ready = call_api(*admin, "GET", "/readyz", "");
            return ready.status == 503;
        }));
        EXPECT_NE(ready.raw.find("transaction|" + id + " seq 4"), std::string::npos) << ready.raw;
        auto metrics = call_api(*admin, "GET", "/metrics", "");
        EXPECT_NE(metrics.raw.find("persistence_id=\"transaction|" + id + "\",seq=\"4\"} 1"),
                  std::string::npos);
        EXPECT_EQ(server.terminate(), 0);
        std::string log = file_text(data + "/serve-1.log");
        EXPECT_NE(log.find("stopped at offset"), std::string::npos);
        EXPECT_NE(log.find("transaction|" + id + " seq 4"), std::string::npos);
    }
    Server server(data, {});
    server.start();  // ready again: nothing stops the shard now
    auto client = client_for(server.port());
    std::string consumer = server.token("consumer", "fault-consumer");
    ASSERT_TRUE(eventually([&] {
        return statuses_of(all_payments(*client, consumer)) ==
               std::map<std::string, std::string>{{id, "completed"}};
    }));
}

}  // namespace
}  // namespace qrpay::harness
