#include "http/scheduler.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_name.h"
#include "http/timer_set.h"

namespace qrpay::http {

namespace net = boost::asio;

struct Scheduler::Threads {
    net::io_context context;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
    std::vector<std::thread> threads;  // joined by stop()
};

Scheduler::Scheduler(const SchedulerOptions& options) : threads_(std::make_unique<Threads>()) {
    QRPAY_ASSERT(options.threads >= 1, "a scheduler needs a thread");
    timers_ = std::make_unique<detail::TimerSet>(threads_->context.get_executor(),
                                                 options.tasks_pending_max);
    threads_->work.emplace(threads_->context.get_executor());
    for (std::size_t i = 0; i < options.threads; ++i) {
        threads_->threads.emplace_back([context = &threads_->context] {
            set_current_thread_name("scheduler");
            context->run();
        });
    }
}

Scheduler::~Scheduler() { stop(); }

Result<TimerId> Scheduler::run_after(std::chrono::microseconds delay, Task task) {
    return timers_->run_after(delay, std::move(task));
}

bool Scheduler::cancel(TimerId id) { return timers_->cancel(id); }

void Scheduler::stop() {
    for (const std::thread& thread : threads_->threads) {
        QRPAY_ASSERT(thread.get_id() != std::this_thread::get_id(),
                     "Scheduler::stop() called from one of its own tasks");
    }
    timers_->run_all_now();
    threads_->work.reset();  // run() returns once the cancelled waits have completed
    for (std::thread& thread : threads_->threads) {
        if (thread.joinable()) {
            thread.join();
        }
    }
}

}  // namespace qrpay::http
