#include "tests/integration/payment_load.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <utility>

#include "tests/integration/api_client.h"

namespace qrpay::harness {

std::string Answer::text(const char* field) const {
    return body.is_object() && body.contains(field) && body[field].is_string()
               ? body[field].get<std::string>()
               : "";
}

Answer call(http::Client& client,
            const std::string& method,
            const std::string& path,
            const std::string& token,
            const std::string& body,
            const std::string& idempotency_key) {
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

bool is_allowed_answer(const Answer& answer, const LoadOptions& options) {
    if (answer.status == 200 || answer.status == 201 || answer.status == 202 ||
        (answer.status == 0 && options.server_killed)) {
        return true;
    }
    const bool unknown_outcome = answer.code() == "storage_unavailable" &&
                                 answer.raw.find("may or may not") != std::string::npos;
    return answer.status == 503 && answer.content_type == "application/problem+json" &&
           std::atoi(answer.retry_after.c_str()) > 0 &&
           (unknown_outcome ||
            std::find(options.nothing_changed_codes.begin(), options.nothing_changed_codes.end(),
                      answer.code()) != options.nothing_changed_codes.end());
}

std::string describe(const Answer& answer) {
    return std::to_string(answer.status) + " " + answer.content_type +
           " Retry-After=" + answer.retry_after + " " + answer.raw;
}

Load::Load(std::uint16_t port, std::string consumer, std::string merchant, LoadOptions options)
    : port_(port),
      consumer_(std::move(consumer)),
      merchant_(std::move(merchant)),
      options_(std::move(options)) {}

bool Load::nothing_changed(const Answer& answer) const {
    return answer.status == 503 &&
           std::find(options_.nothing_changed_codes.begin(), options_.nothing_changed_codes.end(),
                     answer.code()) != options_.nothing_changed_codes.end();
}

Load::~Load() { stop(); }

void Load::run(int threads) {
    for (int t = 0; t < threads; ++t) {
        workers_.emplace_back([this, t] { loop(t); });
    }
}

void Load::stop() {
    stopping_ = true;
    for (auto& worker : workers_) {
        worker.join();
    }
    workers_.clear();
}

std::vector<Tracked> Load::tracked() {
    std::lock_guard lock(mutex_);
    return tracked_;
}

std::vector<std::string> Load::refused_answers() {
    std::lock_guard lock(mutex_);
    return refused_;
}

std::vector<std::string> Load::unsuccessful_answers() {
    std::lock_guard lock(mutex_);
    return unsuccessful_;
}

void Load::loop(int thread) {
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
        Tracked item{.id = created.body["transaction_id"], .amount = 100 + thread * 1000 + round};
        unpaid.emplace(remember(item), created.body["code"]);
    }
}

void Load::pay(http::Client& client, std::size_t index, const std::string& code, int round) {
    const Tracked item = tracked_at(index);
    // Half of them with an Idempotency-Key, whose lookup reads the journal first.
    const std::string key = round % 2 == 0 ? "k-" + item.id : "";
    Answer paid =
        judged(call(client, "POST", "/v1/payments", merchant_, pay_body(code, item.amount), key));
    update(index, [&](Tracked& t) { t.pay = paid; });
    if (paid.status != 200 || paid.transaction_status() != "completed") {
        return;
    }
    ++completed_answers_;
    if (round % 4 < 2) {
        update(index, [](Tracked& t) { t.cancel_sent = true; });
        Answer cancelled = judged(call(client, "POST", "/v1/transactions/" + item.id + "/cancel",
                                       merchant_, "", "c-" + item.id));
        update(index, [&](Tracked& t) { t.cancel = cancelled; });
    }
}

Answer Load::judged(Answer answer) {
    nothing_changed_answers_ += nothing_changed(answer) ? 1 : 0;
    const bool success = answer.status == 200 || answer.status == 201 || answer.status == 202;
    if (!success) {
        std::lock_guard lock(mutex_);
        unsuccessful_.push_back(describe(answer));
        if (!is_allowed_answer(answer, options_)) {
            refused_.push_back(describe(answer));
        }
    }
    return answer;
}

std::size_t Load::remember(const Tracked& item) {
    std::lock_guard lock(mutex_);
    tracked_.push_back(item);
    return tracked_.size() - 1;
}

Tracked Load::tracked_at(std::size_t index) {
    std::lock_guard lock(mutex_);
    return tracked_[index];
}

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

namespace {

// One payment's end against what its client was told.
void check_payment(const Load& load, const Tracked& item, const std::string& status) {
    const bool paid_completed =
        item.pay.status == 200 && item.pay.transaction_status() == "completed";
    const bool cancel_may_have_run = item.cancel_sent && !load.nothing_changed(item.cancel);
    if (paid_completed) {
        EXPECT_TRUE(status == "completed" || (status == "cancelled" && cancel_may_have_run))
            << item.id << " was answered completed, now " << status;
    }
    if (load.nothing_changed(item.pay)) {  // the code was not read
        EXPECT_EQ(status, "expired") << item.id << " was refused, yet went on to " << status;
    }
}

// The payment's last view as its merchant, or, for one the merchant never read, its consumer
// sees it.
nlohmann::json final_view(http::Client& client,
                          const std::string& id,
                          const std::string& consumer,
                          const std::string& merchant,
                          std::chrono::steady_clock::time_point deadline) {
    nlohmann::json view = wait_final(client, merchant, id, deadline);
    return view.is_object() ? view : wait_final(client, consumer, id, deadline);
}

std::string answer_kind(const Tracked& item, const std::string& status) {
    return (item.pay.status == 0 ? std::string("never paid")
                                 : std::to_string(item.pay.status) + " " + item.pay.code() +
                                       item.pay.transaction_status()) +
           " -> " + status;
}

}  // namespace

void check_every_payment_ends(Load& load,
                              std::uint16_t port,
                              std::uint16_t agency_port,
                              const std::string& consumer,
                              const std::string& merchant,
                              const std::string& merchant_subject) {
    for (const std::string& refused : load.refused_answers()) {
        ADD_FAILURE() << "answer outside 200/201/202 and 503 with Retry-After: " << refused;
    }
    auto client = client_for(port, std::chrono::seconds(15), 4);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
    std::int64_t completed_sum = 0;
    int completed = 0;
    int cancelled = 0;
    std::map<std::string, int> answers_by_kind;
    const std::vector<Tracked> tracked = load.tracked();
    for (const Tracked& item : tracked) {
        const nlohmann::json view = final_view(*client, item.id, consumer, merchant, deadline);
        ASSERT_TRUE(view.is_object()) << item.id;
        const std::string status = view["status"];
        ASSERT_TRUE(is_final_status(status)) << item.id << " stuck in " << status;
        check_payment(load, item, status);
        ++answers_by_kind[answer_kind(item, status)];
        if (status == "completed") {
            completed_sum += view["amount"]["value"].get<std::int64_t>();
            ++completed;
        }
        cancelled += status == "cancelled" ? 1 : 0;
    }
    EXPECT_GT(completed, 0);
    EXPECT_GT(cancelled, 0);
    for (const auto& [kind, count] : answers_by_kind) {  // for the reader of a failed run
        std::printf("pay %s: %d\n", kind.c_str(), count);
    }
    std::printf("%zu payments: %d completed, %d cancelled; %d answers said nothing changed\n",
                tracked.size(), completed, cancelled, load.nothing_changed_answers());
    EXPECT_EQ(agency_net_minor(agency_port, merchant_subject), completed_sum)
        << "agency ledger and server disagree";
}

}  // namespace qrpay::harness
