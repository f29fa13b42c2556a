#include "journal/write_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "journal/conformance/journal_test_support.h"
#include "journal/validation.h"

namespace qrpay::journal {
namespace {

using conformance::make_append;

PendingWrite append_write(std::size_t events, std::size_t payload_bytes = 0) {
    AppendRequest request = make_append("queue|e", SequenceNr(0), events);
    request.events[0].payload.assign(payload_bytes, 'p');
    return make_pending_write(std::move(request), [](const Status&) {});
}

TEST(WriteQueue, MeasuresWrites) {
    PendingWrite write = append_write(3, 100);
    EXPECT_EQ(write.events, 3U);
    EXPECT_EQ(write.bytes, append_bytes(std::get<AppendRequest>(write.op)));
    PendingWrite claim =
        make_pending_write(ClaimOp{ShardId(1), FencingToken(2)}, [](const Status&) {});
    EXPECT_EQ(claim.events, 1U);
    EXPECT_EQ(claim.bytes, 0U);
}

TEST(WriteQueue, GroupsInOrderUpToTheEventCap) {
    WriteQueue queue({.group_events_max = 5});
    for (std::size_t events : {2U, 2U, 2U, 1U}) {
        PendingWrite write = append_write(events);
        ASSERT_TRUE(queue.try_push(write));
    }
    std::vector<PendingWrite> first = queue.take_group();
    ASSERT_EQ(first.size(), 2U) << "2 + 2 fit in 5, a third 2 does not";
    std::vector<PendingWrite> second = queue.take_group();
    EXPECT_EQ(second.size(), 2U);
}

TEST(WriteQueue, GroupsUpToTheByteCapButTakesOneLargeWrite) {
    WriteQueue queue({.group_bytes_max = 1000});
    PendingWrite large = append_write(1, 5000);
    PendingWrite small = append_write(1, 10);
    ASSERT_TRUE(queue.try_push(large));
    ASSERT_TRUE(queue.try_push(small));
    EXPECT_EQ(queue.take_group().size(), 1U) << "a write above the cap commits alone";
    EXPECT_EQ(queue.take_group().size(), 1U);
}

TEST(WriteQueue, RefusesWhenFullAndLeavesTheWriteIntact) {
    WriteQueue queue({.queued_writes_max = 2});
    PendingWrite a = append_write(1);
    PendingWrite b = append_write(1);
    PendingWrite c = append_write(1);
    ASSERT_TRUE(queue.try_push(a));
    ASSERT_TRUE(queue.try_push(b));
    EXPECT_FALSE(queue.try_push(c));
    EXPECT_TRUE(c.done != nullptr) << "a refused write keeps its callback";
    EXPECT_EQ(queue.take_group().size(), 2U);
    EXPECT_TRUE(queue.try_push(c));
}

TEST(WriteQueue, RefusesBeyondTheByteBoundUnlessEmpty) {
    WriteQueue queue({.queued_bytes_max = 1000});
    PendingWrite large = append_write(1, 5000);
    PendingWrite small = append_write(1, 10);
    ASSERT_TRUE(queue.try_push(large)) << "an empty queue takes any write";
    EXPECT_FALSE(queue.try_push(small));
}

TEST(WriteQueue, CloseRefusesNewWritesAndDrainsQueuedOnes) {
    WriteQueue queue({});
    PendingWrite queued = append_write(1);
    ASSERT_TRUE(queue.try_push(queued));
    queue.close();
    PendingWrite late = append_write(1);
    EXPECT_FALSE(queue.try_push(late));
    EXPECT_EQ(queue.take_group().size(), 1U);
    EXPECT_TRUE(queue.take_group().empty()) << "closed and drained";
}

TEST(WriteQueue, TakeGroupWakesOnPushFromAnotherThread) {
    WriteQueue queue({});
    std::thread producer([&queue] {
        PendingWrite write = append_write(1);
        EXPECT_TRUE(queue.try_push(write));
    });
    EXPECT_EQ(queue.take_group().size(), 1U);
    producer.join();
}

TEST(WriteQueue, TakeGroupWithinTellsIdleFromClosed) {
    WriteQueue queue({});
    EXPECT_FALSE(queue.take_group_within(std::chrono::milliseconds(1)).has_value())
        << "nothing came: idle";
    PendingWrite write = append_write(1);
    ASSERT_TRUE(queue.try_push(write));
    std::optional<std::vector<PendingWrite>> group =
        queue.take_group_within(std::chrono::milliseconds(1));
    ASSERT_TRUE(group.has_value());
    EXPECT_EQ(group->size(), 1U);
    queue.close();
    group = queue.take_group_within(std::chrono::hours(1));
    ASSERT_TRUE(group.has_value()) << "closed is not idle, and answers at once";
    EXPECT_TRUE(group->empty());
}

// ---- the adaptive group wait, as a pure function -------------------------------------------

namespace group_wait_cases {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

constexpr GroupWaitPolicy policy{.wait_max = microseconds(1'000), .commit_share_percent = 50};

// A burst: writes arriving every 10 µs, commits taking 400 µs, 8 writes queued, the last group
// of 32 writes, the last write 5 µs ago, nothing waited yet.
GroupWaitInputs burst() {
    return {.queued_writes = 8,
            .group_full = false,
            .last_group_writes = 32,
            .arrival_gap_avg = microseconds(10),
            .since_last_arrival = microseconds(5),
            .commit_avg = microseconds(400),
            .waited = microseconds(0)};
}

TEST(GroupWait, WaitsUntilTheNextWriteIsDueWhileWritesArriveFasterThanCommits) {
    // Due at 2 mean gaps after the last write: 20 - 5 µs from now.
    EXPECT_EQ(group_wait(policy, burst()), microseconds(15));
}

TEST(GroupWait, NeverWhenDisabledOrTheGroupIsFull) {
    EXPECT_EQ(group_wait({.wait_max = microseconds(0)}, burst()), nanoseconds(0));
    GroupWaitInputs full = burst();
    full.group_full = true;
    EXPECT_EQ(group_wait(policy, full), nanoseconds(0));
}

TEST(GroupWait, NeverAfterAnIdleSpell) {
    GroupWaitInputs lone = burst();
    lone.last_group_writes = 1;
    lone.queued_writes = 1;
    EXPECT_EQ(group_wait(policy, lone), nanoseconds(0));
    lone.last_group_writes = 0;  // the very first write
    EXPECT_EQ(group_wait(policy, lone), nanoseconds(0));
    // Two queued after a lone group: writes are arriving, the rule applies.
    lone.queued_writes = 2;
    EXPECT_EQ(group_wait(policy, lone), microseconds(15));
}

TEST(GroupWait, NeverWhenTheNextWriteIsNotExpectedWithinTheBudget) {
    GroupWaitInputs sparse = burst();
    sparse.arrival_gap_avg = microseconds(250);  // budget: 50% of 400 µs = 200 µs
    sparse.since_last_arrival = microseconds(0);
    EXPECT_EQ(group_wait(policy, sparse), nanoseconds(0));
    sparse.arrival_gap_avg = microseconds(200);
    EXPECT_EQ(group_wait(policy, sparse), microseconds(200));  // 2 gaps due, capped by budget
}

TEST(GroupWait, NeverOnceTheArrivalsHaveStopped) {
    GroupWaitInputs stopped = burst();
    stopped.since_last_arrival = microseconds(20);  // 2 mean gaps without a write
    EXPECT_EQ(group_wait(policy, stopped), nanoseconds(0));
}

TEST(GroupWait, BoundedByTheShareOfACommitAndByWaitMax) {
    GroupWaitInputs slow = burst();
    slow.arrival_gap_avg = microseconds(40);
    slow.since_last_arrival = microseconds(0);
    slow.waited = microseconds(150);  // budget left: 200 - 150 = 50 µs, next due in 80 µs
    EXPECT_EQ(group_wait(policy, slow), microseconds(50));
    slow.arrival_gap_avg = microseconds(60);  // not expected within the 50 µs left
    EXPECT_EQ(group_wait(policy, slow), nanoseconds(0));
    slow.waited = microseconds(200);
    EXPECT_EQ(group_wait(policy, slow), nanoseconds(0));

    GroupWaitInputs long_commits = burst();
    long_commits.commit_avg = microseconds(10'000);  // 50%: 5 ms, above wait_max
    long_commits.arrival_gap_avg = microseconds(800);
    long_commits.since_last_arrival = microseconds(0);
    EXPECT_EQ(group_wait(policy, long_commits), microseconds(1'000));
    long_commits.arrival_gap_avg = microseconds(8);
    long_commits.waited = microseconds(990);
    EXPECT_EQ(group_wait(policy, long_commits), microseconds(10));
}

TEST(GroupWait, NeverBeforeACommitWasMeasured) {
    GroupWaitInputs first = burst();
    first.commit_avg = nanoseconds(0);
    EXPECT_EQ(group_wait(policy, first), nanoseconds(0));
}

}  // namespace group_wait_cases

}  // namespace
}  // namespace qrpay::journal
