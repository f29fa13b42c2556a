#include "journal/conformance/journal_test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <system_error>

#include "base/assert.h"

namespace qrpay::journal::conformance {

TempDir::TempDir() {
    std::string pattern = "/tmp/qrpay_journal_XXXXXX";
    char* made = mkdtemp(pattern.data());
    QRPAY_ASSERT(made != nullptr, "mkdtemp failed");
    path_ = made;
}

TempDir::~TempDir() {
    std::error_code ignored;  // a leftover temporary directory must not fail a test
    std::filesystem::remove_all(path_, ignored);
}

AppendRequest make_append(const std::string& persistence_id,
                          SequenceNr expected_seq,
                          std::size_t event_count,
                          ShardId shard,
                          FencingToken fencing) {
    AppendRequest request{.shard = shard,
                          .fencing = fencing,
                          .persistence_id = persistence_id,
                          .expected_seq = expected_seq,
                          .events = {},
                          .written_at = UnixMs{1000},
                          .wake_at = std::nullopt,
                          .claimed_keys = {}};
    for (std::size_t i = 1; i <= event_count; ++i) {
        SequenceNr seq(expected_seq.value + i);
        request.events.push_back({.type = "Event", .payload = payload_of(persistence_id, seq)});
    }
    return request;
}

std::string payload_of(const std::string& persistence_id, SequenceNr seq) {
    return persistence_id + "#" + std::to_string(seq.value);
}

OutcomeLog::OutcomeLog(std::size_t expected_count) : state_(std::make_shared<State>()) {
    state_->statuses.resize(expected_count);
    state_->answered.resize(expected_count, false);
}

Journal::AppendCallback OutcomeLog::callback(std::size_t index) {
    QRPAY_ASSERT(index < state_->statuses.size(), "callback index out of range");
    return [state = state_, index](Status status) {
        {
            std::lock_guard lock(state->mutex);
            EXPECT_FALSE(state->answered[index]) << "append " << index << " answered twice";
            state->answered[index] = true;
            state->statuses[index] = std::move(status);
            ++state->answered_count;
        }
        state->arrived.notify_all();
    };
}

bool OutcomeLog::wait_all() {
    std::unique_lock lock(state_->mutex);
    return state_->arrived.wait_for(lock, answer_wait_max, [this] {
        return state_->answered_count >= state_->statuses.size();
    });
}

std::vector<Status> OutcomeLog::statuses() const {
    std::lock_guard lock(state_->mutex);
    return state_->statuses;
}

ListenerLog::ListenerLog() : state_(std::make_shared<State>()) {}

Journal::CommitListener ListenerLog::listener() {
    return [state = state_](ShardId shard, ShardOffset offset) {
        {
            std::lock_guard lock(state->mutex);
            state->calls.emplace_back(shard, offset);
            ShardOffset& highest = state->highest[shard];
            EXPECT_LT(highest, offset) << "durable offset went backwards on shard " << shard.value;
            highest = std::max(highest, offset);
        }
        state->called.notify_all();
    };
}

bool ListenerLog::wait_for(ShardId shard, ShardOffset offset) {
    std::unique_lock lock(state_->mutex);
    return state_->called.wait_for(lock, answer_wait_max, [&] {
        auto found = state_->highest.find(shard);
        return found != state_->highest.end() && found->second >= offset;
    });
}

std::vector<std::pair<ShardId, ShardOffset>> ListenerLog::calls() const {
    std::lock_guard lock(state_->mutex);
    return state_->calls;
}

}  // namespace qrpay::journal::conformance
