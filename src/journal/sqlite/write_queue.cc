#include "journal/sqlite/write_queue.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "journal/validation.h"

namespace qrpay::journal::sqlite {

PendingWrite make_pending_write(WriteOp op, Journal::AppendCallback done) {
    PendingWrite write{.op = std::move(op), .done = std::move(done), .events = 1, .bytes = 0};
    if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
        write.events = append->events.size();
        write.bytes = append_bytes(*append);
    } else if (const auto* snapshot = std::get_if<SnapshotOp>(&write.op)) {
        write.bytes = snapshot->persistence_id.size() + snapshot->snapshot.payload.size();
    }
    return write;
}

bool WriteQueue::try_push(PendingWrite& write) {
    {
        std::lock_guard lock(mutex_);
        if (closed_ || writes_.size() >= limits_.queued_writes_max) {
            return false;
        }
        if (!writes_.empty() && queued_bytes_ + write.bytes > limits_.queued_bytes_max) {
            return false;
        }
        queued_events_ += write.events;
        queued_bytes_ += write.bytes;
        writes_.push_back(std::move(write));
    }
    pushed_.notify_one();
    return true;
}

std::vector<PendingWrite> WriteQueue::take_group() {
    std::unique_lock lock(mutex_);
    pushed_.wait(lock, [this] { return closed_ || !writes_.empty(); });
    if (writes_.empty()) {
        return {};
    }
    if (limits_.group_wait_max.count() > 0) {
        auto deadline = std::chrono::steady_clock::now() + limits_.group_wait_max;
        pushed_.wait_until(lock, deadline, [this] { return closed_ || group_full(); });
    }
    return pop_group();
}

void WriteQueue::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    pushed_.notify_all();
}

bool WriteQueue::group_full() const {
    return queued_events_ >= limits_.group_events_max || queued_bytes_ >= limits_.group_bytes_max;
}

std::vector<PendingWrite> WriteQueue::pop_group() {
    QRPAY_ASSERT(!writes_.empty(), "pop_group on an empty queue");
    std::vector<PendingWrite> group;
    // Sized once: this runs under the lock every appending thread waits for.
    group.reserve(std::min(writes_.size(), limits_.group_events_max));
    std::size_t events = 0;
    std::size_t bytes = 0;
    while (!writes_.empty()) {
        const PendingWrite& next = writes_.front();
        bool fits = events + next.events <= limits_.group_events_max &&
                    bytes + next.bytes <= limits_.group_bytes_max;
        if (!group.empty() && !fits) {
            break;
        }
        events += next.events;
        bytes += next.bytes;
        group.push_back(std::move(writes_.front()));
        writes_.pop_front();
    }
    QRPAY_ASSERT(queued_events_ >= events && queued_bytes_ >= bytes, "queue counters drifted");
    queued_events_ -= events;
    queued_bytes_ -= bytes;
    return group;
}

}  // namespace qrpay::journal::sqlite
