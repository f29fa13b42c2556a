// PostgreSQL lost and found again (issue 12), end to end: `qrpay serve --journal URL` against a
// PostgreSQL server of the test's own, which the test kills (-9), stops and restarts. What the
// issue asks for: serve never takes a write without its journal; while PostgreSQL is gone a
// write answers 503 journal_unavailable with Retry-After (or 202 when the payment was taken and
// only its outcome is not known yet), a read of an entity in memory still answers, and /readyz
// is red with the reason; once PostgreSQL is back the service resumes by itself: no payment
// answered completed is lost, every one in flight ends, and the agency's ledger agrees.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/testing/eventually.h"
#include "postgres/connection.h"
#include "postgres/testing/test_server.h"
#include "tests/integration/api_client.h"

namespace qrpay::harness {
namespace {

using postgres::testing::TestServer;
using qrpay::testing::eventually;

// One answer as these tests judge it: the problem's code and Retry-After too.
struct Answer {
    int status = 0;  // 0 when the call itself failed (nothing listens, say)
    nlohmann::json body;
    std::string raw;
    std::string content_type;
    std::string retry_after;

    [[nodiscard]] std::string code() const { return text("code"); }
    // The transaction's status, when the answer is one.
    [[nodiscard]] std::string transaction_status() const { return text("status"); }
    [[nodiscard]] std::string text(const char* field) const {
        return body.is_object() && body.contains(field) && body[field].is_string()
                   ? body[field].get<std::string>()
                   : "";
    }
};

Answer call(http::Client& client,
            const std::string& method,
            const std::string& path,
            const std::string& token = "",
            const std::string& body = "",
            const std::string& idempotency_key = "") {
    http::ClientRequest request{.method = method, .path = path, .body = body};
    if (!token.empty()) {
        request.headers["Authorization"] = "Bearer " + token;
    }
    if (!idempotency_key.empty()) {
        request.headers["Idempotency-Key"] = idempotency_key;
    }
    auto response = client.call(std::move(request));
    Answer answer;
    if (!response.ok()) {
        answer.raw = response.status().to_string();
        return answer;
    }
    answer.status = response->status;
    answer.raw = response->body;
    answer.content_type = std::string(response->header("Content-Type"));
    answer.retry_after = std::string(response->header("Retry-After"));
    answer.body = nlohmann::json::parse(response->body, nullptr, false);
    return answer;
}

// What a write may answer while PostgreSQL comes and goes: its success (200, 201, 202), or a
// 503 problem with Retry-After that says the journal is gone (nothing changed), or, for the
// few writes whose COMMIT was under way at the kill, that the store failed while taking it
// (it may or may not have happened). Never a 500, never a silent connection failure.
bool is_allowed_answer(const Answer& answer) {
    if (answer.status == 200 || answer.status == 201 || answer.status == 202) {
        return true;
    }
    const bool unknown_outcome = answer.code() == "storage_unavailable" &&
                                 answer.raw.find("may or may not") != std::string::npos;
    return answer.status == 503 && answer.content_type == "application/problem+json" &&
           std::atoi(answer.retry_after.c_str()) > 0 &&
           (answer.code() == "journal_unavailable" || unknown_outcome);
}

std::string describe(const Answer& answer) {
    return std::to_string(answer.status) + " " + answer.content_type +
           " Retry-After=" + answer.retry_after + " " + answer.raw;
}

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The readiness probe's answer, from a fresh connection each time.
Answer readyz(std::uint16_t admin_port) {
    auto admin = client_for(admin_port, std::chrono::seconds(5), 1);
    return call(*admin, "GET", "/readyz");
}

// Each test has a PostgreSQL server of its own (it kills it) with one database for the journal.
class PgFault : public ::testing::Test {
protected:
    void SetUp() override {
        auto started = TestServer::start();
        ASSERT_TRUE(started.ok()) << started.status().to_string();
        postgres_ = std::move(started).value();
        Status created = postgres_->create_database("qrpay");
        ASSERT_TRUE(created.ok()) << created.to_string();
        url_ = postgres_->url("qrpay");
    }

