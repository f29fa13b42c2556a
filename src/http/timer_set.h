#pragma once
// Private to http/: the timers behind Scheduler and Server::run_after. Includes Asio, so only
// http/*.cc may include it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "http/scheduler.h"

namespace qrpay::http::detail {

// A bounded set of pending tasks, each waiting on its own steady_timer on `executor`.
// Thread-safe: mutex_ guards entries_ and every timer object (Asio timers are not thread-safe,
// and run_after/cancel come from any thread while handlers run on the I/O threads).
class TimerSet {
public:
    TimerSet(boost::asio::any_io_executor executor, std::size_t tasks_pending_max);
    ~TimerSet();

    Result<TimerId> run_after(std::chrono::microseconds delay, Task task);
    bool cancel(TimerId id);
    // Refuses new tasks and runs the pending ones on the calling thread. Idempotent.
    void run_all_now();

private:
    struct Entry {
        std::shared_ptr<boost::asio::steady_timer> timer;
        Task task;
    };
    void on_due(std::uint64_t id);

    boost::asio::any_io_executor executor_;
    const std::size_t tasks_pending_max_;
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, Entry> entries_;  // guarded by mutex_
    std::uint64_t next_id_ = 1;                         // guarded by mutex_
    bool stopped_ = false;                              // guarded by mutex_
};

// Runs a task, logging (never propagating) what it throws.
void run_task_logged(const Task& task, const char* what);

}  // namespace qrpay::http::detail
