#include "journal/sqlite/write_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "journal/conformance/journal_test_support.h"
#include "journal/validation.h"

namespace qrpay::journal::sqlite {
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

}  // namespace
}  // namespace qrpay::journal::sqlite
