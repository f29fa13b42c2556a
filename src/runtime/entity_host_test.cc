// The runtime on the in-memory journal with a toy entity (a counter with an alarm): ordering
// per entity, recovery, snapshots, passivation, durable timers, rejections and bounds.
#include "runtime/entity_host.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "base/hash.h"
#include "base/testing/eventually.h"
#include "journal/fault_injection.h"

namespace qrpay::runtime {
namespace {

struct Added {
    std::int64_t amount;
};
struct AlarmSet {
    UnixMs at;
};
struct AlarmRang {};
using CounterEvent = std::variant<Added, AlarmSet, AlarmRang>;

struct Add {
    std::int64_t amount;
};
struct SetAlarm {
    UnixMs at;
};
struct Get {};
struct Remind {
    std::chrono::milliseconds after;
};
using CounterCommand = std::variant<Add, SetAlarm, Get, Remind>;

struct CounterState {
    std::int64_t total = 0;
    std::optional<UnixMs> alarm;
    std::int64_t rings = 0;
};
struct CounterReply {
    std::int64_t total;
    SequenceNr seq;
};

// A counter: Add persists, Get replies, negative amounts are rejected, an alarm is a durable
// deadline, and Remind asks for a non-durable wake.
struct Counter {
    using State = CounterState;
    using Command = CounterCommand;
    using Event = CounterEvent;
    using Reply = CounterReply;
    static constexpr std::string_view type_name = "counter";

    std::atomic<int>* wakes = nullptr;  // counts on_wake calls; shared with the test

    State on_event(State state, const Event& event) const {
        if (const auto* added = std::get_if<Added>(&event)) {
            state.total += added->amount;
        } else if (const auto* set = std::get_if<AlarmSet>(&event)) {
            state.alarm = set->at;
        } else {
            state.alarm.reset();
            ++state.rings;
        }
        return state;
    }

    Effect<Event, Reply> on_command(const State& state,
                                    const Command& command,
                                    const CommandContext<Command>& context) const {
        if (const auto* add = std::get_if<Add>(&command)) {
            if (add->amount < 0) {
                return reject(Status(Errc::invalid_argument, "negative"));
            }
            return persist<Event>(Added{add->amount})
                .then_reply(Reply{state.total + add->amount, context.seq.next()});
        }
        if (const auto* set = std::get_if<SetAlarm>(&command)) {
            return persist<Event>(AlarmSet{set->at}).then_reply(Reply{state.total, context.seq});
        }
        if (const auto* remind = std::get_if<Remind>(&command)) {
            Effect<Event, Reply> effect = reply(Reply{state.total, context.seq});
            return std::move(effect).wake_after(remind->after);
        }
        return reply(Reply{state.total, context.seq});
    }

    Effect<Event, Reply> on_wake(const State& state, const CommandContext<Command>& context) const {
        if (wakes != nullptr) {
            ++*wakes;
        }
        if (state.alarm && context.now >= *state.alarm) {
            return persist<Event>(AlarmRang{}).no_reply();
        }
        return no_effect();
    }

    std::optional<UnixMs> deadline(const State& state) const { return state.alarm; }