    std::unique_ptr<TestServer> postgres_;
    std::string url_;
};

// ---- a. kill -9 under load ------------------------------------------------------------------

struct Tracked {
    std::string id;
    std::int64_t amount = 0;
    Answer pay{};
    bool cancel_sent = false;
    Answer cancel{};
};

// Payments from several threads, as in crash_test.cc, keeping every answer.
class Load {
public:
    Load(std::uint16_t port, std::string consumer, std::string merchant)
        : port_(port), consumer_(std::move(consumer)), merchant_(std::move(merchant)) {}

    void run(int threads) {
        for (int t = 0; t < threads; ++t) {
            workers_.emplace_back([this, t] { loop(t); });
        }
    }
    void stop() {
        stopping_ = true;
        for (auto& worker : workers_) {
            worker.join();
        }
    }
    std::vector<Tracked> tracked() {
        std::lock_guard lock(mutex_);
        return tracked_;
    }
    // Answers that is_allowed_answer() refuses, described.
    std::vector<std::string> refused_answers() {
        std::lock_guard lock(mutex_);
        return refused_;
    }
    int completed_answers() const { return completed_answers_.load(); }
    int journal_unavailable_answers() const { return journal_unavailable_answers_.load(); }

private:
    // Each round asks for a code and pays the one asked for in the round before, so that some
    // payments are sent while PostgreSQL is gone, for codes issued before.
    void loop(int thread) {
        auto client = client_for(port_, std::chrono::seconds(20), 1);
        std::optional<std::pair<std::size_t, std::string>> unpaid;  // tracked index, code
        for (int round = 0; !stopping_; ++round) {
            Answer created = judged(call(*client, "POST", "/v1/payment-codes", consumer_));
            if (unpaid) {
                pay(*client, unpaid->first, unpaid->second, round);
                unpaid.reset();
            }
            if (created.status != 201) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
            Tracked item{.id = created.body["transaction_id"],
                         .amount = 100 + thread * 1000 + round};
            unpaid.emplace(remember(item), created.body["code"]);
        }
    }
    void pay(http::Client& client, std::size_t index, const std::string& code, int round) {
        const Tracked item = tracked_at(index);
        // Half of them with an Idempotency-Key, whose lookup reads the journal first.
        const std::string key = round % 2 == 0 ? "k-" + item.id : "";
        Answer paid = judged(
            call(client, "POST", "/v1/payments", merchant_, pay_body(code, item.amount), key));
        update(index, [&](Tracked& t) { t.pay = paid; });
        if (paid.status != 200 || paid.transaction_status() != "completed") {
            return;
        }
        ++completed_answers_;
        if (round % 4 < 2) {
            update(index, [](Tracked& t) { t.cancel_sent = true; });
            Answer cancelled =
                judged(call(client, "POST", "/v1/transactions/" + item.id + "/cancel", merchant_,
                            "", "c-" + item.id));
            update(index, [&](Tracked& t) { t.cancel = cancelled; });
        }
    }
    Answer judged(Answer answer) {
        journal_unavailable_answers_ += answer.code() == "journal_unavailable" ? 1 : 0;
        if (!is_allowed_answer(answer)) {
            std::lock_guard lock(mutex_);
            refused_.push_back(describe(answer));
        }
        return answer;
    }
    std::size_t remember(const Tracked& item) {
        std::lock_guard lock(mutex_);
        tracked_.push_back(item);
        return tracked_.size() - 1;
    }
    Tracked tracked_at(std::size_t index) {
        std::lock_guard lock(mutex_);
        return tracked_[index];
    }
    template <class Change>
    void update(std::size_t index, Change change) {
        std::lock_guard lock(mutex_);
        change(tracked_[index]);
    }

