#include "http/timer_set.h"

#include <exception>
#include <vector>

#include "base/log.h"

namespace qrpay::http::detail {

namespace net = boost::asio;

void run_task_logged(const Task& task, const char* what) {
    try {
        task();
    } catch (const std::exception& error) {
        QRPAY_LOG_ERROR("http: %s threw: %s", what, error.what());
    } catch (...) {
        QRPAY_LOG_ERROR("http: %s threw a non-standard exception", what);
    }
}

TimerSet::TimerSet(net::any_io_executor executor, std::size_t tasks_pending_max)
    : executor_(std::move(executor)), tasks_pending_max_(tasks_pending_max) {
    QRPAY_ASSERT(tasks_pending_max_ > 0, "a timer set needs room for one task");
}

TimerSet::~TimerSet() {
    std::lock_guard lock(mutex_);
    for (auto& [id, entry] : entries_) {
        entry.timer->cancel();
    }
}

Result<TimerId> TimerSet::run_after(std::chrono::microseconds delay, Task task) {
    QRPAY_ASSERT(task != nullptr, "run_after needs a task");
    std::lock_guard lock(mutex_);
    if (stopped_) {
        return Status(Errc::unavailable, "scheduler stopped");
    }
    if (entries_.size() >= tasks_pending_max_) {
        return Status(Errc::unavailable, "too many pending tasks");
    }
    std::uint64_t id = next_id_++;
    auto timer = std::make_shared<net::steady_timer>(executor_);
    timer->expires_after(
        delay < std::chrono::microseconds::zero() ? std::chrono::microseconds::zero() : delay);
    // The handler keeps the timer alive; `this` outlives it because the owner joins its
    // threads (no handler runs any more) before destroying the set.
    timer->async_wait([this, id, timer](const boost::system::error_code& error) {
        if (!error) {
            on_due(id);
        }
    });
    entries_.emplace(id, Entry{std::move(timer), std::move(task)});
    return TimerId(id);
}

void TimerSet::on_due(std::uint64_t id) {
    Task task;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(id);
        if (it == entries_.end()) {
            return;  // cancelled, or already run by run_all_now()
        }
        task = std::move(it->second.task);
        entries_.erase(it);
    }
    run_task_logged(task, "scheduled task");
}

bool TimerSet::cancel(TimerId id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id.value);
    if (it == entries_.end()) {
        return false;
    }
    it->second.timer->cancel();
    entries_.erase(it);
    return true;
}

void TimerSet::run_all_now() {
    std::vector<Task> tasks;
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
        tasks.reserve(entries_.size());
        for (auto& [id, entry] : entries_) {
            entry.timer->cancel();
            tasks.push_back(std::move(entry.task));
        }
        entries_.clear();
    }
    for (const Task& task : tasks) {
        run_task_logged(task, "scheduled task (run early at stop)");
    }
}

}  // namespace qrpay::http::detail