    EventData encode_event(const Event& event) const {
        if (const auto* added = std::get_if<Added>(&event)) {
            return {"Added", std::to_string(added->amount)};
        }
        if (const auto* set = std::get_if<AlarmSet>(&event)) {
            return {"AlarmSet", std::to_string(set->at.value)};
        }
        return {"AlarmRang", ""};
    }
    Event decode_event(const StoredEvent& stored) const {
        if (stored.type == "Added") {
            return Added{std::stoll(stored.payload)};
        }
        if (stored.type == "AlarmSet") {
            return AlarmSet{UnixMs{std::stoll(stored.payload)}};
        }
        QRPAY_ASSERT(stored.type == "AlarmRang", "unknown counter event");
        return AlarmRang{};
    }
    std::string encode_state(const State& state) const {
        return std::to_string(state.total) + " " + std::to_string(state.rings);
    }
    State decode_state(std::string_view bytes) const {
        State state;
        std::string text(bytes);
        auto space = text.find(' ');
        state.total = std::stoll(text.substr(0, space));
        state.rings = std::stoll(text.substr(space + 1));
        return state;
    }
};
static_assert(Behavior<Counter>);

enum class Ask { plain, presuming_new };

Result<CounterReply> ask_and_wait(EntityHost<Counter>& host,
                                  const std::string& id,
                                  const CounterCommand& command,
                                  Ask how = Ask::plain) {
    std::promise<Result<CounterReply>> promise;
    auto done = [&promise](Result<CounterReply> reply) { promise.set_value(std::move(reply)); };
    if (how == Ask::presuming_new) {
        host.ask_new(id, command, done);
    } else {
        host.ask(id, command, done);
    }
    return promise.get_future().get();
}

Result<CounterReply> ask_new_and_wait(EntityHost<Counter>& host,
                                      const std::string& id,
                                      const CounterCommand& command) {
    return ask_and_wait(host, id, command, Ask::presuming_new);
}

using qrpay::testing::eventually;

class EntityHostTest : public ::testing::Test {
protected:
    void start(RuntimeOptions options = {}) {
        runtime_ = std::make_unique<Runtime>(*faulty_, clock_, options);
        ASSERT_TRUE(runtime_->start().ok());
        host_ = std::make_unique<EntityHost<Counter>>(*runtime_, counter_);
    }
    void restart(RuntimeOptions options = {}) {
        runtime_->stop();  // first: executor threads may still be running host code
        host_.reset();
        runtime_.reset();
        start(options);
    }
    // Polls `condition`, advancing the clock by `step` before each look: time passes only as
    // fast as the test looks, whatever the machine's speed.
    template <class Condition>
    bool eventually_advancing(Condition condition,
                              std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
        return eventually([this, &condition, step] {
            clock_.advance(step);
            return condition();
        });
    }
    // Runs a timer task due now on the entity's executor and waits for it: every timer that
    // was due already has run by then (timers run in time order, FIFO among equals).
    void run_due_timers(const std::string& id) {
        std::promise<void> ran;
        runtime_->post_at(host_->persistence_id(id), clock_.monotonic_now(),
                          [&ran] { ran.set_value(); });
        ran.get_future().wait();
    }
    void TearDown() override {
        if (runtime_) {
            runtime_->stop();
        }
    }

    std::unique_ptr<journal::Journal> journal_ = journal::make_memory_journal();
    // The runtime writes through the fault points; tests read journal_ directly.
    std::unique_ptr<journal::FaultInjectingJournal> faulty_ =
        std::make_unique<journal::FaultInjectingJournal>(*journal_, journal::FaultSpec{});
    // Driven by hand: timers, backoffs and passivation see time pass only when a test advances
    // it (executors are woken by the advance), so no test sleeps.
    ManualClock clock_;
    std::atomic<int> wakes_{0};
    Counter counter_{.wakes = &wakes_};
    std::unique_ptr<Runtime> runtime_;
    std::unique_ptr<EntityHost<Counter>> host_;
};

TEST_F(EntityHostTest, PersistsThenReplies) {
    start();
    auto reply = ask_and_wait(*host_, "a", Add{5});
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    EXPECT_EQ(reply->total, 5);
    EXPECT_EQ(reply->seq, SequenceNr(1));
    auto events = journal_->read_events("counter|a", SequenceNr(1), 10);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 1U);
    EXPECT_EQ((*events)[0].type, "Added");
}

TEST_F(EntityHostTest, RejectionStoresNothing) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{1}).ok());
    auto rejected = ask_and_wait(*host_, "a", Add{-1});
    EXPECT_EQ(rejected.status().code(), Errc::invalid_argument);
    EXPECT_EQ(journal_->highest_seq("counter|a").value(), SequenceNr(1));
}

TEST_F(EntityHostTest, CommandsToOneEntityRunOneAtATimeInOrder) {
    start();
    constexpr int commands = 500;
    std::vector<std::promise<Result<CounterReply>>> promises(commands);
    for (int i = 0; i < commands; ++i) {
        host_->ask("a", Add{1}, [&promises, i](Result<CounterReply> reply) {
            promises[static_cast<std::size_t>(i)].set_value(std::move(reply));
        });
    }
    for (int i = 0; i < commands; ++i) {
        auto reply = promises[static_cast<std::size_t>(i)].get_future().get();
        ASSERT_TRUE(reply.ok());
        // Each command saw every earlier one: replies come in sequence order.
        EXPECT_EQ(reply->seq, SequenceNr(static_cast<std::uint64_t>(i + 1)));
        EXPECT_EQ(reply->total, i + 1);
    }
}

TEST_F(EntityHostTest, ManyEntitiesInParallelKeepTheirOwnState) {
    start();
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t) {
        senders.emplace_back([this, t] {
            for (int i = 0; i < 50; ++i) {
                auto reply = ask_and_wait(*host_, "e" + std::to_string(i % 10), Add{t + 1});
                EXPECT_TRUE(reply.ok());
            }
        });
    }
    for (auto& sender : senders) {
        sender.join();
    }
    std::int64_t sum = 0;
    for (int e = 0; e < 10; ++e) {
        sum += ask_and_wait(*host_, "e" + std::to_string(e), Get{})->total;
    }
    EXPECT_EQ(sum, 50 * (1 + 2 + 3 + 4));
}

