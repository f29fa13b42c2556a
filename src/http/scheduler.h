#pragma once
// Scheduler: run a task after a delay without holding a thread while waiting, so that code can
// say "answer this request when X happens or after S seconds" (STYLE 2.5: every wait has a
// deadline). The Scheduler owns its threads; http::Server offers the same calls on its own
// I/O threads (Server::run_after).
//
// Contract of every task given to run_after():
//   - it runs exactly once: when its delay has passed, or at once, on the thread calling
//     stop(), when the scheduler stops first (so waits tied to requests end promptly and stop
//     is not held up by them) -- unless cancel() removed it before it started;
//   - an exception it throws is caught and logged; it never crosses a thread;
//   - it must not block for long: it runs on a shared thread.
//
// Thread safety: every method may be called from any thread, including from a task.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "base/status.h"
#include "base/strong_types.h"

namespace qrpay::http {

using TimerId = StrongInt<struct TimerIdTag>;
using Task = std::function<void()>;

namespace detail {
class TimerSet;
}

struct SchedulerOptions {
    std::size_t threads = 1;                 // threads running due tasks, >= 1
    std::size_t tasks_pending_max = 65'536;  // run_after() beyond this fails with unavailable
};

class Scheduler {
public:
    // Starts options.threads threads.
    explicit Scheduler(const SchedulerOptions& options = {});
    ~Scheduler();  // stop()
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;
    Scheduler(Scheduler&&) = delete;
    Scheduler& operator=(Scheduler&&) = delete;

    // Runs `task` after `delay` (zero: as soon as a thread is free).
    // Errors: unavailable when stopped or when tasks_pending_max tasks are pending.
    Result<TimerId> run_after(std::chrono::microseconds delay, Task task);
    // Removes a pending task without running it. False when it already ran, is running, or
    // never existed.
    bool cancel(TimerId id);
    // Runs the pending tasks now on this thread, refuses new ones, joins the threads.
    // Idempotent. REQUIRES: not called from one of this scheduler's tasks.
    void stop();

private:
    struct Threads;
    std::unique_ptr<Threads> threads_;  // owns the I/O context; declared before timers_
    std::unique_ptr<detail::TimerSet> timers_;
};

}  // namespace qrpay::http
