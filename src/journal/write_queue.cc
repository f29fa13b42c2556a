#include "journal/write_queue.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "journal/validation.h"

namespace qrpay::journal {

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

namespace {

using std::chrono::nanoseconds;
using SteadyClock = std::chrono::steady_clock;

// Weight of the newest sample in the exponential averages: 1/average_weight_inverse.
constexpr std::int64_t average_weight_inverse = 8;

nanoseconds averaged(nanoseconds average, nanoseconds sample) {
    return average + (sample - average) / average_weight_inverse;
}

}  // namespace

nanoseconds group_wait(const GroupWaitPolicy& policy, const GroupWaitInputs& inputs) {
    const nanoseconds none{0};
    if (policy.wait_max <= none || inputs.group_full || inputs.queued_writes == 0) {
        return none;
    }
    if (inputs.last_group_writes <= 1 && inputs.queued_writes <= 1) {
        return none;  // the writer was idle: a lone write commits at once
    }
    const nanoseconds share = inputs.commit_avg * policy.commit_share_percent / 100;
    const nanoseconds budget = std::min<nanoseconds>(policy.wait_max, share) - inputs.waited;
    if (budget <= none || inputs.arrival_gap_avg > budget) {
        return none;  // no write expected before the budget runs out
    }
    const nanoseconds next_due = burst_gap_multiple * inputs.arrival_gap_avg;
    if (inputs.since_last_arrival >= next_due) {
        return none;  // the arrivals have stopped
    }
    return std::min(budget, next_due - inputs.since_last_arrival);
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
        if (limits_.group_wait.wait_max.count() > 0) {
            const SteadyClock::time_point now = SteadyClock::now();
            const nanoseconds gap =
                std::min<nanoseconds>(now - last_push_, limits_.group_wait.wait_max);
            arrival_gap_avg_ = averaged(arrival_gap_avg_, gap);
            last_push_ = now;
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
    return wait_and_pop_group(lock);
}

std::optional<std::vector<PendingWrite>> WriteQueue::take_group_within(nanoseconds idle_max) {
    std::unique_lock lock(mutex_);
    if (!pushed_.wait_for(lock, idle_max, [this] { return closed_ || !writes_.empty(); })) {
        return std::nullopt;
    }
    return wait_and_pop_group(lock);
}

std::vector<PendingWrite> WriteQueue::wait_and_pop_group(std::unique_lock<std::mutex>& lock) {
    if (writes_.empty()) {
        return {};
    }
    if (limits_.group_wait.wait_max.count() > 0) {
        const SteadyClock::time_point since = SteadyClock::now();
        for (SteadyClock::time_point now = since; !closed_; now = SteadyClock::now()) {
            const nanoseconds wait = group_wait(limits_.group_wait, wait_inputs(now, since));
            if (wait.count() <= 0) {
                break;
            }
            // Woken by the next push (or closing); group_wait() then decides again.
            pushed_.wait_for(lock, wait);
        }
    }
    return pop_group();
}

void WriteQueue::committed(nanoseconds took, std::size_t writes) {
    std::lock_guard lock(mutex_);
    commit_avg_ = averaged(commit_avg_, took);
    last_group_writes_ = writes;
}

GroupWaitInputs WriteQueue::wait_inputs(SteadyClock::time_point now,
                                        SteadyClock::time_point since) const {
    return {.queued_writes = writes_.size(),
            .group_full = group_full(),
            .last_group_writes = last_group_writes_,
            .arrival_gap_avg = arrival_gap_avg_,
            .since_last_arrival = now - last_push_,
            .commit_avg = commit_avg_,
            .waited = now - since};
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

}  // namespace qrpay::journal
