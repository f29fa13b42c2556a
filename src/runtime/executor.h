#pragma once
// Executor: one thread running tasks in arrival order, and timed tasks at their time.
// Runtime-internal; entity code never sees it.

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

#include "base/status.h"

namespace qrpay::runtime {

class Executor {
public:
    using Task = std::function<void()>;
    using TimePoint = std::chrono::steady_clock::time_point;

    explicit Executor(std::size_t mailbox_depth_max);
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;
    Executor(Executor&&) = delete;
    Executor& operator=(Executor&&) = delete;

    // `thread_name` shows in top -H and perf (base/thread_name.h).
    void start(const std::string& thread_name = "qrpay-executor");
    // Runs the tasks already queued, drops pending timers, joins the thread.
    void stop();

    // Bounded: unavailable when mailbox_depth_max tasks are queued or the executor stopped.
    Status post(Task task);
    // Unbounded, for completions of work already admitted (journal callbacks): refusing those
    // would lose a reply. Their number is bounded by the work admitted through post().
    void post_admitted(Task task);
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
    bool next_task(Task& task);

    const std::size_t mailbox_depth_max_;
    std::mutex mutex_;  // guards everything below; shared by posting threads and the executor
    std::condition_variable wakeup_;
    std::deque<Task> tasks_;
    std::priority_queue<Timed, std::vector<Timed>, std::greater<>> timers_;
    std::uint64_t timer_order_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace qrpay::runtime
