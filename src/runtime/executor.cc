#include "runtime/executor.h"

#include "base/assert.h"
#include "base/thread_name.h"

namespace qrpay::runtime {

Executor::Executor(std::size_t mailbox_depth_max, const Clock& clock)
    : mailbox_depth_max_(mailbox_depth_max), clock_(clock) {
    QRPAY_ASSERT(mailbox_depth_max > 0, "a mailbox needs room for one task");
}

Executor::~Executor() { stop(); }

void Executor::start(const std::string& thread_name) {
    QRPAY_ASSERT(!thread_.joinable(), "executor started twice");
    clock_.add_listener(*this);
    thread_ = std::thread([this, thread_name] {
        set_current_thread_name(thread_name);
        run();
    });
}

void Executor::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wakeup_.notify_all();
    if (thread_.joinable()) {
        QRPAY_ASSERT(!on_this_thread(), "an executor cannot stop itself");
        thread_.join();
        clock_.remove_listener(*this);
    }
}

// The lock orders this after the executor's look at the clock: either the executor saw the
// new time, or it is waiting and this wakes it.
void Executor::on_clock_advanced() {
    { std::lock_guard lock(mutex_); }
    wakeup_.notify_all();
}

bool Executor::push_locked(Task task) {
    tasks_.push_back(std::move(task));
    return waiting_;
}

Status Executor::post(Task task) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return {Errc::unavailable, "runtime is stopping"};
        }
        if (tasks_.size() >= mailbox_depth_max_) {
            return {Errc::unavailable, "executor mailbox is full"};
        }
        wake = push_locked(std::move(task));
    }
    if (wake) {
        wakeup_.notify_one();
    }
    return {};
}

void Executor::post_admitted(Task task) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        wake = push_locked(std::move(task));
    }
    if (wake) {
        wakeup_.notify_one();
    }
}

void Executor::post_at(TimePoint when, Task task) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return;
        }
        timers_.push(Timed{when, timer_order_++, std::move(task)});
        wake = waiting_;
    }
    if (wake) {
        wakeup_.notify_one();
    }
}

bool Executor::next_batch(std::deque<Task>& batch) {
    std::unique_lock lock(mutex_);
    for (;;) {
        batch.swap(tasks_);
        const auto now = clock_.monotonic_now();
        while (!timers_.empty() && timers_.top().when <= now) {
            // top() is const, but the node is popped right after: moving its task out is safe
            // and saves copying the captured state.
            batch.push_back(std::move(const_cast<Timed&>(timers_.top()).task));  // NOLINT
            timers_.pop();
        }
        if (!batch.empty()) {
            return true;
        }
        if (stopping_) {
            return false;
        }
        waiting_ = true;
        if (timers_.empty()) {
            wakeup_.wait(lock);
        } else {
            // A duration, not an instant: the injected clock's epoch need not be steady_clock's.
            wakeup_.wait_for(lock, timers_.top().when - now);
        }
        waiting_ = false;
    }
}

void Executor::run() {
    std::deque<Task> batch;
    while (next_batch(batch)) {
        while (!batch.empty()) {
            Task task = std::move(batch.front());
            batch.pop_front();
            task();
        }
    }
}

}  // namespace qrpay::runtime