TEST_F(EntityHostTest, RecoversStateFromTheJournalAfterRestart) {
    start();
    for (int i = 0; i < 7; ++i) {
        ASSERT_TRUE(ask_and_wait(*host_, "a", Add{i}).ok());
    }
    restart();
    auto reply = ask_and_wait(*host_, "a", Get{});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->total, 21);
    EXPECT_EQ(reply->seq, SequenceNr(7));
    EXPECT_EQ(host_->stats().recoveries, 1U);
}

TEST_F(EntityHostTest, AskNewOnANewIdPersistsWithoutReadingTheJournal) {
    start();
    auto reply = ask_new_and_wait(*host_, "fresh", Add{4});
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    EXPECT_EQ(reply->total, 4);
    EXPECT_EQ(reply->seq, SequenceNr(1));
    EXPECT_EQ(host_->stats().recoveries, 0U);
    EXPECT_EQ(host_->stats().presumed_new, 1U);
    EXPECT_EQ(host_->stats().presumed_new_wrong, 0U);
    EXPECT_EQ(journal_->highest_seq("counter|fresh").value(), SequenceNr(1));
    // The entity is an ordinary one afterwards.
    EXPECT_EQ(ask_and_wait(*host_, "fresh", Add{1})->total, 5);
}

TEST_F(EntityHostTest, AskNewOnAnExistingIdRecoversAndRunsTheCommandAgain) {
    start();
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(ask_and_wait(*host_, "old", Add{10}).ok());
    }
    restart();  // "old" is now only in the journal
    auto reply = ask_new_and_wait(*host_, "old", Add{1});
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    EXPECT_EQ(reply->total, 31);  // the answer of the recovered entity, not of an empty one
    EXPECT_EQ(reply->seq, SequenceNr(4));
    EXPECT_EQ(host_->stats().presumed_new_wrong, 1U);
    EXPECT_EQ(host_->stats().recoveries, 1U);
    EXPECT_EQ(journal_->highest_seq("counter|old").value(), SequenceNr(4));
}

TEST_F(EntityHostTest, AskNewKeepsTheOrderOfCommandsStashedBehindAWrongGuess) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "old", Add{100}).ok());
    restart();
    constexpr int commands = 20;
    std::vector<std::promise<Result<CounterReply>>> promises(commands);
    host_->ask_new("old", Add{1}, [&promises](Result<CounterReply> reply) {
        promises[0].set_value(std::move(reply));
    });
    for (int i = 1; i < commands; ++i) {
        host_->ask("old", Add{1}, [&promises, i](Result<CounterReply> reply) {
            promises[static_cast<std::size_t>(i)].set_value(std::move(reply));
        });
    }
    for (int i = 0; i < commands; ++i) {
        auto reply = promises[static_cast<std::size_t>(i)].get_future().get();
        ASSERT_TRUE(reply.ok()) << reply.status().to_string();
        EXPECT_EQ(reply->seq, SequenceNr(static_cast<std::uint64_t>(i + 2)));
        EXPECT_EQ(reply->total, 100 + i + 1);
    }
}

TEST_F(EntityHostTest, AskNewAnswersACommandThatPersistsNothingFromTheJournal) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "old", Add{7}).ok());
    restart();
    auto got = ask_new_and_wait(*host_, "old", Get{});
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->total, 7);  // not the empty state's 0
    EXPECT_EQ(got->seq, SequenceNr(1));
    auto rejected = ask_new_and_wait(*host_, "unknown", Add{-1});
    EXPECT_EQ(rejected.status().code(), Errc::invalid_argument);
    EXPECT_EQ(host_->stats().active_entities, 1U);  // the unknown probe left memory
}

TEST_F(EntityHostTest, SnapshotsEveryNEventsAndRecoversFromThem) {
    start({.snapshot_every_events = 5});
    for (int i = 0; i < 12; ++i) {
        ASSERT_TRUE(ask_and_wait(*host_, "a", Add{1}).ok());
    }
    // Snapshots are written on a journal-I/O thread, after the reply.
    ASSERT_TRUE(eventually([this] {
        auto stored = journal_->load_snapshot("counter|a");
        return stored.ok() && stored->has_value() && (*stored)->seq == SequenceNr(10);
    }));
    auto snapshot = journal_->load_snapshot("counter|a");
    EXPECT_EQ((*snapshot)->payload, "10 0");
    restart({.snapshot_every_events = 5});
    auto reply = ask_and_wait(*host_, "a", Get{});
    EXPECT_EQ(reply->total, 12);
    EXPECT_EQ(reply->seq, SequenceNr(12));
}

