#include "api/change_feed.h"

#include <algorithm>

namespace qrpay::api {

ChangeFeed::ChangeFeed(std::size_t waiters_max)
    : waiters_max_(waiters_max), scheduler_(http::SchedulerOptions{.threads = 1}) {}

ChangeFeed::~ChangeFeed() { stop(); }

Result<ChangeFeed::WaiterId> ChangeFeed::wait(const std::string& persistence_id,
                                              SequenceNr after_seq,
                                              std::chrono::milliseconds timeout,
                                              Fired fired) {
    WaiterId id = 0;
    {
        std::lock_guard lock(mutex_);
        if (waiter_count_ >= waiters_max_) {
            return Status(Errc::unavailable, "too many waiting requests");
        }
        id = next_id_++;
        waiters_[persistence_id].push_back(Waiter{id, after_seq, std::move(fired), {}});
        ++waiter_count_;
    }
    auto timer = scheduler_.run_after(timeout, [this, persistence_id, id] {
        if (Fired fired_now = take(persistence_id, id)) {
            fired_now(false);
        }
    });
    if (!timer.ok()) {
        if (Fired fired_now = take(persistence_id, id)) {
            fired_now(false);
        }
        return id;
    }
    std::lock_guard lock(mutex_);
    auto it = waiters_.find(persistence_id);
    if (it != waiters_.end()) {
        for (auto& waiter : it->second) {
            if (waiter.id == id) {
                waiter.timer = *timer;
            }
        }
    }
    return id;
}

// Removes the waiter and returns its callback; empty when it already fired.
ChangeFeed::Fired ChangeFeed::take(const std::string& persistence_id, WaiterId id) {
    std::lock_guard lock(mutex_);
    auto it = waiters_.find(persistence_id);
    if (it == waiters_.end()) {
        return nullptr;
    }
    auto& list = it->second;
    auto found = std::find_if(list.begin(), list.end(),
                              [id](const Waiter& waiter) { return waiter.id == id; });
    if (found == list.end()) {
        return nullptr;
    }
    Fired fired = std::move(found->fired);
    list.erase(found);
    --waiter_count_;
    if (list.empty()) {
        waiters_.erase(it);
    }
    return fired;
}

void ChangeFeed::fire_now(const std::string& persistence_id, WaiterId id) {
    if (Fired fired = take(persistence_id, id)) {
        fired(true);
    }
}

void ChangeFeed::on_persisted(const std::string& persistence_id, SequenceNr seq) {
    std::vector<Waiter> due;
    {
        std::lock_guard lock(mutex_);
        auto it = waiters_.find(persistence_id);
        if (it == waiters_.end()) {
            return;
        }
        auto& list = it->second;
        auto split = std::partition(list.begin(), list.end(), [seq](const Waiter& waiter) {
            return waiter.after_seq >= seq;
        });
        std::move(split, list.end(), std::back_inserter(due));
        list.erase(split, list.end());
        waiter_count_ -= due.size();
        if (list.empty()) {
            waiters_.erase(it);
        }
    }
    for (auto& waiter : due) {
        scheduler_.cancel(waiter.timer);
        waiter.fired(true);
    }
}

void ChangeFeed::stop() { scheduler_.stop(); }

}  // namespace qrpay::api
