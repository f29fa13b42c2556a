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

Status Executor::post(Task task) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return {Errc::unavailable, "runtime is stopping"};
        }
        if (tasks_.size() >= mailbox_depth_max_) {
            return {Errc::unavailable, "executor mailbox is full"};
        }
        tasks_.push_back(std::move(task));
    }
    wakeup_.notify_one();
    return {};
}

void Executor::post_admitted(Task task) {
    {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
    }
    wakeup_.notify_one();
}

void Executor::post_at(TimePoint when, Task task) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return;
        }
        timers_.push(Timed{when, timer_order_++, std::move(task)});
    }
    wakeup_.notify_one();
}

// Takes the next task to run: queued tasks first, then a due timer. False when stopping and
// nothing is queued.
bool Executor::next_task(Task& task) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (!tasks_.empty()) {
            task = std::move(tasks_.front());
            tasks_.pop_front();
            return true;
        }
        if (stopping_) {
            return false;
        }
        if (timers_.empty()) {
            wakeup_.wait(lock);
            continue;
        }
        auto due = timers_.top().when;
        auto now = clock_.monotonic_now();
        if (now >= due) {
            // top() is const, but the node is popped right after: moving its task out is safe
            // and saves copying the captured state.
            task = std::move(const_cast<Timed&>(timers_.top()).task);  // NOLINT
            timers_.pop();
            return true;
        }
        // A duration, not an instant: the injected clock's epoch need not be steady_clock's.
        wakeup_.wait_for(lock, due - now);
    }
}

void Executor::run() {
    Task task;
    while (next_task(task)) {
        task();
        task = nullptr;
    }
}

}  // namespace qrpay::runtime
