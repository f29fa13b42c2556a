#pragma once
// Payments under a fault, for the tests that take the journal's store away (pg_fault_test.cc:
// PostgreSQL killed and restarted; patroni_test.cc: the primary killed and its standby
// promoted). A Load drives payments from several threads through a running `qrpay serve` and
// keeps every answer; check_every_payment_ends() then waits for each payment to be final and
// checks what a payment operator needs after the fault: nothing answered completed is lost,
// nothing refused went on, and the agency's ledger agrees with qrpay's.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"

namespace qrpay::harness {

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
    [[nodiscard]] std::string text(const char* field) const;
};

Answer call(http::Client& client,
            const std::string& method,
            const std::string& path,
            const std::string& token = "",
            const std::string& body = "",
            const std::string& idempotency_key = "");

// The 503 problem codes that say nothing changed: the journal is gone. A cluster adds its own
// (the shard is moving, its owner was fenced).
struct LoadOptions {
    std::vector<std::string> nothing_changed_codes = {"journal_unavailable"};
    // The test kills the server itself: a call that got no answer at all is allowed too.
    bool server_killed = false;
};

// What a write may answer while the journal's store (or a node) comes and goes: its success
// (200, 201, 202), or a 503 problem with Retry-After that says nothing changed, or, for the few
// writes whose COMMIT (or forwarded command) was under way when it went, that the outcome is
// unknown (it may or may not have happened). Never a 500, never a silent connection failure.
bool is_allowed_answer(const Answer& answer, const LoadOptions& options = {});
std::string describe(const Answer& answer);

struct Tracked {
    std::string id;
    std::int64_t amount = 0;
    Answer pay{};
    bool cancel_sent = false;
    Answer cancel{};
};

// Payments from several threads, keeping every answer. Each round asks for a code and pays the
// one asked for in the round before, so that some payments are sent during an outage for codes
// issued before it; half of the payments completed are cancelled.
class Load {
public:
    Load(std::uint16_t port, std::string consumer, std::string merchant, LoadOptions options = {});
    ~Load();  // stop()
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;
    Load(Load&&) = delete;
    Load& operator=(Load&&) = delete;

    void run(int threads);
    void stop();
    std::vector<Tracked> tracked();
    // Answers that is_allowed_answer() refuses, described.
    std::vector<std::string> refused_answers();
    [[nodiscard]] int completed_answers() const { return completed_answers_.load(); }
    // Answers other than 200, 201 and 202, described (allowed or not).
    std::vector<std::string> unsuccessful_answers();
    // Answers with one of the nothing-changed codes.
    [[nodiscard]] int nothing_changed_answers() const { return nothing_changed_answers_.load(); }
    [[nodiscard]] bool nothing_changed(const Answer& answer) const;

private:
    void loop(int thread);
    void pay(http::Client& client, std::size_t index, const std::string& code, int round);
    Answer judged(Answer answer);
    std::size_t remember(const Tracked& item);
    Tracked tracked_at(std::size_t index);
    template <class Change>
    void update(std::size_t index, Change change) {
        std::lock_guard lock(mutex_);
        change(tracked_[index]);
    }

    std::uint16_t port_;
    std::string consumer_;
    std::string merchant_;
    LoadOptions options_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> completed_answers_{0};
    std::atomic<int> nothing_changed_answers_{0};
    std::mutex mutex_;
    std::vector<Tracked> tracked_;
    std::vector<std::string> refused_;
    std::vector<std::string> unsuccessful_;
    std::vector<std::thread> workers_;
};

// Polls the transaction until it is final or the deadline passes; returns the last view (404
// means another party's transaction: a merchant's before the code was read).
nlohmann::json wait_final(http::Client& client,
                          const std::string& token,
                          const std::string& id,
                          std::chrono::steady_clock::time_point deadline);

// After load.stop(): waits (up to 150 s in all) until every tracked payment is final and
// checks it with gtest: one answered completed is completed (or cancelled, when a cancel may
// have run), one refused as nothing changed expired unread, and the agency's net for
// `merchant_subject` equals the sum of the completed amounts. Prints the answers by kind.
void check_every_payment_ends(Load& load,
                              std::uint16_t port,
                              std::uint16_t agency_port,
                              const std::string& consumer,
                              const std::string& merchant,
                              const std::string& merchant_subject);

}  // namespace qrpay::harness
