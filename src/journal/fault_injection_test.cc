// The journal's fault points: the spec grammar, and what each point does to a real backend.
#include "journal/fault_injection.h"

#include <gtest/gtest.h>

#include <future>

#include "base/testing/eventually.h"

namespace qrpay::journal {
namespace {

AppendRequest append_of(const std::string& pid, std::uint64_t expected, std::string type) {
    AppendRequest request;
    request.shard = ShardId(0);
    request.persistence_id = pid;
    request.expected_seq = SequenceNr(expected);
    request.events.push_back(EventData{std::move(type), "{}"});
    return request;
}

TEST(JournalFaultSpec, ParsesEveryPoint) {
    auto spec = parse_fault_spec(
        "fail_append@Paid*2,lose_commit_answer@Done*1,stall_reads@50*3,stall_append@Paid:70*4");
    ASSERT_TRUE(spec.ok()) << spec.status().to_string();
    ASSERT_EQ(spec->append_rules.size(), 3U);
    EXPECT_EQ(spec->append_rules[2].fault, AppendFault::stall);
    EXPECT_EQ(spec->append_rules[2].event_type, "Paid");
    EXPECT_EQ(spec->append_rules[2].stall, std::chrono::milliseconds(70));
    EXPECT_EQ(spec->append_rules[2].count, 4U);
    EXPECT_EQ(spec->append_rules[0].fault, AppendFault::fail);
    EXPECT_EQ(spec->append_rules[0].event_type, "Paid");
    EXPECT_EQ(spec->append_rules[0].count, 2U);
    EXPECT_EQ(spec->append_rules[1].fault, AppendFault::lose_commit_answer);
    EXPECT_EQ(spec->read_stall, std::chrono::milliseconds(50));
    EXPECT_EQ(spec->read_stall_count, 3U);
    EXPECT_TRUE(spec->any());
    EXPECT_FALSE(parse_fault_spec("").value().any());
}

TEST(JournalFaultSpec, RefusesBadSpecs) {
    for (const char* bad :
         {"fail_append", "fail_append@Paid", "fail_append@Paid*0", "fail_append@*2",
          "stall_reads@0*1", "stall_reads@x*1", "stall_append@Paid*1", "stall_append@:5*1",
          "stall_append@Paid:0*1", "explode@Paid*1", "fail_append@Paid*2x"}) {
        EXPECT_EQ(parse_fault_spec(bad).status().code(), Errc::invalid_argument) << bad;
    }
}

TEST(FaultInjectingJournal, FailAppendStoresNothingAndCountsDown) {
    auto inner = make_memory_journal();
    FaultInjectingJournal journal(*inner, parse_fault_spec("fail_append@Paid*1").value());
    EXPECT_TRUE(journal.append_and_wait(append_of("e|1", 0, "Made")).ok());
    EXPECT_EQ(journal.append_and_wait(append_of("e|1", 1, "Paid")).code(), Errc::io_error);
    EXPECT_EQ(inner->highest_seq("e|1").value(), SequenceNr(1));
    EXPECT_TRUE(journal.append_and_wait(append_of("e|1", 1, "Paid")).ok());  // used up
    EXPECT_EQ(inner->highest_seq("e|1").value(), SequenceNr(2));
    EXPECT_EQ(journal.faults_injected(), 1U);
}

TEST(FaultInjectingJournal, LostCommitAnswerStoresTheAppend) {
    auto inner = make_memory_journal();
    FaultInjectingJournal journal(*inner, parse_fault_spec("lose_commit_answer@Made*1").value());
    EXPECT_EQ(journal.append_and_wait(append_of("e|1", 0, "Made")).code(), Errc::unknown_outcome);
    EXPECT_EQ(inner->highest_seq("e|1").value(), SequenceNr(1));
}

// A stalled append is stored after its stall, by a thread of its own: the caller is not held.
// What lands in between (another writer's append) is what the late one meets.
TEST(FaultInjectingJournal, AStalledAppendReachesTheStoreLateAndMeetsWhatLandedMeanwhile) {
    auto inner = make_memory_journal();
    FaultInjectingJournal journal(*inner, parse_fault_spec("stall_append@Late:200*1").value());
    ASSERT_TRUE(journal.append_and_wait(append_of("e|1", 0, "Made")).ok());
    std::promise<Status> late;
    journal.append(append_of("e|1", 1, "Late"), [&late](const Status& s) { late.set_value(s); });
    EXPECT_EQ(journal.faults_injected(), 1U);
    ASSERT_TRUE(inner->append_and_wait(append_of("e|1", 1, "Other")).ok());  // lands first
    EXPECT_EQ(late.get_future().get().code(), Errc::sequence_conflict);
    EXPECT_EQ(inner->read_events("e|1", SequenceNr(1), 10).value().size(), 2U);
    EXPECT_TRUE(journal.append_and_wait(append_of("e|1", 2, "Late")).ok());  // used up
}

TEST(FaultInjectingJournal, SwitchesFailAppendsAndReadsUntilTurnedOff) {
    auto inner = make_memory_journal();
    FaultInjectingJournal journal(*inner, {});
    journal.fail_appends(true);
    journal.fail_reads(true);
    EXPECT_EQ(journal.append_and_wait(append_of("e|1", 0, "Made")).code(), Errc::io_error);
    EXPECT_EQ(journal.read_events("e|1", SequenceNr(1), 10).status().code(), Errc::io_error);
    EXPECT_EQ(journal.load_snapshot("e|1").status().code(), Errc::io_error);
    journal.fail_appends(false);
    journal.fail_reads(false);
    EXPECT_TRUE(journal.append_and_wait(append_of("e|1", 0, "Made")).ok());
    EXPECT_EQ(journal.read_events("e|1", SequenceNr(1), 10).value().size(), 1U);
}

TEST(FaultInjectingJournal, HeldReadsWaitUntilTheHoldIsOff) {
    auto inner = make_memory_journal();
    FaultInjectingJournal journal(*inner, {});
    ASSERT_TRUE(journal.append_and_wait(append_of("e|1", 0, "Made")).ok());
    journal.hold_reads(true);
    auto read = std::async(std::launch::async,
                           [&journal] { return journal.read_events("e|1", SequenceNr(1), 10); });
    ASSERT_TRUE(qrpay::testing::eventually([&journal] { return journal.reads_held() == 1; }));
    EXPECT_EQ(read.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
    EXPECT_TRUE(journal.append_and_wait(append_of("e|1", 1, "Made")).ok()) << "writes go on";
    journal.hold_reads(false);
    EXPECT_EQ(read.get().value().size(), 2U);
    EXPECT_EQ(journal.reads_held(), 0U);
}

}  // namespace
}  // namespace qrpay::journal