TEST_F(EntityHostTest, PassivatesIdleEntitiesAndBringsThemBack) {
    start({.passivate_after = std::chrono::milliseconds(20)});
    host_->start_passivation();
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{3}).ok());
    EXPECT_EQ(host_->stats().active_entities, 1U);
    ASSERT_TRUE(eventually_advancing([this] { return host_->stats().active_entities == 0; }));
    EXPECT_GE(host_->stats().passivations, 1U);
    auto reply = ask_and_wait(*host_, "a", Get{});
    EXPECT_EQ(reply->total, 3);
    EXPECT_EQ(host_->stats().recoveries, 2U);
}

TEST_F(EntityHostTest, EntitiesWithUnfinishedWorkAreNotPassivated) {
    start({.passivate_after = std::chrono::milliseconds(5)});
    host_->start_passivation();
    UnixMs far = {clock_.wall_now().value + 3'600'000};
    ASSERT_TRUE(ask_and_wait(*host_, "busy", SetAlarm{far}).ok());
    ASSERT_TRUE(ask_and_wait(*host_, "idle", Add{1}).ok());
    ASSERT_TRUE(eventually_advancing([this] { return host_->stats().passivations >= 1; }));
    EXPECT_EQ(host_->stats().active_entities, 1U);  // "busy" stays
}

TEST_F(EntityHostTest, DurableTimerFiresAtTheDeadline) {
    start();
    UnixMs soon = {clock_.wall_now().value + 30};
    ASSERT_TRUE(ask_and_wait(*host_, "a", SetAlarm{soon}).ok());
    clock_.advance(std::chrono::milliseconds(29));
    run_due_timers("a");
    EXPECT_EQ(ask_and_wait(*host_, "a", Get{})->seq, SequenceNr(1)) << "not rung before its time";
    clock_.advance(std::chrono::milliseconds(1));
    ASSERT_TRUE(
        eventually([this] { return journal_->highest_seq("counter|a").value() == SequenceNr(2); }));
    EXPECT_EQ(ask_and_wait(*host_, "a", Get{})->seq, SequenceNr(2));
    auto pending = journal_->pending_wakeups(runtime_->shard_of("counter|a"));
    ASSERT_TRUE(pending.ok());
    EXPECT_TRUE(pending->empty());  // the rang alarm cleared the wake-up entry
}

TEST_F(EntityHostTest, DeadlineSurvivesRestartAndWakesOnlyUnfinishedEntities) {
    start();
    UnixMs past_after_restart = {clock_.wall_now().value + 1};
    ASSERT_TRUE(
        ask_and_wait(*host_, "pending", SetAlarm{{past_after_restart.value + 3'600'000}}).ok());
    ASSERT_TRUE(ask_and_wait(*host_, "done", Add{1}).ok());
    restart();
    wakes_ = 0;
    ASSERT_TRUE(host_->wake_pending().ok());
    ASSERT_TRUE(eventually([this] { return wakes_.load() == 1; }));
    // Only the entity with a deadline was loaded; the finished one stayed on disk.
    EXPECT_EQ(host_->stats().recoveries, 1U);
}

TEST_F(EntityHostTest, WakeAfterRemindsOnce) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{1}).ok());
    wakes_ = 0;
    ASSERT_TRUE(ask_and_wait(*host_, "a", Remind{std::chrono::milliseconds(10)}).ok());
    clock_.advance(std::chrono::milliseconds(9));
    run_due_timers("a");
    EXPECT_EQ(wakes_.load(), 0);
    clock_.advance(std::chrono::milliseconds(1));
    ASSERT_TRUE(eventually([this] { return wakes_.load() >= 1; }));
    clock_.advance(std::chrono::hours(1));
    run_due_timers("a");
    EXPECT_EQ(wakes_.load(), 1);
}

TEST_F(EntityHostTest, UnknownEntityProbeLeavesNoTrace) {
    start();
    auto reply = ask_and_wait(*host_, "never-written", Get{});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->seq, SequenceNr(0));
    EXPECT_EQ(host_->stats().active_entities, 0U);
}

TEST_F(EntityHostTest, StaleFencingTokenFailsThePersistAndTheEntityRecovers) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{1}).ok());
    ShardId shard = runtime_->shard_of("counter|a");
    // Another owner claimed the shard: this node's token is stale now.
    ASSERT_TRUE(journal_->claim_shard(shard, runtime_->fencing_of(shard).next()).ok());
    auto refused = ask_and_wait(*host_, "a", Add{1});
    EXPECT_EQ(refused.status().code(), Errc::fenced);
    EXPECT_EQ(journal_->highest_seq("counter|a").value(), SequenceNr(1));
    EXPECT_EQ(host_->stats().active_entities, 0U);  // dropped; recovers on the next command
}

