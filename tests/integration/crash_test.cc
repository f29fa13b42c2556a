// Crash: under a steady stream of payments (and some cancellations), kill -9 the server and
// restart it, against an agency that times out and fails with 5xx now and then. Afterwards:
// every payment whose response said completed is still completed (or cancelled, when we asked),
// every transaction reaches a final state, and the agency's ledger net equals completed minus
// cancelled as the server reports them (DESIGN §5.3, §5.4, §5.5).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "tests/integration/api_client.h"

namespace qrpay::harness {
namespace {

struct Tracked {
    std::string id;
    std::int64_t amount = 0;
    std::string pay_status;  // what the pay response said, if it came
    bool cancel_sent = false;
};

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
    int completed_responses() const { return completed_responses_.load(); }

private:
    void loop(int thread) {
        auto client = client_for(port_, std::chrono::seconds(10), 1);
        for (int i = 0; !stopping_; ++i) {
            auto created = call_api(*client, "POST", "/v1/payment-codes", consumer_);
            if (created.status != 201) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
            Tracked item{created.body["transaction_id"], 100 + thread * 1000 + i, "", false};
            std::size_t index = remember(item);
            std::string key = "k-" + item.id;
            auto paid = call_api(*client, "POST", "/v1/payments", merchant_,
                                 pay_body(created.body["code"], item.amount), key);
            if (paid.status != 200 && paid.status != 202) {
                continue;
            }
            std::string status = paid.body["status"];
            update(index, [&](Tracked& t) { t.pay_status = status; });
            if (status == "completed") {
                ++completed_responses_;
                if (i % 4 == 0) {
                    update(index, [](Tracked& t) { t.cancel_sent = true; });
                    call_api(*client, "POST", "/v1/transactions/" + item.id + "/cancel", merchant_,
                             "", "c-" + item.id);
                }
            }
        }
    }
    std::size_t remember(const Tracked& item) {
        std::lock_guard lock(mutex_);
        tracked_.push_back(item);
        return tracked_.size() - 1;
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
    std::atomic<int> completed_responses_{0};
    std::mutex mutex_;
    std::vector<Tracked> tracked_;
    std::vector<std::thread> workers_;
};

// Polls the transaction until it is final or the deadline passes; returns the last view.
nlohmann::json wait_final(http::Client& client,
                          const std::string& token,
                          const std::string& id,
                          std::chrono::steady_clock::time_point deadline) {
    nlohmann::json last;
    while (std::chrono::steady_clock::now() < deadline) {
        std::string after = last.is_object() ? std::to_string(last["version"].get<int>()) : "0";
        auto seen = call_api(client, "GET",
                             "/v1/transactions/" + id + "?wait=5&after_version=" + after, token);
        if (seen.status == 404) {
            return last;  // not this party's transaction (a merchant's, before it was read)
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

TEST(Crash, KillNineUnderLoadLosesNoPaymentAndConservesMoney) {
    TempDir dir;
    AgencySim agency(dir.path() + "/agency",
                     {.error_5xx_rate = 0.1, .timeout_rate = 0.1, .latency_ms = 2});
    Server server(dir.path() + "/serve",
                  {"--agency-url", agency.url(), "--agency-timeout", "500ms", "--code-ttl", "3s"});
    server.start();
    std::string consumer = server.token("consumer", "consumer-crash");
    std::string merchant = server.token("merchant", "merchant-crash");

    Load load(server.port(), consumer, merchant);
    load.run(4);
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (load.completed_responses() < 40 && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    server.kill_hard();
    load.stop();
    ASSERT_GE(load.completed_responses(), 40) << server.process().log_tail();
    server.start();

    auto client = client_for(server.port(), std::chrono::seconds(15), 4);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    std::int64_t completed_sum = 0;
    int completed = 0;
    int cancelled = 0;
    for (const auto& item : load.tracked()) {
        nlohmann::json view = wait_final(*client, merchant, item.id, deadline);
        if (!view.is_object()) {  // never read by a merchant: only its consumer may look
            view = wait_final(*client, consumer, item.id, deadline);
        }
        ASSERT_TRUE(view.is_object()) << item.id;
        std::string status = view["status"];
        ASSERT_TRUE(is_final_status(status)) << item.id << " stuck in " << status;
        if (item.pay_status == "completed") {
            EXPECT_TRUE(status == "completed" || (status == "cancelled" && item.cancel_sent))
                << item.id << " said completed, now " << status;
        }
        if (status == "completed") {
            completed_sum += view["amount"]["value"].get<std::int64_t>();
            ++completed;
        }
        cancelled += status == "cancelled" ? 1 : 0;
    }
    EXPECT_GT(completed, 0);
    EXPECT_GT(cancelled, 0);

    EXPECT_EQ(agency_net_minor(agency.port(), "merchant-crash"), completed_sum)
        << "agency ledger and server disagree";
}

}  // namespace
}  // namespace qrpay::harness
