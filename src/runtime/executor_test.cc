#include "runtime/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

#include "base/clock.h"

namespace qrpay::runtime {
namespace {

TEST(Executor, RunsTasksInPostOrder) {
    SystemClock clock;
    Executor executor(1000, clock);
    executor.start();
    std::vector<int> order;
    std::promise<void> done;
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(executor.post([&order, i] { order.push_back(i); }).ok());
    }
    ASSERT_TRUE(executor.post([&done] { done.set_value(); }).ok());
    done.get_future().wait();
    executor.stop();
    ASSERT_EQ(order.size(), 100U);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
    }
}

TEST(Executor, RefusesWhenMailboxIsFull) {
    SystemClock clock;
    Executor executor(2, clock);  // not started: nothing drains the mailbox
    EXPECT_TRUE(executor.post([] {}).ok());
    EXPECT_TRUE(executor.post([] {}).ok());
    Status refused = executor.post([] {});
    EXPECT_EQ(refused.code(), Errc::unavailable);
}

TEST(Executor, RunsTimedTasksInTimeOrder) {
    SystemClock clock;
    Executor executor(10, clock);
    executor.start();
    auto now = clock.monotonic_now();
    std::vector<int> order;
    std::promise<void> done;
    executor.post_at(now + std::chrono::milliseconds(30), [&] {
        order.push_back(2);
        done.set_value();
    });
    executor.post_at(now + std::chrono::milliseconds(10), [&] { order.push_back(1); });
    done.get_future().wait();
    executor.stop();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(Executor, TimersFollowTheInjectedClockWithoutRealTimePassing) {
    ManualClock clock;
    Executor executor(10, clock);
    executor.start();
    std::atomic<int> fired{0};
    executor.post_at(clock.monotonic_now() + std::chrono::hours(1), [&fired] { ++fired; });
    // A task due now marks the point where every timer due by then has run.
    auto run_due = [&executor, &clock] {
        std::promise<void> ran;
        executor.post_at(clock.monotonic_now(), [&ran] { ran.set_value(); });
        ran.get_future().wait();
    };
    clock.advance(std::chrono::minutes(59));
    run_due();
    EXPECT_EQ(fired.load(), 0);
    clock.advance(std::chrono::minutes(1));
    run_due();
    EXPECT_EQ(fired.load(), 1);
    executor.stop();
}

TEST(Executor, AnAdvanceWakesAnExecutorWaitingForItsNextTimer) {
    ManualClock clock;
    Executor executor(10, clock);
    executor.start();
    std::promise<void> fired;
    executor.post_at(clock.monotonic_now() + std::chrono::hours(24),
                     [&fired] { fired.set_value(); });
    clock.advance(std::chrono::hours(24));  // without the wake-up it would wait a real day
    // The bound only stops a hang; it measures nothing.
    ASSERT_EQ(fired.get_future().wait_for(std::chrono::minutes(2)), std::future_status::ready);
    executor.stop();
}

TEST(Executor, RefusesAfterStop) {
    SystemClock clock;
    Executor executor(10, clock);
    executor.start();
    executor.stop();
    EXPECT_EQ(executor.post([] {}).code(), Errc::unavailable);
}

}  // namespace
}  // namespace qrpay::runtime
