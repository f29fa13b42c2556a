#pragma once
// Executor: one thread running tasks in arrival order, and timed tasks at their time.
// Runtime-internal; entity code never sees it.
//
// Time: a timer is due when the injected Clock's monotonic_now() reaches it. The thread
// sleeps until the next timer for as long as real time says, and the clock wakes it when it
// jumps (ManualClock::advance() calls on_clock_advanced), so a test sees a timer fire by
// advancing the clock, without sleeping. A real clock never calls back: the production path
// is one wait with a timeout, as before.
//
// Cost: the thread takes every queued task (and every due timer) in one batch per lock, and a
// poster wakes it only while it waits, so a burst of posts costs one wake-up, not one each.
// Due timers run after the batch they are found with, so a busy executor never starves them.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace qrpay::runtime {

class Executor final : private Clock::Listener {
public:
    using Task = std::function<void()>;
    using TimePoint = std::chrono::steady_clock::time_point;

    // REQUIRES: `clock` outlives the executor.
    Executor(std::size_t mailbox_depth_max, const Clock& clock);
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;
    Executor(Executor&&) = delete;
    Executor& operator=(Executor&&) = delete;

    // `thread_name` shows in top -H and perf (base/thread_name.h).
    void start(const std::string& thread_name = "qrpay-executor");
    // Runs the tasks already queued, drops pending timers, joins the thread.
    void stop();

    // Bounded: unavailable when mailbox_depth_max tasks are queued (not counting the batch the
    // thread is running) or the executor stopped.
    Status post(Task task);
    // Unbounded, for completions of work already admitted (journal callbacks): refusing those
    // would lose a reply. Their number is bounded by the work admitted through post().
    void post_admitted(Task task);
    // Runs `task` once the clock's monotonic time reaches `when`.
    void post_at(TimePoint when, Task task);

    [[nodiscard]] bool on_this_thread() const {
        return std::this_thread::get_id() == thread_.get_id();
    }

private:
    struct Timed {
        TimePoint when;
        std::uint64_t order;  // FIFO among equal times
        Task task;
        bool operator>(const Timed& other) const {
            return when != other.when ? when > other.when : order > other.order;
        }
    };

    void run();
    // Moves the queued tasks, then the due timers, into `batch` (empty on entry); waits while
    // there are none. False when stopping and nothing is queued.
    bool next_batch(std::deque<Task>& batch);
    // Posts a task under the lock; true when the thread waits and must be woken.
    bool push_locked(Task task);
    void on_clock_advanced() override;

    const std::size_t mailbox_depth_max_;
    const Clock& clock_;
    std::mutex mutex_;  // guards everything below; shared by posting threads and the executor
    std::condition_variable wakeup_;
    std::deque<Task> tasks_;
    std::priority_queue<Timed, std::vector<Timed>, std::greater<>> timers_;
    std::uint64_t timer_order_ = 0;
    bool stopping_ = false;
    bool waiting_ = false;  // the thread is in a wait: a post must notify
    std::thread thread_;
};

}  // namespace qrpay::runtime
