#pragma once
// Helpers for journal tests: a temporary directory, request builders, and collectors for
// outcomes and commit-listener calls that wait with a deadline. Test-only
// (qrpay_journal_conformance).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "journal/journal.h"

namespace qrpay {

// Readable values in GoogleTest failure messages (found by argument-dependent lookup).
template <class Tag, class Rep>
void PrintTo(const StrongInt<Tag, Rep>& value, std::ostream* out) {
    *out << value.value;
}
inline void PrintTo(Errc errc, std::ostream* out) { *out << errc_name(errc); }

}  // namespace qrpay

namespace qrpay::journal::conformance {

// How long a test waits for a journal's answer before it fails: generous, because a slow
// machine must not make a test flaky; it bounds a hang, it measures nothing.
inline constexpr std::chrono::seconds answer_wait_max{60};

// A fresh directory made by mkdtemp under /tmp; removed with its contents on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&&) = delete;
    TempDir& operator=(TempDir&&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

// `event_count` events typed "Event" with payloads "<persistence_id>#<seq>", written at 1000.
AppendRequest make_append(const std::string& persistence_id,
                          SequenceNr expected_seq,
                          std::size_t event_count,
                          ShardId shard = ShardId(1),
                          FencingToken fencing = FencingToken());

// The payload make_append() gives the event `seq` of `persistence_id`.
std::string payload_of(const std::string& persistence_id, SequenceNr seq);

// Collects the outcomes of asynchronous appends. Thread-safe; the callbacks keep the shared
// state alive, so the log may go away before a late callback runs.
class OutcomeLog {
public:
    explicit OutcomeLog(std::size_t expected_count);
    // The callback for append number `index` (< expected_count). Fails the test when it runs
    // twice.
    Journal::AppendCallback callback(std::size_t index);
    // True once every expected outcome arrived; false after answer_wait_max.
    bool wait_all();
    // Outcomes by index; ok for those that have not arrived.
    [[nodiscard]] std::vector<Status> statuses() const;

private:
    struct State {
        std::mutex mutex;  // guards the members below; shared with the journal's threads
        std::condition_variable arrived;
        std::vector<Status> statuses;
        std::vector<bool> answered;
        std::size_t answered_count = 0;
    };
    std::shared_ptr<State> state_;
};

// Records commit-listener calls. Thread-safe, with the same lifetime rule as OutcomeLog.
class ListenerLog {
public:
    ListenerLog();
    Journal::CommitListener listener();
    // True once the listener reported `offset` (or more) for `shard`; false after
    // answer_wait_max.
    bool wait_for(ShardId shard, ShardOffset offset);
    // Every call in order.
    [[nodiscard]] std::vector<std::pair<ShardId, ShardOffset>> calls() const;

private:
    struct State {
        std::mutex mutex;  // guards the members below; shared with the journal's threads
        std::condition_variable called;
        std::vector<std::pair<ShardId, ShardOffset>> calls;
        std::unordered_map<ShardId, ShardOffset> highest;
    };
    std::shared_ptr<State> state_;
};

}  // namespace qrpay::journal::conformance
