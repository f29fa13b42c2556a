// The projection engine against real journals (memory and SQLite) and a real SQLite store,
// with a test projection that records every event it is given and refuses one out of order.
// Waits are bounded by deadlines; no duration is asserted.

#include "projection/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "base/testing/eventually.h"
#include "journal/conformance/journal_test_support.h"
#include "journal/sqlite/sqlite_journal.h"
#include "projection/rebuild.h"
#include "projection/testing/stores.h"

namespace qrpay::projection {
namespace {

using namespace std::chrono_literals;
using journal::conformance::TempDir;

// Records (persistence id, seq, offset) per event; an event that is not its entity's next
// sequence number is refused, so a skipped or repeated event cannot go unnoticed. Can be told
// to fail one event until released.
class RecordingProjection final : public Projection {
public:
    std::string_view name() const override { return "recording"; }
    std::vector<std::string> table_names() const override { return {"seen"}; }
    Status create_tables(sql::Connection& db, const TableSet& tables) const override {
        return db.run_script("CREATE TABLE IF NOT EXISTS " + tables.table("seen") +
                             " (persistence_id TEXT NOT NULL, seq BIGINT NOT NULL, "
                             "shard_offset BIGINT NOT NULL, PRIMARY KEY (persistence_id, seq));");
    }
    Status apply(sql::Connection& db,
                 const TableSet& tables,
                 const journal::ShardEvent& event) const override {
        if (fail_persistence_id_.load() != nullptr &&
            *fail_persistence_id_.load() == event.persistence_id &&
            fail_seq_.load() == event.seq.value) {
            return {Errc::io_error, "told to fail"};
        }
        // As PostgreSQL breaks a deadlock with another writer: this statement did nothing.
        for (std::uint32_t left = aborts_left_.load(); left > 0;) {
            if (aborts_left_.compare_exchange_weak(left, left - 1)) {
                return {Errc::aborted, "deadlock detected (told to)"};
            }
        }
        auto highest = db.prepare("SELECT COALESCE(MAX(seq), 0) FROM " + tables.table("seen") +
                                  " WHERE persistence_id = ?");
        if (!highest.ok()) {
            return highest.status();
        }
        highest->bind_text(1, event.persistence_id);
        if (highest->step() != sql::Step::row) {
            return highest->error("highest");
        }
        if (static_cast<std::uint64_t>(highest->column_int(0)) + 1 != event.seq.value) {
            return {Errc::corruption, "out of order"};
        }
        auto insert = db.prepare("INSERT INTO " + tables.table("seen") + " VALUES (?, ?, ?)");
        if (!insert.ok()) {
            return insert.status();
        }
        insert->bind_text(1, event.persistence_id);
        insert->bind_int(2, static_cast<std::int64_t>(event.seq.value));
        insert->bind_int(3, static_cast<std::int64_t>(event.offset.value));
        return insert->run("insert seen");
    }

