#pragma once
// The bounded queue in front of a journal's writer thread (SQLite's and PostgreSQL's), and the
// rule that cuts it into groups: one group is one transaction and one sync.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "journal/journal.h"

namespace qrpay::journal {

struct ClaimOp {
    ShardId shard;
    FencingToken token;
};

struct SnapshotOp {
    std::string persistence_id;
    Snapshot snapshot;
};

// Everything the journal writes goes through the one writer: appends, claims and snapshots.
using WriteOp = std::variant<AppendRequest, ClaimOp, SnapshotOp>;

struct PendingWrite {
    WriteOp op;
    Journal::AppendCallback done;  // runs exactly once, with the write's outcome
    std::size_t events = 1;        // an append's event count; claims and snapshots count 1
    std::size_t bytes = 0;         // ids, types and payloads held in memory
};

// Builds a PendingWrite with its events and bytes measured.
PendingWrite make_pending_write(WriteOp op, Journal::AppendCallback done);

// The adaptive group wait (SqliteJournalOptions says what each knob means).
struct GroupWaitPolicy {
    std::chrono::microseconds wait_max{0};  // 0: never wait
    std::uint32_t commit_share_percent = 50;
};

// What the writer knows when it decides whether to wait for more writes before it commits.
struct GroupWaitInputs {
    std::size_t queued_writes = 0;
    bool group_full = false;            // group_events_max or group_bytes_max queued already
    std::size_t last_group_writes = 0;  // writes in the group committed before
    // Mean gap between recent pushes (each gap capped at the policy's wait_max), and the time
    // since the last push.
    std::chrono::nanoseconds arrival_gap_avg{0};
    std::chrono::nanoseconds since_last_arrival{0};
    std::chrono::nanoseconds commit_avg{0};  // mean duration of recent commits, sync included
    std::chrono::nanoseconds waited{0};      // how long this group has waited already
};

// How much longer the writer waits for the next write before it commits what is queued; zero:
// commit now. Waiting pays only while writes keep arriving faster than commits complete; it
// then lets one commit (one sync) carry them instead of two. The rule, in order:
//   - never when the policy's wait_max is 0, the group is full, or the writer was idle (the
//     last group held one write and one is queued: a lone append commits at once);
//   - at most budget = min(wait_max, commit_share_percent of commit_avg), minus what was
//     waited already;
//   - only while the arrival rate says another write comes within that budget
//     (arrival_gap_avg <= budget) and the arrivals have not stopped (since_last_arrival <=
//     burst_gap_multiple x arrival_gap_avg);
//   - then until the next write is due: burst_gap_multiple x arrival_gap_avg after the last
//     one, within the budget. Each push ends the wait early and the writer asks again.
// Pure: no clock, no state.
std::chrono::nanoseconds group_wait(const GroupWaitPolicy& policy, const GroupWaitInputs& inputs);

// How many mean gaps may pass without a write before the arrivals count as stopped.
inline constexpr std::int64_t burst_gap_multiple = 2;

struct WriteQueueLimits {
    std::size_t queued_writes_max = 100'000;  // beyond it try_push() refuses
    std::size_t queued_bytes_max = 256 << 20;
    std::size_t group_events_max = 1024;
    std::size_t group_bytes_max = 1 << 20;
    GroupWaitPolicy group_wait{};
};

// Many producers, one consumer (the writer thread). Thread-safe.
class WriteQueue {
public:
    explicit WriteQueue(const WriteQueueLimits& limits) : limits_(limits) {}

    // Queues `write` and returns true; or returns false, leaving `write` untouched, when the
    // queue is full (writes or bytes) or closed. A write larger than queued_bytes_max is
    // accepted only into an empty queue, so no write waits forever.
    [[nodiscard]] bool try_push(PendingWrite& write);

    // Blocks until a write is queued or the queue is closed. Then waits as long as
    // group_wait() says (never past the policy's wait_max). Returns the oldest writes that fit
    // group_events_max and group_bytes_max (at least one, in queue order), or nothing once
    // the queue is closed and drained. Writer thread only.
    std::vector<PendingWrite> take_group();
    // take_group(), except that it gives up when neither a write nor close() came within
    // `idle_max` (then nullopt), so that an idle writer can look after its connection.
    std::optional<std::vector<PendingWrite>> take_group_within(std::chrono::nanoseconds idle_max);

    // The writer reports each group's commit (how long it took, sync included, and its
    // writes), which group_wait() weighs. Writer thread only.
    void committed(std::chrono::nanoseconds took, std::size_t writes);

    // try_push refuses from now on; take_group still hands out what is queued.
    void close();

private:
    [[nodiscard]] bool group_full() const;  // REQUIRES: mutex_ held
    // The group wait, then the group. REQUIRES: `lock` holds mutex_; a write is queued or the
    // queue is closed.
    std::vector<PendingWrite> wait_and_pop_group(std::unique_lock<std::mutex>& lock);
    std::vector<PendingWrite> pop_group();  // REQUIRES: mutex_ held
    // REQUIRES: mutex_ held.
    [[nodiscard]] GroupWaitInputs wait_inputs(std::chrono::steady_clock::time_point now,
                                              std::chrono::steady_clock::time_point since) const;

    const WriteQueueLimits limits_;
    // Guards the members below; shared by every appending thread and the writer thread.
    std::mutex mutex_;
    std::condition_variable pushed_;
    std::deque<PendingWrite> writes_;
    std::size_t queued_events_ = 0;
    std::size_t queued_bytes_ = 0;
    bool closed_ = false;
    // The arrival rate: the last push, and the mean gap between pushes (an exponential
    // average, each gap capped at group_wait.wait_max so that an idle spell counts as one
    // long gap, not as many).
    std::chrono::steady_clock::time_point last_push_{};
    std::chrono::nanoseconds arrival_gap_avg_{0};
    // Written by committed() on the writer thread; read under mutex_ by the writer too.
    std::chrono::nanoseconds commit_avg_{0};
    std::size_t last_group_writes_ = 0;
};

}  // namespace qrpay::journal
