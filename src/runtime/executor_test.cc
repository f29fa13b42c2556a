#include "runtime/executor.h"

#include <gtest/gtest.h>

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

TEST(Executor, RefusesAfterStop) {
    SystemClock clock;
    Executor executor(10, clock);
    executor.start();
    executor.stop();
    EXPECT_EQ(executor.post([] {}).code(), Errc::unavailable);
}

}  // namespace
}  // namespace qrpay::runtime