    void fail_at(const std::string* persistence_id, std::uint64_t seq) {
        fail_seq_ = seq;
        fail_persistence_id_ = persistence_id;
    }
    // The next `count` applies answer Errc::aborted.
    void abort_next(std::uint32_t count) { aborts_left_ = count; }

private:
    mutable std::atomic<std::uint32_t> aborts_left_{0};
    std::atomic<const std::string*> fail_persistence_id_{nullptr};
    std::atomic<std::uint64_t> fail_seq_{0};
};

// Appends `count` events to `pid` on `shard`, after `expected`.
void append(journal::Journal& journal,
            const std::string& pid,
            ShardId shard,
            std::uint64_t expected,
            std::size_t count,
            UnixMs written_at = {1'700'000'000'000}) {
    journal::AppendRequest request;
    request.shard = shard;
    request.persistence_id = pid;
    request.expected_seq = SequenceNr(expected);
    for (std::size_t i = 0; i < count; ++i) {
        request.events.push_back({"Event", pid + "#" + std::to_string(expected + i + 1)});
    }
    request.written_at = written_at;
    Status appended = journal.append_and_wait(std::move(request));
    ASSERT_TRUE(appended.ok()) << appended.to_string();
}

using qrpay::testing::eventually;

// Every event recorded, as "pid#seq" -> count, read from `table`.
std::map<std::string, int> recorded(Store& store, const std::string& table = "seen") {
    auto db = store.read();
    EXPECT_TRUE(db.ok());
    std::map<std::string, int> out;
    auto select = (*db)->prepare("SELECT persistence_id, seq FROM " + table);
    EXPECT_TRUE(select.ok());
    while (select->step() == sql::Step::row) {
        ++out[select->column_text(0) + "#" + std::to_string(select->column_int(1))];
    }
    return out;
}

std::uint64_t applied_total(const Engine& engine) {
    std::uint64_t total = 0;
    for (const ShardProgress& shard : engine.stats().shards) {
        total += shard.applied.value;
    }
    return total;
}

class EngineTest : public ::testing::TestWithParam<testing::StoreKind> {
protected:
    // The engine's waits, round spacing and backoffs follow clock_: every look advances it, so
    // time passes only as fast as the test looks.
    template <class Condition>
    bool eventually(Condition condition) {
        return qrpay::testing::eventually([this, &condition] {
            clock_.advance(std::chrono::milliseconds(5));
            return condition();
        });
    }
    void SetUp() override {
        location_ = testing::store_location(GetParam(), dir_.path());
        auto store = Store::open({.path = location_});
        ASSERT_TRUE(store.ok()) << store.status().to_string();
        store_ = std::move(store).value();
    }
    // Two engines on one read model, each with a store connection of its own, both woken by
    // the journal's commits and started: what two nodes of a cluster run.
    struct TwoEngines {
        std::unique_ptr<Engine> first;
        std::unique_ptr<Store> other_store;
        std::unique_ptr<Engine> second;
    };
    TwoEngines start_two_engines(journal::Journal& journal,
                                 const EngineOptions& first_options,
                                 const EngineOptions& second_options) {
        TwoEngines engines;
        engines.first = make_engine(journal, first_options);
        auto other_store = Store::open({.path = location_});
        EXPECT_TRUE(other_store.ok()) << other_store.status().to_string();
        engines.other_store = std::move(other_store).value();
        engines.second = std::make_unique<Engine>(journal, *engines.other_store, projection_,
                                                  clock_, second_options);
        EXPECT_TRUE(engines.second->open().ok());
        journal.set_commit_listener([first = engines.first.get(), second = engines.second.get()](
                                        ShardId shard, ShardOffset offset) {
            first->on_commit(shard, offset);
            second->on_commit(shard, offset);
        });
        engines.first->start();
        engines.second->start();
        return engines;
    }

    std::unique_ptr<Engine> make_engine(journal::Journal& journal, EngineOptions options = {}) {
        options.retry_backoff_first = 5ms;
        options.retry_backoff_max = 20ms;
        auto engine = std::make_unique<Engine>(journal, *store_, projection_, clock_, options);
        Status opened = engine->open();
        EXPECT_TRUE(opened.ok()) << opened.to_string();
        return engine;
    }

