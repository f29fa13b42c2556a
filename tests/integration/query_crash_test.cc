// kill -9 between the read model's writes and its commit (the engine's fault point
// crash_before_commit: the process SIGKILLs itself after writing a round's rows and offsets,
// before COMMIT), restart: every event is applied exactly once (DESIGN §5.6). Then an online
// rebuild (`qrpay projection rebuild payments` beside the running server) equals the live model.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tests/integration/query_support.h"

namespace qrpay::harness {
namespace {

struct Sent {
    std::vector<std::string> ids;                 // every transaction whose code was issued
    std::map<std::string, std::int64_t> amounts;  // those a pay request was sent for
};

// Payments (every third one cancelled) until the fault point kills the server.
Sent pay_until_killed(Server& server, const std::string& consumer, const std::string& merchant) {
    Sent sent;
    auto client = client_for(server.port(), std::chrono::seconds(10), 2);
    for (int i = 0; i < 300 && server.process().running(); ++i) {
        auto code = call_api(*client, "POST", "/v1/payment-codes", consumer);
        if (code.status != 201) {
            continue;
        }
        std::string id = code.body["transaction_id"];
        sent.ids.push_back(id);
        sent.amounts[id] = 100 + i;
        auto paid = call_api(*client, "POST", "/v1/payments", merchant,
                             pay_body(code.body["code"], 100 + i), "pay-" + id);
        if (paid.status == 200 && paid.body["status"] == "completed" && i % 3 == 0) {
            call_api(*client, "POST", "/v1/transactions/" + id + "/cancel", merchant, "",
                     "cancel-" + id);
        }
    }
    return sent;
}

// Each transaction's final status on the command side; empty while one is not final yet.
std::map<std::string, std::string> final_statuses(http::Client& client,
                                                  const std::string& consumer,
                                                  const std::vector<std::string>& ids) {
    std::map<std::string, std::string> out;
    for (const std::string& id : ids) {
        auto seen = call_api(client, "GET", "/v1/transactions/" + id, consumer);
        if (seen.status != 200 || !is_final_status(seen.body["status"])) {
            return {};
        }
        out[id] = seen.body["status"];
    }
    return out;
}

// {completed count, completed amount, cancelled count, cancelled amount, net} of a history.
std::vector<std::int64_t> expected_sales(const std::map<std::string, std::string>& statuses,
                                         const std::map<std::string, std::int64_t>& amounts) {
    std::vector<std::int64_t> totals(5, 0);
    for (const auto& [id, status] : statuses) {
        if (status != "completed" && status != "cancelled") {
            continue;
        }
        EXPECT_TRUE(amounts.contains(id)) << id << " was paid without a pay request";
        std::int64_t amount = amounts.contains(id) ? amounts.at(id) : 0;
        totals[0] += 1;
        totals[1] += amount;
        if (status == "cancelled") {
            totals[2] += 1;
            totals[3] += amount;
        }
    }
    totals[4] = totals[1] - totals[3];
    return totals;
}

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(QueryCrash, KilledBetweenWriteAndCommitThenRestartedAppliesEveryEventOnce) {
    TempDir dir;
    const std::string data = dir.path() + "/serve";
    Sent sent;
    {
        Server crashing(data,
                        {"--code-ttl", "3s", "--projection-fault", "crash_before_commit@150"});
        crashing.start();
        std::string consumer = crashing.token("consumer", "crash-consumer");
        std::string merchant = crashing.token("merchant", "crash-merchant");
        sent = pay_until_killed(crashing, consumer, merchant);
        ASSERT_TRUE(eventually([&] { return !crashing.process().running(); }))
            << "the fault point did not kill the server";
        EXPECT_NE(file_text(data + "/serve-1.log").find("fault point crash_before_commit"),
                  std::string::npos);
    }
    ASSERT_FALSE(sent.ids.empty());
    std::printf("the fault point killed the server after %zu payment codes\n", sent.ids.size());

    Server server(data, {"--code-ttl", "3s"});
    server.start();
    auto client = client_for(server.port(), std::chrono::seconds(20), 4);
    std::string consumer = server.token("consumer", "crash-consumer");
    std::string merchant = server.token("merchant", "crash-merchant");
    std::map<std::string, std::string> truth;
    ASSERT_TRUE(eventually([&] {
        truth = final_statuses(*client, consumer, sent.ids);
        return !truth.empty();
    })) << "every transaction reaches a final state after the restart";

    // The read model shows each transaction as the command side does, and counts every
    // payment and cancellation once: a lost or repeated event would differ here (and a
    // repeated one would also stop its shard at the row's version check). A code whose answer
    // the kill cut off is a transaction the client never heard of; it is in both models (it
    // expires), so it joins the truth.
    ASSERT_TRUE(eventually([&] {
        auto shown = statuses_of(all_payments(*client, consumer, "limit=100"));
        std::vector<std::string> known = sent.ids;
        for (const auto& [id, status] : shown) {
            if (std::find(sent.ids.begin(), sent.ids.end(), id) == sent.ids.end()) {
                known.push_back(id);
            }
        }
        truth = final_statuses(*client, consumer, known);
        return !truth.empty() && shown == truth;
    }));
    const auto expected = expected_sales(truth, sent.amounts);
    ASSERT_TRUE(eventually([&] { return sales_totals(*client, merchant) == expected; }))
        << "expected completed " << expected[0] << " (" << expected[1] << "), cancelled "
        << expected[2] << " (" << expected[3] << ")";
    auto admin = client_for(server.admin_port());
    EXPECT_EQ(call_api(*admin, "GET", "/readyz", "").status, 200);
    EXPECT_NE(call_api(*admin, "GET", "/metrics", "")
                  .raw.find("qrpay_projection_shards_stopped{projection=\"payments\"} 0"),
              std::string::npos);

    // Rebuild online, beside the running server: the rebuilt model equals the live one.
    auto history_before = all_payments(*client, consumer, "limit=100");
    auto sales_before = call_api(*client, "GET", "/v1/me/sales", merchant).body["days"];
    std::string output = run_and_capture(
        qrpay_binary() + " projection rebuild payments --data-dir " + data +
        (server.journal_in_postgres() ? " --journal '" + server.journal_url() + "'" : "") +
        " 2>&1");
    EXPECT_NE(output.find("rebuilt projection payments"), std::string::npos) << output;
    EXPECT_EQ(all_payments(*client, consumer, "limit=100"), history_before);
    EXPECT_EQ(call_api(*client, "GET", "/v1/me/sales", merchant).body["days"], sales_before);
    // The live engine goes on from the rebuilt tables.
    auto code = call_api(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(code.status, 201);
    auto paid = call_api(*client, "POST", "/v1/payments", merchant, pay_body(code.body["code"], 1),
                         "after-rebuild");
    ASSERT_EQ(paid.status, 200);
    ASSERT_TRUE(eventually([&] {
        return all_payments(*client, consumer, "limit=100").size() == history_before.size() + 1;
    }));
    EXPECT_EQ(call_api(*admin, "GET", "/readyz", "").status, 200);
    EXPECT_EQ(server.terminate(), 0);
}

TEST(QueryCrash, RebuildRefusesUnknownProjectionsAndMissingData) {
    TempDir dir;
    std::string unknown =
        run_and_capture(qrpay_binary() + " projection rebuild nosuch --data-dir " + dir.path() +
                        " 2>&1; echo rc=$?");
    EXPECT_NE(unknown.find("unknown projection 'nosuch'"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("rc=2"), std::string::npos) << unknown;
    std::string missing =
        run_and_capture(qrpay_binary() + " projection rebuild payments --data-dir " + dir.path() +
                        " 2>&1; echo rc=$?");
    EXPECT_NE(missing.find("no qrpay data"), std::string::npos) << missing;
    EXPECT_NE(missing.find("rc=1"), std::string::npos) << missing;
}

}  // namespace
}  // namespace qrpay::harness
