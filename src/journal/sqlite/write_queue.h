#pragma once
// The bounded queue in front of the SQLite journal's writer thread, and the rule that cuts it
// into groups: one group is one transaction and one sync.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "journal/journal.h"

namespace qrpay::journal::sqlite {

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

struct WriteQueueLimits {
    std::size_t queued_writes_max = 100'000;  // beyond it try_push() refuses
    std::size_t queued_bytes_max = 256 << 20;
    std::size_t group_events_max = 1024;
    std::size_t group_bytes_max = 1 << 20;
    std::chrono::microseconds group_wait_max{0};
};

// Many producers, one consumer (the writer thread). Thread-safe.
class WriteQueue {
public:
    explicit WriteQueue(const WriteQueueLimits& limits) : limits_(limits) {}

    // Queues `write` and returns true; or returns false, leaving `write` untouched, when the
    // queue is full (writes or bytes) or closed. A write larger than queued_bytes_max is
    // accepted only into an empty queue, so no write waits forever.
    [[nodiscard]] bool try_push(PendingWrite& write);

    // Blocks until a write is queued or the queue is closed. Then, when group_wait_max > 0,
    // waits up to that long for the group to fill. Returns the oldest writes that fit
    // group_events_max and group_bytes_max (at least one, in queue order), or nothing once
    // the queue is closed and drained.
    std::vector<PendingWrite> take_group();

    // try_push refuses from now on; take_group still hands out what is queued.
    void close();

private:
    [[nodiscard]] bool group_full() const;  // REQUIRES: mutex_ held
    std::vector<PendingWrite> pop_group();  // REQUIRES: mutex_ held

    const WriteQueueLimits limits_;
    // Guards the members below; shared by every appending thread and the writer thread.
    std::mutex mutex_;
    std::condition_variable pushed_;
    std::deque<PendingWrite> writes_;
    std::size_t queued_events_ = 0;
    std::size_t queued_bytes_ = 0;
    bool closed_ = false;
};

}  // namespace qrpay::journal::sqlite