    TempDir dir_;
    std::string location_;  // of store_
    ManualClock clock_;
    RecordingProjection projection_;
    std::unique_ptr<Store> store_;
};

TEST_P(EngineTest, AppliesEveryEventOnceAndKeepsItsOffsetAcrossReopen) {
    auto journal = journal::make_memory_journal();
    for (std::uint32_t entity = 0; entity < 20; ++entity) {
        append(*journal, "e|" + std::to_string(entity), ShardId(entity % 4), 0, 3);
    }
    {
        auto engine = make_engine(*journal, {.shard_count = 4});
        ASSERT_TRUE(engine->catch_up(1'000).ok());
        EXPECT_EQ(applied_total(*engine), 60U);
        EXPECT_EQ(engine->stats().events_applied, 60U);
    }
    for (std::uint32_t entity = 0; entity < 20; ++entity) {
        append(*journal, "e|" + std::to_string(entity), ShardId(entity % 4), 3, 2);
    }
    auto engine = make_engine(*journal, {.shard_count = 4});
    ASSERT_TRUE(engine->catch_up(1'000).ok());
    EXPECT_EQ(engine->stats().events_applied, 40U) << "only the new events";
    auto seen = recorded(*store_);
    EXPECT_EQ(seen.size(), 100U);
    for (const auto& [event, count] : seen) {
        EXPECT_EQ(count, 1) << event;
    }
}

TEST_P(EngineTest, CommitListenerWakesTheWorkerForConcurrentAppends) {
    auto journal = journal::make_memory_journal();
    auto engine = make_engine(*journal, {.shard_count = 3, .poll_interval = 3'600'000ms});
    journal->set_commit_listener(
        [&engine](ShardId shard, ShardOffset offset) { engine->on_commit(shard, offset); });
    engine->start();
    // Many writers on few shards: appends commit in whatever order the threads reach the
    // journal, interleaving entities within each shard.
    constexpr int writers = 8;
    constexpr std::uint64_t appends_per_writer = 50;
    std::vector<std::thread> threads;
    for (int writer = 0; writer < writers; ++writer) {
        threads.emplace_back([&journal, writer] {
            std::string pid = "e|" + std::to_string(writer);
            for (std::uint64_t i = 0; i < appends_per_writer; ++i) {
                append(*journal, pid, ShardId(static_cast<std::uint32_t>(writer % 3)), i, 1);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    ASSERT_TRUE(eventually([&] { return applied_total(*engine) == writers * appends_per_writer; }));
    engine->stop();
    EXPECT_TRUE(engine->healthy());
    EXPECT_EQ(recorded(*store_).size(), writers * appends_per_writer);
    EXPECT_EQ(engine->stats().lag.count, writers * appends_per_writer);
}

// Two engines on one read model (as every node of a cluster runs today, each on every shard):
// the stored offset is checked and moved in the transaction of the rows it covers, so each
// event lands once, and the engine that lost a race reloads and goes on instead of stopping.
TEST_P(EngineTest, TwoEnginesOnOneStoreApplyEveryEventOnceAndBothCatchUp) {
    auto journal = journal::make_memory_journal();
    const EngineOptions options{.shard_count = 3,
                                .poll_interval = 3'600'000ms,
                                .retry_backoff_first = 5ms,
                                .retry_backoff_max = 20ms};
    auto [first, other_store, second_engine] = start_two_engines(*journal, options, options);
    Engine& second = *second_engine;
    constexpr int writers = 6;
    constexpr std::uint64_t appends_per_writer = 40;
    std::vector<std::thread> threads;
    for (int writer = 0; writer < writers; ++writer) {
        threads.emplace_back([&journal, writer] {
            const std::string pid = "e|" + std::to_string(writer);
            for (std::uint64_t i = 0; i < appends_per_writer; ++i) {
                append(*journal, pid, ShardId(static_cast<std::uint32_t>(writer % 3)), i, 1);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    constexpr std::uint64_t total = writers * appends_per_writer;
    ASSERT_TRUE(eventually(
        [&] { return applied_total(*first) == total && applied_total(second) == total; }));
    first->stop();
    second.stop();
    EXPECT_TRUE(first->healthy());
    EXPECT_TRUE(second.healthy());
    EXPECT_EQ(first->stats().events_applied + second.stats().events_applied, total)
        << "an event applied by both engines";
    auto seen = recorded(*store_);
    EXPECT_EQ(seen.size(), total);
    for (const auto& [event, count] : seen) {
        EXPECT_EQ(count, 1) << event;
    }
}

// A cluster: each engine projects only the shards its node serves. Shard 0 first belongs to the
// first engine and shards 1 and 2 to the second; then shard 0 moves to the second, which resumes
// from the offset the first one stored. Every event is applied once, by its shard's owner.
TEST_P(EngineTest, EachEngineProjectsTheShardsItsNodeServesAndAMovedShardResumes) {
    auto journal = journal::make_memory_journal();
    std::atomic<bool> zero_is_firsts{true};
    EngineOptions first_options{.shard_count = 3,
                                .poll_interval = 3'600'000ms,
                                .retry_backoff_first = 5ms,
                                .retry_backoff_max = 20ms};
    EngineOptions second_options = first_options;
    first_options.projects = [&](ShardId shard) { return shard.value == 0 && zero_is_firsts; };
    second_options.projects = [&](ShardId shard) { return shard.value != 0 || !zero_is_firsts; };
    auto [first, other_store, second_engine] =
        start_two_engines(*journal, first_options, second_options);
    Engine& second = *second_engine;
    for (std::uint32_t shard = 0; shard < 3; ++shard) {
        for (std::uint64_t i = 0; i < 10; ++i) {
            append(*journal, "e|" + std::to_string(shard), ShardId(shard), i, 1);
        }
    }
    ASSERT_TRUE(eventually([&] { return recorded(*store_).size() == 30U; }));
    EXPECT_EQ(first->stats().events_applied, 10U);
    EXPECT_EQ(second.stats().events_applied, 20U);

    zero_is_firsts = false;
    for (std::uint64_t i = 10; i < 15; ++i) {
        append(*journal, "e|0", ShardId(0), i, 1);
    }
    ASSERT_TRUE(eventually([&] { return recorded(*store_).size() == 35U; }));
    first->stop();
    second.stop();
    EXPECT_EQ(first->stats().events_applied, 10U) << "a shard it no longer serves";
    EXPECT_EQ(second.stats().events_applied, 25U);
    EXPECT_TRUE(first->healthy());
    EXPECT_TRUE(second.healthy());
    for (const auto& [event, count] : recorded(*store_)) {
        EXPECT_EQ(count, 1) << event;
    }
}

TEST_P(EngineTest, ConcurrentAppendsToTheSqliteJournalAreAllAppliedInEntityOrder) {
    auto opened = journal::open_sqlite_journal({.path = dir_.path() + "/journal.sqlite3"});
    ASSERT_TRUE(opened.ok());
    journal::Journal& journal = **opened;
    auto engine = make_engine(journal, {.shard_count = 2, .shard_batch_events_max = 7});
    journal.set_commit_listener(
        [&engine](ShardId shard, ShardOffset offset) { engine->on_commit(shard, offset); });
    engine->start();
    std::vector<std::thread> threads;
    for (int writer = 0; writer < 6; ++writer) {
        threads.emplace_back([&journal, writer] {
            std::string pid = "e|" + std::to_string(writer);
            for (std::uint64_t seq = 0; seq < 60; seq += 3) {
                append(journal, pid, ShardId(static_cast<std::uint32_t>(writer % 2)), seq, 3);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    ASSERT_TRUE(eventually([&] { return applied_total(*engine) == 6U * 60U; }));
    engine->stop();
    EXPECT_TRUE(engine->healthy()) << "an out-of-order event would have stopped a shard";
    EXPECT_EQ(recorded(*store_).size(), 6U * 60U);
}

// A journal that hides one offset from readers for a while, as a store whose lower offset
// commits after a higher one would (a PostgreSQL sequence, say): the engine must wait for the
// hole, never skip it.
class HoleJournal final : public journal::Journal {
public:
    explicit HoleJournal(journal::Journal& inner) : inner_(inner) {}
    void hide(ShardId shard, ShardOffset offset) {
        std::lock_guard lock(mutex_);
        hidden_shard_ = shard;
        hidden_ = offset;
    }
    void reveal() {
        std::lock_guard lock(mutex_);
        hidden_ = ShardOffset();
    }
    void append(journal::AppendRequest request, AppendCallback done) override {
        inner_.append(std::move(request), std::move(done));
    }
    Result<std::vector<journal::StoredEvent>> read_events(const std::string& pid,
                                                          SequenceNr from,
                                                          std::size_t max_count) override {
        return inner_.read_events(pid, from, max_count);
    }
    Result<SequenceNr> highest_seq(const std::string& pid) override {
        return inner_.highest_seq(pid);
    }
    Result<std::vector<journal::ShardEvent>> read_shard(ShardId shard,
                                                        ShardOffset from,
                                                        std::size_t max_count) override {
        auto events = inner_.read_shard(shard, from, max_count);
        std::lock_guard lock(mutex_);
        if (events.ok() && shard == hidden_shard_ && hidden_.value != 0) {
            std::erase_if(*events, [this](const journal::ShardEvent& event) {
                return event.offset == hidden_;
            });
        }
        return events;
    }
    Status save_snapshot(const std::string& pid, const journal::Snapshot& snapshot) override {
        return inner_.save_snapshot(pid, snapshot);
    }
    Result<std::optional<journal::Snapshot>> load_snapshot(const std::string& pid) override {
        return inner_.load_snapshot(pid);
    }
    Result<std::optional<journal::KeyClaim>> find_key_claim(const std::string& key,
                                                            UnixMs now) override {
        return inner_.find_key_claim(key, now);
    }
    Result<std::size_t> key_claim_count() override { return inner_.key_claim_count(); }
    Status claim_shard(ShardId shard, FencingToken token) override {
        return inner_.claim_shard(shard, token);
    }
    Result<FencingToken> current_fencing(ShardId shard) override {
        return inner_.current_fencing(shard);
    }
    Result<std::vector<journal::WakeEntry>> pending_wakeups(ShardId shard) override {
        return inner_.pending_wakeups(shard);
    }
    void set_commit_listener(CommitListener listener) override {
        inner_.set_commit_listener(std::move(listener));
    }

private:
    journal::Journal& inner_;
    std::mutex mutex_;
    ShardId hidden_shard_;
    ShardOffset hidden_;
};

TEST_P(EngineTest, AHoleInTheShardIsWaitedForNeverSkipped) {
    auto memory = journal::make_memory_journal();
    HoleJournal journal(*memory);
    for (std::uint32_t entity = 0; entity < 10; ++entity) {
        append(journal, "e|" + std::to_string(entity), ShardId(0), 0, 1);
    }
    journal.hide(ShardId(0), ShardOffset(4));
    auto engine = make_engine(journal, {.shard_count = 1});
    engine->start();
    ASSERT_TRUE(eventually([&] {
        auto shard = engine->stats().shards[0];
        return shard.failure.has_value() && shard.failure->attempts >= 3;
    }));
    EngineStats stopped = engine->stats();
    EXPECT_EQ(stopped.shards[0].applied, ShardOffset(3)) << "applied up to the hole, not past it";
    EXPECT_EQ(stopped.shards[0].failure->offset, ShardOffset(4));
    EXPECT_FALSE(engine->healthy());
    EXPECT_EQ(recorded(*store_).size(), 3U);
    journal.reveal();
    ASSERT_TRUE(eventually([&] { return applied_total(*engine) == 10U; }));
    engine->stop();
    EXPECT_TRUE(engine->healthy());
    EXPECT_EQ(recorded(*store_).size(), 10U);
}

// A statement the store aborted to break a deadlock (two nodes' engines adding to the same daily
// totals) rolls the whole round back, so that every row it held is free for the other writer,
// and runs it again at once: no shard stops, nothing is counted as a failure, and every event
// is applied once.
TEST_P(EngineTest, ARoundAbortedToBreakADeadlockRunsAgainAndStopsNoShard) {
    auto journal = journal::make_memory_journal();
    append(*journal, "e|a", ShardId(0), 0, 3);
    append(*journal, "e|b", ShardId(1), 0, 3);
    projection_.abort_next(3);
    auto engine = make_engine(*journal, {.shard_count = 2});
    ASSERT_TRUE(engine->catch_up(20).ok());
    const EngineStats stats = engine->stats();
    EXPECT_EQ(stats.aborted_reruns, 3U);
    EXPECT_EQ(stats.apply_failures, 0U);
    EXPECT_EQ(stats.store_failures, 0U);
    EXPECT_FALSE(stats.shards[0].failure.has_value());
    EXPECT_EQ(applied_total(*engine), 6U);
    for (const auto& [event, count] : recorded(*store_)) {
        EXPECT_EQ(count, 1) << event;
    }
    EXPECT_EQ(recorded(*store_).size(), 6U);
}

TEST_P(EngineTest, AFailingEventStopsOnlyItsShardUntilItApplies) {
    auto journal = journal::make_memory_journal();
    const std::string bad = "e|bad";
    append(*journal, bad, ShardId(0), 0, 5);
    append(*journal, "e|good", ShardId(1), 0, 5);
    projection_.fail_at(&bad, 3);
    auto engine = make_engine(*journal, {.shard_count = 2});
    engine->start();
    ASSERT_TRUE(eventually([&] {
        auto stats = engine->stats();
        return stats.shards[1].applied == ShardOffset(5) && stats.shards[0].failure &&
               stats.shards[0].failure->attempts >= 2;
    }));
    EngineStats stats = engine->stats();
    EXPECT_EQ(stats.shards[0].applied, ShardOffset(2)) << "the events before it are kept";
    EXPECT_EQ(stats.shards[0].failure->persistence_id, bad);
    EXPECT_EQ(stats.shards[0].failure->seq, SequenceNr(3));
    EXPECT_NE(stats.shards[0].failure->message.find("told to fail"), std::string::npos);
    EXPECT_GE(stats.apply_failures, 2U);
    EXPECT_FALSE(engine->healthy());
    projection_.fail_at(nullptr, 0);
    ASSERT_TRUE(eventually([&] { return engine->stats().shards[0].applied == ShardOffset(5); }));
    engine->stop();
    EXPECT_TRUE(engine->healthy());
    EXPECT_EQ(recorded(*store_).size(), 10U);
}

TEST_P(EngineTest, FailApplyFaultPointStopsEventsOfItsType) {
    auto journal = journal::make_memory_journal();
    append(*journal, "e|1", ShardId(0), 0, 2);
    auto engine = make_engine(*journal, {.shard_count = 1, .faults = {.fail_apply_type = "Event"}});
    Status caught_up = engine->catch_up(10);
    EXPECT_FALSE(caught_up.ok());
    EXPECT_NE(caught_up.message().find("fail_apply"), std::string::npos);
    EXPECT_EQ(engine->stats().shards[0].applied, ShardOffset(0));
}

TEST_P(EngineTest, AsOfIsTheNewestEventOnceEveryShardCaughtUp) {
    auto journal = journal::make_memory_journal();
    append(*journal, "e|a", ShardId(0), 0, 1, UnixMs{1'000});
    append(*journal, "e|b", ShardId(1), 0, 1, UnixMs{5'000});
    auto engine = make_engine(*journal, {.shard_count = 2});
    EXPECT_FALSE(engine->as_of().has_value()) << "nothing known before the first round";
    ASSERT_TRUE(engine->catch_up(10).ok());
    ASSERT_TRUE(engine->as_of().has_value());
    EXPECT_EQ(engine->as_of()->value, 5'000);
    // Shard 0 is reported ahead: the read model is complete only up to its last event.
    engine->on_commit(ShardId(0), ShardOffset(2));
    EXPECT_EQ(engine->as_of()->value, 1'000);
}

TEST_P(EngineTest, RebuildWhileLiveEngineRunsEqualsLiveAndTheLiveEngineGoesOn) {
    auto journal = journal::make_memory_journal();
    auto live = make_engine(*journal, {.shard_count = 4});
    journal->set_commit_listener(
        [&live](ShardId shard, ShardOffset offset) { live->on_commit(shard, offset); });
    live->start();
    std::mt19937 random(7);
    std::map<std::string, std::uint64_t> highest;
    auto append_random = [&](int count) {
        for (int i = 0; i < count; ++i) {
            std::uint32_t entity = static_cast<std::uint32_t>(random() % 40);
            std::string pid = "e|" + std::to_string(entity);
            append(*journal, pid, ShardId(entity % 4), highest[pid], 1);
            ++highest[pid];
        }
    };
    append_random(500);
    Rebuilder rebuilder(*journal, *store_, projection_, clock_, {.shard_count = 4});
    ASSERT_TRUE(rebuilder.prepare().ok());
    append_random(300);  // the live engine keeps applying while the rebuild catches up
    ASSERT_TRUE(rebuilder.catch_up().ok());
    ASSERT_TRUE(eventually([&] { return applied_total(*live) == 800U; }));
    EXPECT_EQ(recorded(*store_), recorded(*store_, "seen_rebuild"));
    ASSERT_TRUE(rebuilder.swap().ok());
    append_random(200);
    ASSERT_TRUE(eventually([&] { return recorded(*store_).size() == 1000U; }));
    live->stop();
    EXPECT_TRUE(live->healthy()) << "a twice-applied event would have stopped a shard";
    for (const auto& [event, count] : recorded(*store_)) {
        EXPECT_EQ(count, 1) << event;
    }
}

TEST(FaultPoints, ParsesNamedPointsAndRefusesOthers) {
    auto points = parse_fault_points("crash_before_commit@40,fail_apply@PaymentCompleted");
    ASSERT_TRUE(points.ok());
    EXPECT_EQ(points->crash_before_commit_at_event, 40U);
    EXPECT_EQ(points->fail_apply_type, "PaymentCompleted");
    EXPECT_FALSE(parse_fault_points("").value().any());
    EXPECT_FALSE(parse_fault_points("crash_before_commit@0").ok());
    EXPECT_FALSE(parse_fault_points("crash_before_commit").ok());
    EXPECT_FALSE(parse_fault_points("explode@1").ok());
}

TEST(LagHistogram, CountsEveryObservationInItsBucket) {
    LagHistogram histogram;
    histogram.observe(0ms);
    histogram.observe(3ms);
    histogram.observe(-5ms);
    histogram.observe(100'000ms);
    auto snapshot = histogram.snapshot();
    EXPECT_EQ(snapshot.count, 4U);
    EXPECT_EQ(snapshot.counts[0], 2U);  // <= 1 ms
    EXPECT_EQ(snapshot.counts[2], 1U);  // <= 5 ms
    EXPECT_EQ(snapshot.counts.back(), 1U);
    EXPECT_EQ(snapshot.max_ms, 100'000);
    EXPECT_EQ(snapshot.sum_ms, 100'003);
}

INSTANTIATE_TEST_SUITE_P(Stores,
                         EngineTest,
                         ::testing::Values(testing::StoreKind::sqlite,
                                           testing::StoreKind::postgres),
                         testing::store_kind_name);

}  // namespace
}  // namespace qrpay::projection
