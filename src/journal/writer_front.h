#pragma once
// WriterFront: what a journal with one writer thread does in front of that thread, the same for
// the SQLite and the PostgreSQL journal: validate an append and queue it (its `done` runs on
// the writer), queue a claim or a snapshot and wait for the writer's answer, and keep the
// commit listener (set once, before the first append). The writer takes its groups from
// queue().
//
// Thread safety: every method may be called from any thread but the writer's, which only
// calls queue() and commit_listener().

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "journal/journal.h"
#include "journal/write_queue.h"

namespace qrpay::journal {

class WriterFront {
public:
    explicit WriterFront(const WriteQueueLimits& limits) : queue_(limits) {}

    WriteQueue& queue() { return queue_; }

    // Journal::append: invalid_argument and unavailable are answered on this thread.
    void append(AppendRequest request, Journal::AppendCallback done);
    // Journal::save_snapshot and claim_shard: validated, queued, and the writer's answer
    // awaited. REQUIRES: not called on `writer` (it would wait for itself).
    Status save_snapshot(const std::string& persistence_id,
                         const Snapshot& snapshot,
                         std::thread::id writer);
    Status claim_shard(ShardId shard, FencingToken token, std::thread::id writer);

    // REQUIRES: before the first append.
    void set_commit_listener(Journal::CommitListener listener);
    // A copy, taken once per group by the writer.
    Journal::CommitListener commit_listener();

private:
    Status write_and_wait(WriteOp op, std::thread::id writer);

    WriteQueue queue_;           // thread-safe
    std::mutex listener_mutex_;  // guards listener_
    Journal::CommitListener listener_;
    std::atomic<bool> appended_any_{false};  // for the "set before the first append" rule
};

}  // namespace qrpay::journal