TEST_F(EntityHostTest, FullStashAnswersUnavailable) {
    start({.stash_depth_max = 1});
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{1}).ok());  // in memory: no recovery below
    // Hold the entity's executor so that all 50 commands queue before the first runs: the
    // first persists, its completion queues behind the other 49, one of which fits the stash.
    std::promise<void> gate;
    std::shared_future<void> opened = gate.get_future().share();
    ASSERT_TRUE(runtime_->post(host_->persistence_id("a"), [opened] { opened.wait(); }).ok());
    std::vector<std::promise<Result<CounterReply>>> promises(50);
    for (std::size_t i = 0; i < promises.size(); ++i) {
        host_->ask("a", Add{1}, [&promises, i](Result<CounterReply> reply) {
            promises[i].set_value(std::move(reply));
        });
    }
    gate.set_value();
    int unavailable = 0;
    int ok = 0;
    for (auto& promise : promises) {
        auto reply = promise.get_future().get();
        if (reply.ok()) {
            ++ok;
        } else {
            EXPECT_EQ(reply.status().code(), Errc::unavailable);
            ++unavailable;
        }
    }
    EXPECT_EQ(ok, 2);
    EXPECT_EQ(unavailable, 48);
    EXPECT_EQ(journal_->highest_seq("counter|a").value(), SequenceNr(3));
}

// ---- failed writes: the entity resumes by itself (no restart, no command)

TEST_F(EntityHostTest, AFailedWriteResumesByItselfOnceTheJournalTakesWritesAgain) {
    // The alarm's two rings fail to be written (as on a full disk), the third goes through:
    // nothing but the entity itself asks for it.
    faulty_ = std::make_unique<journal::FaultInjectingJournal>(
        *journal_, journal::parse_fault_spec("fail_append@AlarmRang*2").value());
    start({.resume_backoff_first = std::chrono::milliseconds(5),
           .resume_backoff_max = std::chrono::milliseconds(20)});
    ASSERT_TRUE(ask_and_wait(*host_, "a", SetAlarm{{clock_.wall_now().value + 30}}).ok());
    ASSERT_TRUE(eventually_advancing(
        [this] { return journal_->highest_seq("counter|a").value() == SequenceNr(2); }));
    EXPECT_EQ(faulty_->faults_injected(), 2U);
    EXPECT_EQ(host_->stats().write_failures, 2U);
    EXPECT_GE(host_->stats().resumes, 1U);
    auto pending = journal_->pending_wakeups(runtime_->shard_of("counter|a"));
    ASSERT_TRUE(pending.ok());
    EXPECT_TRUE(pending->empty());
}

TEST_F(EntityHostTest, AResumeWhoseRecoveryFailsTriesAgainUntilTheJournalReads) {
    faulty_ = std::make_unique<journal::FaultInjectingJournal>(
        *journal_, journal::parse_fault_spec("fail_append@AlarmRang*1").value());
    start({.resume_backoff_first = std::chrono::milliseconds(5),
           .resume_backoff_max = std::chrono::milliseconds(20)});
    faulty_->fail_reads(true);  // before the ring: every recovery fails until it is cleared
    ASSERT_TRUE(ask_new_and_wait(*host_, "a", SetAlarm{{clock_.wall_now().value + 30}}).ok());
    ASSERT_TRUE(eventually_advancing([this] { return faulty_->faults_injected() >= 4; }));
    EXPECT_EQ(journal_->highest_seq("counter|a").value(), SequenceNr(1));
    faulty_->fail_reads(false);
    ASSERT_TRUE(eventually_advancing(
        [this] { return journal_->highest_seq("counter|a").value() == SequenceNr(2); }));
}