    std::uint16_t port_;
    std::string consumer_;
    std::string merchant_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> completed_answers_{0};
    std::atomic<int> journal_unavailable_answers_{0};
    std::mutex mutex_;
    std::vector<Tracked> tracked_;
    std::vector<std::string> refused_;
    std::vector<std::thread> workers_;
};

// Polls the transaction until it is final or the deadline passes; returns the last view (as
// crash_test.cc does: 404 means another party's transaction, a merchant's before the read).
nlohmann::json wait_final(http::Client& client,
                          const std::string& token,
                          const std::string& id,
                          std::chrono::steady_clock::time_point deadline) {
    nlohmann::json last;
    while (std::chrono::steady_clock::now() < deadline) {
        std::string after = last.is_object() ? std::to_string(last["version"].get<int>()) : "0";
        Answer seen =
            call(client, "GET", "/v1/transactions/" + id + "?wait=5&after_version=" + after, token);
        if (seen.status == 404) {
            return last;
        }
        if (seen.status == 200) {
            last = seen.body;
            if (is_final_status(last["status"])) {
                return last;
            }
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    return last;
}

TEST_F(PgFault, KillNineUnderLoad) {
    TempDir dir;
    // The agency's latency keeps payments in flight when PostgreSQL dies; a pay wait shorter
    // than the outage makes some of them answer while it lasts.
    AgencySim agency(dir.path() + "/agency",
                     {.error_5xx_rate = 0.05, .timeout_rate = 0.05, .latency_ms = 50});
    Server server(dir.path() + "/serve",
                  {"--journal", url_, "--agency-url", agency.url(), "--agency-timeout", "500ms",
                   "--code-ttl", "3s", "--pay-wait", "1s"});
    server.start();
    const std::string consumer = server.token("consumer", "consumer-pg-kill");
    const std::string merchant = server.token("merchant", "merchant-pg-kill");

    Load load(server.port(), consumer, merchant);
    load.run(4);
    ASSERT_TRUE(eventually([&] { return load.completed_answers() >= 40; }, std::chrono::seconds(60),
                           std::chrono::milliseconds(20)))
        << server.process().log_tail();
    ASSERT_TRUE(postgres_->kill().ok());

    // The clients see the outage (and keep driving through it), and so does /readyz.
    EXPECT_TRUE(eventually([&] { return load.journal_unavailable_answers() >= 300; },
                           std::chrono::seconds(60), std::chrono::milliseconds(20)));
    Answer red;
    EXPECT_TRUE(eventually(
        [&] {
            red = readyz(server.admin_port());
            return red.raw.find("journal_unavailable") != std::string::npos;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(red);
    EXPECT_EQ(red.status, 503) << describe(red);

    ASSERT_TRUE(postgres_->restart().ok());
    const int completed_before_restart = load.completed_answers();
    EXPECT_TRUE(
        eventually([&] { return load.completed_answers() >= completed_before_restart + 20; },
                   std::chrono::seconds(120), std::chrono::milliseconds(20)))
        << "payments did not complete again after the restart of PostgreSQL";
    load.stop();
    EXPECT_TRUE(eventually([&] { return readyz(server.admin_port()).status == 200; },
                           std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(readyz(server.admin_port()));
    EXPECT_TRUE(server.process().running()) << "serve itself was never restarted";
    for (const std::string& refused : load.refused_answers()) {
        ADD_FAILURE() << "answer outside 200/201/202 and 503 with Retry-After: " << refused;
    }

    auto client = client_for(server.port(), std::chrono::seconds(15), 4);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
    std::int64_t completed_sum = 0;
    int completed = 0;
    int cancelled = 0;
    std::map<std::string, int> pay_answers;
    for (const Tracked& item : load.tracked()) {
        nlohmann::json view = wait_final(*client, merchant, item.id, deadline);
        if (!view.is_object()) {  // never read by the merchant: only its consumer may look
            view = wait_final(*client, consumer, item.id, deadline);
        }
        ASSERT_TRUE(view.is_object()) << item.id;
        const std::string status = view["status"];
        ASSERT_TRUE(is_final_status(status)) << item.id << " stuck in " << status;
        const bool paid_completed =
            item.pay.status == 200 && item.pay.transaction_status() == "completed";
        // A cancellation refused for want of a journal changed nothing.
        const bool cancel_may_have_run =
            item.cancel_sent && item.cancel.code() != "journal_unavailable";
        if (paid_completed) {
            EXPECT_TRUE(status == "completed" || (status == "cancelled" && cancel_may_have_run))
                << item.id << " was answered completed, now " << status;
        }
        if (item.pay.code() == "journal_unavailable") {  // nothing changed: the code was not read
            EXPECT_EQ(status, "expired") << item.id << " was refused, yet went on to " << status;
        }
        ++pay_answers[(item.pay.status == 0 ? std::string("never paid")
                                            : std::to_string(item.pay.status) + " " +
                                                  item.pay.code() + item.pay.transaction_status()) +
                      " -> " + status];
        if (status == "completed") {
            completed_sum += view["amount"]["value"].get<std::int64_t>();
            ++completed;
        }
        cancelled += status == "cancelled" ? 1 : 0;
    }
    EXPECT_GT(completed, 0);
    EXPECT_GT(cancelled, 0);
    for (const auto& [kind, count] : pay_answers) {  // for the reader of a failed run
        std::printf("pay %s: %d\n", kind.c_str(), count);
    }
    std::printf("%zu payments: %d completed, %d cancelled; %d answers journal_unavailable\n",
                load.tracked().size(), completed, cancelled, load.journal_unavailable_answers());
    EXPECT_EQ(agency_net_minor(agency.port(), "merchant-pg-kill"), completed_sum)
        << "agency ledger and server disagree";
}

// ---- b. while PostgreSQL is down --------------------------------------------------------------

TEST_F(PgFault, WhileDownReadyzIsRedAndWritesAre503) {
    TempDir dir;
    Server server(dir.path() + "/serve", {"--journal", url_});
    server.start();
    const std::string consumer = server.token("consumer", "consumer-pg-down");
    const std::string merchant = server.token("merchant", "merchant-pg-down");
    auto client = client_for(server.port(), std::chrono::seconds(20), 2);

    Answer paid_code = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(paid_code.status, 201) << describe(paid_code);
    const std::string paid_id = paid_code.body["transaction_id"];
    Answer paid = call(*client, "POST", "/v1/payments", merchant,
                       pay_body(paid_code.body["code"], 1200), "pay-before");
    ASSERT_EQ(paid.status, 200) << describe(paid);
    ASSERT_EQ(paid.body["status"], "completed");
    Answer open_code = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(open_code.status, 201) << describe(open_code);

    ASSERT_TRUE(postgres_->kill().ok());
    // Red, and saying why, without a write to find out: a balancer must not wait for a failed
    // payment. (Another reason may show first: the projection stops at the failed journal read.)
    Answer red;
    EXPECT_TRUE(eventually(
        [&] {
            red = readyz(server.admin_port());
            return red.raw.find("journal_unavailable") != std::string::npos;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(red);
    EXPECT_EQ(red.status, 503) << describe(red);

    for (const auto& [what, refused] :
         {std::pair{"a new code", call(*client, "POST", "/v1/payment-codes", consumer)},
          std::pair{"a payment", call(*client, "POST", "/v1/payments", merchant,
                                      pay_body(open_code.body["code"], 500))}}) {
        EXPECT_EQ(refused.status, 503) << what << ": " << describe(refused);
        EXPECT_EQ(refused.content_type, "application/problem+json") << what;
        EXPECT_EQ(refused.code(), "journal_unavailable") << what << ": " << describe(refused);
        EXPECT_GT(std::atoi(refused.retry_after.c_str()), 0) << what << ": " << describe(refused);
        EXPECT_EQ(refused.raw.find("127.0.0.1"), std::string::npos)
            << what << ": libpq's text stays in the log: " << refused.raw;
    }
    // The command side answers from memory what it holds; what it must read says why not.
    for (const std::string& token : {consumer, merchant}) {
        Answer seen = call(*client, "GET", "/v1/transactions/" + paid_id, token);
        EXPECT_EQ(seen.status, 200) << describe(seen);
        EXPECT_EQ(seen.body["status"], "completed") << describe(seen);
    }
    Answer unknown = call(*client, "GET", "/v1/transactions/tx_" + std::string(32, '0'), consumer);
    EXPECT_EQ(unknown.status, 503) << describe(unknown);
    EXPECT_EQ(unknown.code(), "journal_unavailable") << describe(unknown);

    ASSERT_TRUE(postgres_->restart().ok());
    // Green again by itself: nothing is written meanwhile (a balancer sends nothing to a node
    // that is not ready), so only the journal's own reconnect can turn it.
    EXPECT_TRUE(eventually([&] { return readyz(server.admin_port()).status == 200; },
                           std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << describe(readyz(server.admin_port()));
    // Ready means writes work: at once, without a restart of serve. The payment refused above
    // left nothing behind, so its code pays now.
    Answer again =
        call(*client, "POST", "/v1/payments", merchant, pay_body(open_code.body["code"], 500));
    EXPECT_EQ(again.status, 200) << describe(again);
    EXPECT_EQ(again.body["status"], "completed") << describe(again);
    Answer created = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(created.status, 201) << describe(created);
    Answer paid_after =
        call(*client, "POST", "/v1/payments", merchant, pay_body(created.body["code"], 700));
    EXPECT_EQ(paid_after.status, 200) << describe(paid_after);
    EXPECT_EQ(paid_after.body["status"], "completed") << describe(paid_after);
    EXPECT_TRUE(server.process().running());
}

// ---- c. PostgreSQL down when serve starts -------------------------------------------------------

TEST_F(PgFault, DownAtStartWaitsThenServes) {
    ASSERT_TRUE(postgres_->stop().ok());
    TempDir dir;
    const std::string data_dir = dir.path() + "/serve";
    const std::uint16_t port = free_port();
    const std::uint16_t admin_port = free_port();
    Process serve({qrpay_binary(), "serve", "--listen", "127.0.0.1:" + std::to_string(port),
                   "--admin-listen", "127.0.0.1:" + std::to_string(admin_port), "--data-dir",
                   data_dir, "--journal", url_, "--journal-connect-wait", "60s"},
                  dir.path() + "/serve.log");

    ASSERT_TRUE(eventually(
        [&] {
            return file_text(serve.log_path()).find("waiting for PostgreSQL") != std::string::npos;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(20)))
        << serve.log_tail();
    EXPECT_NE(file_text(serve.log_path()).find("Connection refused"), std::string::npos)
        << "the log says why: " << serve.log_tail();
    // /readyz answers meanwhile, with the reason.
    Answer waiting;
    EXPECT_TRUE(eventually(
        [&] {
            waiting = readyz(admin_port);
            return waiting.status != 0;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(20)));
    EXPECT_EQ(waiting.status, 503) << describe(waiting);
    EXPECT_NE(waiting.raw.find("journal_unavailable: waiting for PostgreSQL"), std::string::npos)
        << describe(waiting);
    EXPECT_NE(waiting.raw.find("Connection refused"), std::string::npos) << describe(waiting);

    // No write is served without a journal (the API listener is not up yet).
    const std::string consumer = run_and_capture(qrpay_binary() + " token issue --data-dir " +
                                                 data_dir + " --role consumer --sub c --ttl 1h");
    const std::string merchant = run_and_capture(qrpay_binary() + " token issue --data-dir " +
                                                 data_dir + " --role merchant --sub m --ttl 1h");
    ASSERT_FALSE(consumer.empty());
    auto client = client_for(port, std::chrono::seconds(20), 1);
    Answer refused = call(*client, "POST", "/v1/payment-codes", consumer);
    EXPECT_NE(refused.status, 201) << describe(refused);
    EXPECT_TRUE(serve.running()) << serve.log_tail();

    ASSERT_TRUE(postgres_->restart().ok());
    EXPECT_TRUE(eventually([&] { return readyz(admin_port).status == 200; },
                           std::chrono::seconds(60), std::chrono::milliseconds(50)))
        << serve.log_tail();
    Answer created = call(*client, "POST", "/v1/payment-codes", consumer);
    ASSERT_EQ(created.status, 201) << describe(created);
    Answer paid =
        call(*client, "POST", "/v1/payments", merchant, pay_body(created.body["code"], 300));
    EXPECT_EQ(paid.status, 200) << describe(paid);
    EXPECT_EQ(paid.body["status"], "completed") << describe(paid);
    EXPECT_EQ(serve.terminate(), 0) << serve.log_tail();
}

// ---- d. partitions ---------------------------------------------------------------------------

// Two databases, shards by range: payments complete with events in both, a restart with the
// same list finds them, and a restart with another list is refused before serving.
TEST_F(PgFault, PartitionsHoldTheirShardsAndAnotherMapIsRefused) {
    ASSERT_TRUE(postgres_->create_database("second").ok());
    const std::string urls = url_ + "," + postgres_->url("second");
    TempDir dir;
    AgencySim agency(dir.path() + "/agency", {});
    std::vector<std::string> ids;
    {
        Server server(dir.path() + "/serve", {"--journal", urls, "--agency-url", agency.url()});
        server.start();
        auto client = client_for(server.port(), std::chrono::seconds(20), 1);
        const std::string consumer = server.token("consumer", "c");
        const std::string merchant = server.token("merchant", "m");
        for (int i = 0; i < 8; ++i) {
            Answer code = call(*client, "POST", "/v1/payment-codes", consumer);
            ASSERT_EQ(code.status, 201) << describe(code);
            Answer paid =
                call(*client, "POST", "/v1/payments", merchant, pay_body(code.body["code"], 100));
            ASSERT_EQ(paid.body["status"], "completed") << describe(paid);
            ids.push_back(paid.body["transaction_id"]);
        }
        EXPECT_EQ(server.terminate(), 0);
        server.start();  // the same list again: every payment is still there
        auto again = client_for(server.port(), std::chrono::seconds(20), 1);
        for (const std::string& id : ids) {
            Answer seen = call(*again, "GET", "/v1/transactions/" + id, merchant);
            EXPECT_EQ(seen.body["status"], "completed") << describe(seen);
        }
        EXPECT_EQ(server.terminate(), 0);
    }
    for (const std::string& name : {std::string("qrpay"), std::string("second")}) {
        auto db = postgres::Connection::open(postgres_->url(name));
        ASSERT_TRUE(db.ok());
        auto events = (*db)->query("SELECT count(*) FROM events");
        ASSERT_TRUE(events.ok());
        EXPECT_GT(events->int_at(0, 0), 0) << name << " holds events of its shards";
    }
    Process refused(
        {qrpay_binary(), "serve", "--listen", "127.0.0.1:" + std::to_string(free_port()),
         "--admin-listen", "127.0.0.1:" + std::to_string(free_port()), "--data-dir",
         dir.path() + "/serve", "--journal", url_},
        dir.path() + "/refused.log");
    EXPECT_TRUE(eventually([&] { return !refused.running(); }, std::chrono::seconds(60),
                           std::chrono::milliseconds(20)));
    EXPECT_NE(file_text(refused.log_path()).find("partition 0 of 2"), std::string::npos)
        << refused.log_tail();
}

}  // namespace
}  // namespace qrpay::harness