TEST_F(EntityHostTest, AFailedWriteFailsItsCommandAndTheNextCommandSeesTheJournal) {
    start({.resume_backoff_first = std::chrono::milliseconds(1'000),
           .resume_backoff_max = std::chrono::milliseconds(1'000)});
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{2}).ok());
    faulty_->fail_appends(true);
    EXPECT_EQ(ask_and_wait(*host_, "a", Add{3}).status().code(), Errc::io_error);
    faulty_->fail_appends(false);
    auto seen = ask_and_wait(*host_, "a", Get{});
    ASSERT_TRUE(seen.ok());
    EXPECT_EQ(seen->total, 2);  // the failed Add is not in memory either
    EXPECT_EQ(seen->seq, SequenceNr(1));
    auto added = ask_and_wait(*host_, "a", Add{3});
    ASSERT_TRUE(added.ok()) << added.status().to_string();
    EXPECT_EQ(added->total, 5);
}

TEST_F(EntityHostTest, ALostCommitAnswerIsResolvedFromTheJournal) {
    faulty_ = std::make_unique<journal::FaultInjectingJournal>(
        *journal_, journal::parse_fault_spec("lose_commit_answer@Added*1").value());
    start();
    EXPECT_EQ(ask_and_wait(*host_, "a", Add{5}).status().code(), Errc::unknown_outcome);
    auto seen = ask_and_wait(*host_, "a", Get{});
    ASSERT_TRUE(seen.ok());
    EXPECT_EQ(seen->total, 5);  // it was stored after all
    EXPECT_EQ(seen->seq, SequenceNr(1));
}

TEST_F(EntityHostTest, AnOverdueDeadlineFiresAtOnceWhenTheEntityIsLoaded) {
    // A previous process stored the alarm and died before it rang; nobody called
    // wake_pending(). Loading the entity for any command must ring it.
    journal::AppendRequest request;
    request.persistence_id = "counter|a";
    request.shard = shard_of(request.persistence_id, RuntimeOptions{}.shard_count);
    request.expected_seq = SequenceNr(0);
    UnixMs past{clock_.wall_now().value - 1'000};
    request.events.push_back(counter_.encode_event(AlarmSet{past}));
    request.wake_at = past;
    ASSERT_TRUE(journal_->append_and_wait(std::move(request)).ok());
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "a", Get{}).ok());
    ASSERT_TRUE(
        eventually([this] { return journal_->highest_seq("counter|a").value() == SequenceNr(2); }));
}

TEST_F(EntityHostTest, ADeadlineAlreadyPastWhenItsAppendIsDurableFiresAtOnce) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "a", SetAlarm{{clock_.wall_now().value - 1}}).ok());
    ASSERT_TRUE(
        eventually([this] { return journal_->highest_seq("counter|a").value() == SequenceNr(2); }));
}

TEST_F(EntityHostTest, AWakeWhoseRecoveryFailsAtStartUpIsRetried) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "a", SetAlarm{{clock_.wall_now().value + 3'600'000}}).ok());
    restart({.resume_backoff_first = std::chrono::milliseconds(5),
             .resume_backoff_max = std::chrono::milliseconds(20)});
    wakes_ = 0;
    faulty_->fail_reads(true);
    ASSERT_TRUE(host_->wake_pending().ok());
    ASSERT_TRUE(eventually_advancing([this] { return faulty_->faults_injected() >= 3; }));
    EXPECT_EQ(wakes_.load(), 0);
    faulty_->fail_reads(false);
    ASSERT_TRUE(eventually_advancing([this] { return wakes_.load() >= 1; }));
    EXPECT_EQ(host_->stats().active_entities, 1U);  // kept: its alarm is ahead
}

// ---- asynchronous recovery: an executor never waits on the journal

// Writes `count` Added{1} events for `id` straight into the journal, as a previous process
// did. REQUIRES: no runtime has claimed the shards yet.
void seed(journal::Journal& journal, const std::string& id, std::uint64_t count) {
    for (std::uint64_t written = 0; written < count;) {
        journal::AppendRequest request;
        request.persistence_id = "counter|" + id;
        request.shard = shard_of(request.persistence_id, RuntimeOptions{}.shard_count);
        request.expected_seq = SequenceNr(written);
        for (; written < count && request.events.size() < journal::events_per_append_max;
             ++written) {
            request.events.push_back({"Added", "1"});
        }
        ASSERT_TRUE(journal.append_and_wait(std::move(request)).ok());
    }
}

// An id of the form "<stem><n>" whose entity runs on `executor` of `executors` (executors
// follow shards; Runtime::executor_of).
std::string id_on_executor(std::uint32_t executors,
                           std::uint32_t executor,
                           const std::string& stem) {
    for (int n = 0;; ++n) {
        std::string id = stem + std::to_string(n);
        if (shard_of("counter|" + id, RuntimeOptions{}.shard_count).value % executors == executor) {
            return id;
        }
    }
}

bool answered(std::future<Result<CounterReply>>& reply) {
    return reply.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

std::future<Result<CounterReply>> ask_async(EntityHost<Counter>& host,
                                            const std::string& id,
                                            const CounterCommand& command) {
    auto promise = std::make_shared<std::promise<Result<CounterReply>>>();
    auto reply = promise->get_future();
    host.ask(id, command,
             [promise](Result<CounterReply> got) { promise->set_value(std::move(got)); });
    return reply;
}

TEST_F(EntityHostTest, AHeldRecoveryDoesNotStopOtherEntitiesOnItsExecutor) {
    constexpr std::uint32_t executors = 2;
    const std::string busy = id_on_executor(executors, 0, "busy-");
    const std::string held = id_on_executor(executors, 0, "held-");
    seed(*journal_, held, 5);
    start({.executor_count = executors});
    ASSERT_EQ(runtime_->executor_of("counter|" + busy), runtime_->executor_of("counter|" + held));
    ASSERT_TRUE(ask_new_and_wait(*host_, busy, Add{1}).ok());  // in memory, no journal read
    faulty_->hold_reads(true);
    auto held_reply = ask_async(*host_, held, Get{});
    ASSERT_TRUE(eventually([this] { return faulty_->reads_held() == 1; }));
    // The held entity's executor still answers its other entities, reads and writes alike.
    for (int i = 0; i < 10; ++i) {
        auto reply = ask_and_wait(*host_, busy, Add{1});
        ASSERT_TRUE(reply.ok()) << reply.status().to_string();
        EXPECT_EQ(reply->total, i + 2);
    }
    EXPECT_EQ(ask_and_wait(*host_, busy, Get{})->total, 11);
    EXPECT_FALSE(answered(held_reply));  // its read is still held
    faulty_->hold_reads(false);
    auto reply = held_reply.get();
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    EXPECT_EQ(reply->total, 5);
    EXPECT_EQ(reply->seq, SequenceNr(5));
}

TEST_F(EntityHostTest, CommandsStashedDuringARecoveryRunInOrderAfterIt) {
    seed(*journal_, "held", 100);
    start({.stash_depth_max = 20});
    faulty_->hold_reads(true);
    constexpr int commands = 20;
    std::vector<std::future<Result<CounterReply>>> replies;
    replies.push_back(ask_async(*host_, "held", Add{1}));
    ASSERT_TRUE(eventually([this] { return faulty_->reads_held() == 1; }));
    for (int i = 1; i < commands; ++i) {
        replies.push_back(ask_async(*host_, "held", Add{1}));
    }
    EXPECT_EQ(ask_and_wait(*host_, "held", Get{}).status().code(), Errc::unavailable)
        << "a full stash answers at once, recovery or not";
    faulty_->hold_reads(false);
    for (int i = 0; i < commands; ++i) {
        auto reply = replies[static_cast<std::size_t>(i)].get();
        ASSERT_TRUE(reply.ok()) << reply.status().to_string();
        EXPECT_EQ(reply->seq, SequenceNr(static_cast<std::uint64_t>(100 + i + 1)));
        EXPECT_EQ(reply->total, 100 + i + 1);
    }
    EXPECT_EQ(host_->stats().recoveries, 1U);
}

TEST_F(EntityHostTest, RecoveriesBeyondTheBoundWaitAndAFullQueueAnswersUnavailable) {
    for (const char* id : {"r0", "r1", "r2"}) {
        seed(*journal_, id, 3);
    }
    start({.recovery_threads = 2, .recoveries_in_flight_max = 1, .recovery_queue_depth_max = 1});
    faulty_->hold_reads(true);
    auto first = ask_async(*host_, "r0", Get{});
    ASSERT_TRUE(eventually([this] { return faulty_->reads_held() == 1; }));
    auto second = ask_async(*host_, "r1", Get{});  // waits in the queue
    ASSERT_TRUE(eventually([this] { return runtime_->recoveries_admitted() == 2; }));
    auto third = ask_and_wait(*host_, "r2", Get{});  // the queue is full
    EXPECT_EQ(third.status().code(), Errc::unavailable);
    EXPECT_EQ(faulty_->reads_held(), 1U) << "one recovery reads at a time";
    EXPECT_FALSE(answered(first));
    EXPECT_FALSE(answered(second));
    faulty_->hold_reads(false);
    EXPECT_EQ(first.get()->total, 3);
    EXPECT_EQ(second.get()->total, 3);
    EXPECT_EQ(ask_and_wait(*host_, "r2", Get{})->total, 3);  // refused, not lost: ask again
    EXPECT_EQ(host_->stats().recoveries, 3U);
}

TEST_F(EntityHostTest, AFailedRecoveryAnswersEveryWaitingCommand) {
    seed(*journal_, "a", 2);
    start();
    faulty_->hold_reads(true);
    auto first = ask_async(*host_, "a", Add{1});
    ASSERT_TRUE(eventually([this] { return faulty_->reads_held() == 1; }));
    auto second = ask_async(*host_, "a", Get{});
    faulty_->fail_reads(true);
    faulty_->hold_reads(false);
    EXPECT_EQ(first.get().status().code(), Errc::io_error);
    EXPECT_EQ(second.get().status().code(), Errc::io_error);
    EXPECT_EQ(host_->stats().active_entities, 0U);
    faulty_->fail_reads(false);
    EXPECT_EQ(ask_and_wait(*host_, "a", Add{1})->total, 3);
}

// ---- shard ownership (a cluster node serves only the shards given to it) ----------------

TEST_F(EntityHostTest, ANodeServesOnlyTheShardsItIsGivenUnderTheirTokens) {
    start({.shard_count = 4, .claim_every_shard = false});
    const ShardId shard = runtime_->shard_of(host_->persistence_id("a"));
    Result<CounterReply> refused = ask_and_wait(*host_, "a", Add{1});
    EXPECT_EQ(refused.status().code(), Errc::not_owner);
    EXPECT_EQ(runtime_->fencing_of(shard), FencingToken(0));
    ASSERT_TRUE(journal_->claim_shard(shard, FencingToken(7)).ok());
    runtime_->serve_shard(shard, FencingToken(7));
    EXPECT_TRUE(runtime_->serves(shard));
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{1}).ok());
    auto events = journal_->read_events("counter|a", SequenceNr(1), 10);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->size(), 1U);
}

TEST_F(EntityHostTest, AHandOffFinishesWhatWasTakenThenEvictsTheShardAndRefusesNewCommands) {
    start({.shard_count = 2, .claim_every_shard = false});
    const ShardId shard = runtime_->shard_of(host_->persistence_id("a"));
    ASSERT_TRUE(journal_->claim_shard(shard, FencingToken(3)).ok());
    runtime_->serve_shard(shard, FencingToken(3));
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{2}).ok());
    // A command taken just before the hand-off lands under the token before it drains.
    std::promise<Result<CounterReply>> in_flight;
    host_->ask("a", Add{3}, [&](Result<CounterReply> reply) { in_flight.set_value(reply); });
    std::atomic<bool> drained{false};
    runtime_->hand_off_shard(shard, [&drained] { drained = true; });
    EXPECT_FALSE(runtime_->serves(shard));
    // A busy shard is looked at again a moment later, by the runtime's clock.
    ASSERT_TRUE(eventually_advancing([&] { return drained.load(); }));
    Result<CounterReply> landed = in_flight.get_future().get();
    ASSERT_TRUE(landed.ok()) << landed.status().to_string();
    EXPECT_EQ(landed->total, 5);
    EXPECT_EQ(host_->stats().active_entities, 0U);
    EXPECT_EQ(runtime_->fencing_of(shard), FencingToken(0));
    EXPECT_EQ(ask_and_wait(*host_, "a", Get{}).status().code(), Errc::not_owner);
    // Served again (under a higher token): the entity comes back from the journal.
    ASSERT_TRUE(journal_->claim_shard(shard, FencingToken(4)).ok());
    runtime_->serve_shard(shard, FencingToken(4));
    auto reply = ask_and_wait(*host_, "a", Get{});
    ASSERT_TRUE(reply.ok()) << reply.status().to_string();
    EXPECT_EQ(reply->total, 5);
}

TEST_F(EntityHostTest, AStoppedShardRefusesAtOnceAndItsEntitiesLeaveMemory) {
    start({.shard_count = 2, .claim_every_shard = false});
    const ShardId shard = runtime_->shard_of(host_->persistence_id("a"));
    ASSERT_TRUE(journal_->claim_shard(shard, FencingToken(5)).ok());
    runtime_->serve_shard(shard, FencingToken(5));
    ASSERT_TRUE(ask_and_wait(*host_, "a", Add{2}).ok());
    runtime_->stop_shard(shard);
    EXPECT_EQ(ask_and_wait(*host_, "a", Add{1}).status().code(), Errc::not_owner);
    EXPECT_EQ(runtime_->fencing_of(shard), FencingToken(0));
    EXPECT_TRUE(eventually_advancing([&] { return host_->stats().active_entities == 0; }));
}

TEST_F(EntityHostTest, AShardServedLaterWakesItsPendingEntities) {
    start();
    ASSERT_TRUE(ask_and_wait(*host_, "a", SetAlarm{UnixMs{clock_.wall_now().value + 60'000}}).ok());
    restart({.claim_every_shard = false});
    ASSERT_TRUE(host_->wake_pending().ok());
    EXPECT_EQ(host_->stats().active_entities, 0U);  // its shard is not served here
    const ShardId shard = runtime_->shard_of(host_->persistence_id("a"));
    auto fence = journal_->current_fencing(shard);
    ASSERT_TRUE(fence.ok());
    ASSERT_TRUE(journal_->claim_shard(shard, fence->next()).ok());
    runtime_->serve_shard(shard, fence->next());
    EXPECT_TRUE(eventually([&] { return host_->stats().active_entities == 1; }));
}

}  // namespace
}  // namespace qrpay::runtime
