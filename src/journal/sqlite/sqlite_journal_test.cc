// SQLite journal behaviour beyond the conformance suite: group commit, the bounded queue,
// shutdown, failures, schema versions, and data written by another process.

#include "journal/sqlite/sqlite_journal.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/testing/eventually.h"
#include "journal/conformance/journal_test_support.h"
#include "sqlite/connection.h"

namespace qrpay::journal {
namespace {

using conformance::answer_wait_max;
using conformance::make_append;
using conformance::OutcomeLog;
using conformance::TempDir;

std::unique_ptr<Journal> open_or_fail(const SqliteJournalOptions& options) {
    Result<std::unique_ptr<Journal>> journal = open_sqlite_journal(options);
    EXPECT_TRUE(journal.ok()) << journal.status().to_string();
    return journal.ok() ? std::move(journal).value() : nullptr;
}

// Holds the writer thread inside the commit listener once armed, so that writes pile up in
// the queue and the next group is known exactly. The contract says a listener must not block;
// this one blocks on purpose, and never longer than answer_wait_max.
class WriterGate {
public:
    Journal::CommitListener listener() {
        return [state = state_](ShardId, ShardOffset) {
            std::unique_lock lock(state->mutex);
            if (!state->armed) {
                return;
            }
            state->armed = false;
            state->held = true;
            state->changed.notify_all();
            state->changed.wait_for(lock, answer_wait_max, [&] { return state->opened; });
        };
    }
    void arm() {
        std::lock_guard lock(state_->mutex);
        state_->armed = true;
        state_->opened = false;
        state_->held = false;
    }
    // True once the writer sits in the listener.
    bool wait_held() {
        std::unique_lock lock(state_->mutex);
        return state_->changed.wait_for(lock, answer_wait_max, [&] { return state_->held; });
    }
    void open() {
        {
            std::lock_guard lock(state_->mutex);
            state_->opened = true;
        }
        state_->changed.notify_all();
    }

private:
    struct State {
        std::mutex mutex;  // guards the flags; shared with the writer thread
        std::condition_variable changed;
        bool armed = false;
        bool held = false;
        bool opened = false;
    };
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Holds the writer in the gate: an append of a new entity commits, then the writer waits.
void hold_writer(Journal& journal, WriterGate& gate, OutcomeLog& blocker_log) {
    gate.arm();
    journal.append(make_append("gate|blocker", SequenceNr(0), 1), blocker_log.callback(0));
    ASSERT_TRUE(gate.wait_held());
}

SequenceNr highest_or_fail(Journal& journal, const std::string& persistence_id) {
    Result<SequenceNr> highest = journal.highest_seq(persistence_id);
    EXPECT_TRUE(highest.ok()) << highest.status().to_string();
    return highest.ok() ? *highest : SequenceNr(0);
}

// Appends `requests` as one group (the writer held meanwhile) and returns their statuses.
std::vector<Status> append_as_one_group(Journal& journal,
                                        WriterGate& gate,
                                        std::vector<AppendRequest> requests) {
    OutcomeLog blocker(1);
    gate.arm();
    journal.append(make_append("gate|blocker", highest_or_fail(journal, "gate|blocker"), 1),
                   blocker.callback(0));
    EXPECT_TRUE(gate.wait_held());
    OutcomeLog outcomes(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        journal.append(std::move(requests[i]), outcomes.callback(i));
    }
    gate.open();
    EXPECT_TRUE(outcomes.wait_all());
    EXPECT_TRUE(blocker.wait_all());
    return outcomes.statuses();
}

class SqliteJournalTest : public ::testing::Test {
protected:
    std::string db_path() const { return dir_.path() + "/journal.db"; }
    SqliteJournalOptions options() const { return {.path = db_path()}; }

    TempDir dir_;
};

TEST_F(SqliteJournalTest, GroupCommitPutsQueuedAppendsInOneTransaction) {
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    WriterGate gate;
    journal->set_commit_listener(gate.listener());
    OutcomeLog blocker(1);
    hold_writer(*journal, gate, blocker);

    constexpr std::size_t threads = 10;
    constexpr std::size_t appends_per_thread = 100;
    OutcomeLog outcomes(threads * appends_per_thread);
    std::vector<std::thread> producers;
    for (std::size_t t = 0; t < threads; ++t) {
        producers.emplace_back([&, t] {
            for (std::size_t i = 0; i < appends_per_thread; ++i) {
                std::size_t index = t * appends_per_thread + i;
                journal->append(make_append("group|" + std::to_string(index), SequenceNr(0), 1,
                                            ShardId(static_cast<std::uint32_t>(index % 4))),
                                outcomes.callback(index));
            }
        });
    }
    for (std::thread& producer : producers) {
        producer.join();
    }
    gate.open();
    ASSERT_TRUE(outcomes.wait_all());
    ASSERT_TRUE(blocker.wait_all());
    for (const Status& status : outcomes.statuses()) {
        EXPECT_TRUE(status.ok()) << status.to_string();
    }
    SqliteJournalStats stats = sqlite_journal_stats(*journal);
    EXPECT_EQ(stats.appends_committed, threads * appends_per_thread + 1);
    EXPECT_LT(stats.commits, stats.appends_committed);
    EXPECT_EQ(stats.commits, 2U) << "the blocker's group, then one group of all queued appends";
}

TEST_F(SqliteJournalTest, ConcurrentAppendsShareCommits) {
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    constexpr std::size_t threads = 10;
    constexpr std::size_t appends_per_thread = 100;
    OutcomeLog outcomes(threads * appends_per_thread);
    std::vector<std::thread> producers;
    for (std::size_t t = 0; t < threads; ++t) {
        producers.emplace_back([&, t] {
            for (std::size_t i = 0; i < appends_per_thread; ++i) {
                std::size_t index = t * appends_per_thread + i;
                journal->append(make_append("share|" + std::to_string(index), SequenceNr(0), 1),
                                outcomes.callback(index));
            }
        });
    }
    for (std::thread& producer : producers) {
        producer.join();
    }
    ASSERT_TRUE(outcomes.wait_all());
    SqliteJournalStats stats = sqlite_journal_stats(*journal);
    EXPECT_EQ(stats.appends_committed, threads * appends_per_thread);
    EXPECT_LT(stats.commits, stats.appends_committed);
}

TEST_F(SqliteJournalTest, GroupRespectsTheEventCap) {
    SqliteJournalOptions capped = options();
    capped.group_events_max = 10;
    std::unique_ptr<Journal> journal = open_or_fail(capped);
    ASSERT_NE(journal, nullptr);
    WriterGate gate;
    journal->set_commit_listener(gate.listener());
    OutcomeLog blocker(1);
    hold_writer(*journal, gate, blocker);
    constexpr std::size_t appends = 100;
    OutcomeLog outcomes(appends);
    for (std::size_t i = 0; i < appends; ++i) {
        journal->append(make_append("cap|" + std::to_string(i), SequenceNr(0), 1),
                        outcomes.callback(i));
    }
    gate.open();
    ASSERT_TRUE(outcomes.wait_all());
    EXPECT_EQ(sqlite_journal_stats(*journal).commits, 1 + appends / 10);
}

TEST_F(SqliteJournalTest, RefusedWriteDoesNotFailItsGroup) {
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    WriterGate gate;
    journal->set_commit_listener(gate.listener());
    ASSERT_TRUE(journal->claim_shard(ShardId(2), FencingToken(3)).ok());
    ASSERT_TRUE(journal->append_and_wait(make_append("mixed|a", SequenceNr(0), 1)).ok());
    std::uint64_t commits_before = sqlite_journal_stats(*journal).commits;
    std::vector<AppendRequest> group;
    group.push_back(make_append("mixed|a", SequenceNr(1), 1));
    group.push_back(make_append("mixed|a", SequenceNr(0), 1));
    group.push_back(make_append("mixed|c", SequenceNr(0), 1, ShardId(2)));
    group.push_back(make_append("mixed|d", SequenceNr(0), 1));
    group.push_back(make_append("mixed|a", SequenceNr(2), 1));
    std::vector<Status> statuses = append_as_one_group(*journal, gate, std::move(group));
    ASSERT_EQ(statuses.size(), 5U);
    EXPECT_TRUE(statuses[0].ok()) << statuses[0].to_string();
    EXPECT_EQ(statuses[1].code(), Errc::sequence_conflict);
    EXPECT_EQ(statuses[2].code(), Errc::fenced);
    EXPECT_TRUE(statuses[3].ok()) << statuses[3].to_string();
    EXPECT_TRUE(statuses[4].ok()) << "sees the earlier append of its own group";
    SqliteJournalStats stats = sqlite_journal_stats(*journal);
    EXPECT_EQ(stats.commits, commits_before + 2);
    EXPECT_EQ(stats.writes_refused, 2U);
    Result<SequenceNr> highest = journal->highest_seq("mixed|a");
    ASSERT_TRUE(highest.ok());
    EXPECT_EQ(*highest, SequenceNr(3));
    Result<SequenceNr> fenced = journal->highest_seq("mixed|c");
    ASSERT_TRUE(fenced.ok());
    EXPECT_EQ(*fenced, SequenceNr(0));
}

// The writer keeps each shard's last offset in memory during a group and stores it once at the
// end: refused appends must not move it, and the next group must continue from it.
TEST_F(SqliteJournalTest, OffsetsStayGapFreeAcrossRefusalsAndGroups) {
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    WriterGate gate;
    journal->set_commit_listener(gate.listener());
    std::vector<AppendRequest> group;  // after the gate's blocker, offset 1 of shard 1
    group.push_back(make_append("gapless|a", SequenceNr(0), 2));
    group.push_back(make_append("gapless|a", SequenceNr(0), 1));
    group.push_back(make_append("gapless|b", SequenceNr(0), 3, ShardId(1), FencingToken(7)));
    group.push_back(make_append("gapless|b", SequenceNr(0), 3));
    std::vector<Status> statuses = append_as_one_group(*journal, gate, std::move(group));
    ASSERT_EQ(statuses.size(), 4U);
    EXPECT_TRUE(statuses[0].ok()) << statuses[0].to_string();
    EXPECT_EQ(statuses[1].code(), Errc::sequence_conflict);
    EXPECT_EQ(statuses[2].code(), Errc::fenced);
    EXPECT_TRUE(statuses[3].ok()) << statuses[3].to_string();
    ASSERT_TRUE(journal->claim_shard(ShardId(1), FencingToken(2)).ok());
    ASSERT_TRUE(journal
                    ->append_and_wait(
                        make_append("gapless|c", SequenceNr(0), 1, ShardId(1), FencingToken(2)))
                    .ok());

    Result<std::vector<ShardEvent>> shard = journal->read_shard(ShardId(1), ShardOffset(1), 100);
    ASSERT_TRUE(shard.ok()) << shard.status().to_string();
    ASSERT_EQ(shard->size(), 7U) << "blocker 1, a 2, b 3, c 1";
    for (std::size_t i = 0; i < shard->size(); ++i) {
        EXPECT_EQ((*shard)[i].offset, ShardOffset(i + 1));
    }
    EXPECT_EQ(shard->back().persistence_id, "gapless|c");
}

TEST_F(SqliteJournalTest, FullQueueAnswersUnavailableOnTheCallingThread) {
    SqliteJournalOptions small = options();
    small.queued_writes_max = 3;
    std::unique_ptr<Journal> journal = open_or_fail(small);
    ASSERT_NE(journal, nullptr);
    WriterGate gate;
    journal->set_commit_listener(gate.listener());
    OutcomeLog blocker(1);
    hold_writer(*journal, gate, blocker);
    OutcomeLog queued(3);
    for (std::size_t i = 0; i < 3; ++i) {
        journal->append(make_append("full|" + std::to_string(i), SequenceNr(0), 1),
                        queued.callback(i));
    }
    std::optional<Status> refused;
    journal->append(make_append("full|x", SequenceNr(0), 1),
                    [&refused](Status status) { refused = std::move(status); });
    ASSERT_TRUE(refused.has_value()) << "answered before append() returned";
    EXPECT_EQ(refused->code(), Errc::unavailable);
    EXPECT_EQ(journal->claim_shard(ShardId(1), FencingToken(1)).code(), Errc::unavailable);
    EXPECT_EQ(journal->save_snapshot("full|0", {SequenceNr(1), "s"}).code(), Errc::unavailable);
    gate.open();
    ASSERT_TRUE(queued.wait_all());
    for (const Status& status : queued.statuses()) {
        EXPECT_TRUE(status.ok()) << status.to_string();
    }
    Result<SequenceNr> highest = journal->highest_seq("full|x");
    ASSERT_TRUE(highest.ok());
    EXPECT_EQ(*highest, SequenceNr(0));
}

TEST_F(SqliteJournalTest, DestructorCommitsQueuedWrites) {
    constexpr std::size_t appends = 100;
    OutcomeLog outcomes(appends);
    {
        std::unique_ptr<Journal> journal = open_or_fail(options());
        ASSERT_NE(journal, nullptr);
        WriterGate gate;
        journal->set_commit_listener(gate.listener());
        OutcomeLog blocker(1);
        hold_writer(*journal, gate, blocker);
        for (std::size_t i = 0; i < appends; ++i) {
            journal->append(make_append("drain|" + std::to_string(i), SequenceNr(0), 1),
                            outcomes.callback(i));
        }
        std::thread closer([&journal] { journal.reset(); });  // waits for the writer
        gate.open();
        closer.join();
    }
    ASSERT_TRUE(outcomes.wait_all()) << "the destructor answered every queued write";
    for (const Status& status : outcomes.statuses()) {
        EXPECT_TRUE(status.ok()) << status.to_string();
    }
    std::unique_ptr<Journal> reopened = open_or_fail(options());
    ASSERT_NE(reopened, nullptr);
    Result<std::vector<ShardEvent>> shard = reopened->read_shard(ShardId(1), ShardOffset(1), 1000);
    ASSERT_TRUE(shard.ok());
    EXPECT_EQ(shard->size(), appends + 1);
}

// Runs SQL on connections of the test's own, outside the journal: exec() on a writer, opened
// on first use; column() on a reader, which sets no pragma, so what it reads is the journal's.
class RawDb {
public:
    explicit RawDb(std::string path) : path_(std::move(path)) {}

    void exec(const std::string& sql) {
        if (writer_ == nullptr) {
            writer_ = open(qrpay::sqlite::OpenMode::writer);
        }
        Status ran =
            writer_ == nullptr ? Status(Errc::io_error, "no writer") : writer_->run_script(sql);
        EXPECT_TRUE(ran.ok()) << ran.to_string();
    }
    // The first column of each row, as text.
    std::vector<std::string> column(const std::string& sql) {
        std::vector<std::string> out;
        std::unique_ptr<qrpay::sqlite::Connection> reader = open(qrpay::sqlite::OpenMode::reader);
        if (reader == nullptr) {
            return out;
        }
        Result<qrpay::sqlite::Statement> query = reader->prepare(sql);
        EXPECT_TRUE(query.ok()) << query.status().to_string();
        while (query.ok() && query->step() == qrpay::sqlite::Step::row) {
            out.push_back(query->column_text(0));
        }
        return out;
    }

private:
    std::unique_ptr<qrpay::sqlite::Connection> open(qrpay::sqlite::OpenMode mode) const {
        auto opened = qrpay::sqlite::Connection::open(path_, mode, std::chrono::milliseconds(0));
        EXPECT_TRUE(opened.ok()) << opened.status().to_string();
        return opened.ok() ? std::move(opened).value() : nullptr;
    }

    std::string path_;
    std::unique_ptr<qrpay::sqlite::Connection> writer_;
};

TEST_F(SqliteJournalTest, CreatesSchemaWithVersionInWalMode) {
    ASSERT_NE(open_or_fail(options()), nullptr);
    RawDb db(db_path());
    EXPECT_EQ(db.column("PRAGMA user_version"), std::vector<std::string>{"2"});
    EXPECT_EQ(db.column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
    EXPECT_EQ(db.column("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"),
              (std::vector<std::string>{"claimed_keys", "events", "shard_state", "snapshots",
                                        "wakeups"}));
}

// A journal written by a build of schema version 1 (its tables as that build made them,
// written out here as the fixture of the old format) opens, is migrated to version 2, and keeps
// its events and wakeups.
TEST_F(SqliteJournalTest, MigratesAVersion1Journal) {
    {
        RawDb db(db_path());
        db.exec(R"sql(
CREATE TABLE events (
    persistence_id TEXT NOT NULL, seq INTEGER NOT NULL CHECK (seq >= 1),
    shard INTEGER NOT NULL CHECK (shard >= 0), shard_offset INTEGER NOT NULL CHECK (shard_offset >= 1),
    type TEXT NOT NULL, payload BLOB NOT NULL, written_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (persistence_id, seq));
CREATE UNIQUE INDEX events_by_shard_offset ON events (shard, shard_offset);
CREATE TABLE shard_state (shard INTEGER PRIMARY KEY CHECK (shard >= 0),
    fencing_token INTEGER NOT NULL CHECK (fencing_token >= 0),
    last_offset INTEGER NOT NULL CHECK (last_offset >= 0));
CREATE TABLE snapshots (persistence_id TEXT PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 0), payload BLOB NOT NULL);
CREATE TABLE wakeups (persistence_id TEXT PRIMARY KEY NOT NULL,
    shard INTEGER NOT NULL CHECK (shard >= 0), wake_at_unix_ms INTEGER NOT NULL);
CREATE INDEX wakeups_by_shard ON wakeups (shard, wake_at_unix_ms, persistence_id);
INSERT INTO events VALUES ('old|a', 1, 1, 1, 'Event', 'old|a#1', 1000);
INSERT INTO shard_state VALUES (1, 0, 1);
INSERT INTO wakeups VALUES ('old|a', 1, 5000);
PRAGMA user_version = 1;
)sql");
    }
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    EXPECT_EQ(RawDb(db_path()).column("PRAGMA user_version"), std::vector<std::string>{"2"});
    Result<std::vector<WakeEntry>> wakeups = journal->pending_wakeups(ShardId(1));
    ASSERT_TRUE(wakeups.ok());
    ASSERT_EQ(wakeups->size(), 1U);
    EXPECT_EQ((*wakeups)[0].persistence_id, "old|a");
    EXPECT_EQ((*wakeups)[0].wake_at, UnixMs{5000});
    AppendRequest next = make_append("old|a", SequenceNr(1), 1);
    next.claimed_keys = {"after-upgrade"};
    ASSERT_TRUE(journal->append_and_wait(next).ok());
    EXPECT_EQ(journal->highest_seq("old|a").value(), SequenceNr(2));
    EXPECT_TRUE(journal->pending_wakeups(ShardId(1))->empty()) << "the append cleared it";
    EXPECT_TRUE(journal->find_key_claim("after-upgrade", UnixMs{1000})->has_value());
}

TEST_F(SqliteJournalTest, RefusesANewerSchemaVersion) {
    ASSERT_NE(open_or_fail(options()), nullptr);
    RawDb(db_path()).exec("PRAGMA user_version = 3");
    Result<std::unique_ptr<Journal>> journal = open_sqlite_journal(options());
    ASSERT_FALSE(journal.ok());
    EXPECT_EQ(journal.status().code(), Errc::corruption) << journal.status().to_string();
}

TEST_F(SqliteJournalTest, RefusesADatabaseThatIsNoJournal) {
    RawDb(db_path()).exec("CREATE TABLE something_else (x INTEGER)");
    Result<std::unique_ptr<Journal>> journal = open_sqlite_journal(options());
    ASSERT_FALSE(journal.ok());
    EXPECT_EQ(journal.status().code(), Errc::corruption) << journal.status().to_string();
}

TEST_F(SqliteJournalTest, OpenInAMissingDirectoryFails) {
    Result<std::unique_ptr<Journal>> journal =
        open_sqlite_journal({.path = dir_.path() + "/missing/journal.db"});
    ASSERT_FALSE(journal.ok());
    EXPECT_EQ(journal.status().code(), Errc::io_error);
}

TEST_F(SqliteJournalTest, RefusesInvalidOptions) {
    EXPECT_EQ(open_sqlite_journal({}).status().code(), Errc::invalid_argument) << "no path";
    SqliteJournalOptions no_group = options();
    no_group.group_events_max = 0;
    EXPECT_EQ(open_sqlite_journal(no_group).status().code(), Errc::invalid_argument);
    SqliteJournalOptions no_readers = options();
    no_readers.read_connections_max = 0;
    EXPECT_EQ(open_sqlite_journal(no_readers).status().code(), Errc::invalid_argument);
    SqliteJournalOptions odd_pages = options();
    odd_pages.page_bytes = 5000;
    EXPECT_EQ(open_sqlite_journal(odd_pages).status().code(), Errc::invalid_argument);
    SqliteJournalOptions tiny_wal = options();
    tiny_wal.wal_backstop_bytes = tiny_wal.page_bytes - 1;
    EXPECT_EQ(open_sqlite_journal(tiny_wal).status().code(), Errc::invalid_argument);
    SqliteJournalOptions over_share = options();
    over_share.group_wait_commit_share_percent = 101;
    EXPECT_EQ(open_sqlite_journal(over_share).status().code(), Errc::invalid_argument);
}

TEST_F(SqliteJournalTest, CreatesItsFileWithThePageSizeAsked) {
    SqliteJournalOptions paged = options();
    paged.page_bytes = 16384;
    {
        std::unique_ptr<Journal> journal = open_or_fail(paged);
        ASSERT_NE(journal, nullptr);
        ASSERT_TRUE(journal->append_and_wait(make_append("page|a", SequenceNr(0), 1)).ok());
    }
    auto db = qrpay::sqlite::Connection::open(db_path(), qrpay::sqlite::OpenMode::reader,
                                              std::chrono::milliseconds(0));
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    auto page_size = (*db)->prepare("PRAGMA page_size");
    ASSERT_TRUE(page_size.ok());
    ASSERT_EQ(page_size->step(), qrpay::sqlite::Step::row);
    EXPECT_EQ(page_size->column_int(0), 16384);
}

TEST_F(SqliteJournalTest, ReadsProceedWhileAnotherConnectionHoldsTheWriteLock) {
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    ASSERT_TRUE(journal->append_and_wait(make_append("lock|a", SequenceNr(0), 2)).ok());
    RawDb holder(db_path());
    holder.exec("BEGIN IMMEDIATE; INSERT INTO shard_state VALUES (77, 0, 0);");
    Result<std::vector<StoredEvent>> events = journal->read_events("lock|a", SequenceNr(1), 10);
    ASSERT_TRUE(events.ok()) << events.status().to_string();
    EXPECT_EQ(events->size(), 2U);
    Result<std::vector<ShardEvent>> shard = journal->read_shard(ShardId(1), ShardOffset(1), 10);
    ASSERT_TRUE(shard.ok()) << shard.status().to_string();
    EXPECT_EQ(shard->size(), 2U);
    Result<FencingToken> token = journal->current_fencing(ShardId(77));
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(*token, FencingToken(0)) << "the uncommitted row is not seen";
    holder.exec("ROLLBACK");
}

// A lock held elsewhere beyond lock_wait_max fails the group with io_error: nothing stored,
// and the writer goes on once the lock is gone.
TEST_F(SqliteJournalTest, GroupFailsWithIoErrorAndTheWriterRecovers) {
    SqliteJournalOptions impatient = options();
    impatient.lock_wait_max = std::chrono::milliseconds(20);
    std::unique_ptr<Journal> journal = open_or_fail(impatient);
    ASSERT_NE(journal, nullptr);
    {
        RawDb holder(db_path());
        holder.exec("BEGIN IMMEDIATE");
        Status failed = journal->append_and_wait(make_append("busy|a", SequenceNr(0), 1));
        EXPECT_EQ(failed.code(), Errc::io_error) << failed.to_string();
        holder.exec("ROLLBACK");
    }
    Result<SequenceNr> highest = journal->highest_seq("busy|a");
    ASSERT_TRUE(highest.ok());
    EXPECT_EQ(*highest, SequenceNr(0));
    Status retried = journal->append_and_wait(make_append("busy|a", SequenceNr(0), 1));
    EXPECT_TRUE(retried.ok()) << retried.to_string();
    SqliteJournalStats stats = sqlite_journal_stats(*journal);
    EXPECT_EQ(stats.groups_failed, 1U);
    EXPECT_EQ(stats.appends_committed, 1U);
}

// ---- The writer's direct pass and its HighestSeqCache (group_commit.h) ----

Status append_with_wake(Journal& journal,
                        const std::string& persistence_id,
                        SequenceNr expected_seq,
                        std::optional<UnixMs> wake_at) {
    AppendRequest request = make_append(persistence_id, expected_seq, 1);
    request.wake_at = wake_at;
    return journal.append_and_wait(std::move(request));
}

// The cache's tip of an entity is written under its shard's token. Once another journal has
// claimed the shard and appended, that tip must neither refuse nor accept anything.
TEST_F(SqliteJournalTest, CachedTipIsStaleOnceAnotherWriterClaimedTheShard) {
    std::unique_ptr<Journal> first = open_or_fail(options());
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(first->claim_shard(ShardId(1), FencingToken(1)).ok());
    AppendRequest opening = make_append("stale|e", SequenceNr(0), 2, ShardId(1), FencingToken(1));
    ASSERT_TRUE(first->append_and_wait(std::move(opening)).ok());  // first's cache: e at 2

    std::unique_ptr<Journal> second = open_or_fail(options());
    ASSERT_NE(second, nullptr);
    ASSERT_TRUE(second->claim_shard(ShardId(1), FencingToken(2)).ok());
    ASSERT_TRUE(
        second
            ->append_and_wait(make_append("stale|e", SequenceNr(2), 1, ShardId(1), FencingToken(2)))
            .ok());  // e at 3
    second.reset();

    EXPECT_EQ(
        first
            ->append_and_wait(make_append("stale|e", SequenceNr(2), 1, ShardId(1), FencingToken(1)))
            .code(),
        Errc::fenced)
        << "the shard row is read again at each group";
    Status current = first->append_and_wait(
        make_append("stale|e", SequenceNr(3), 1, ShardId(1), FencingToken(2)));
    EXPECT_TRUE(current.ok()) << "the cached tip (2) was written under token 1: "
                              << current.to_string();
    EXPECT_EQ(
        first
            ->append_and_wait(make_append("stale|e", SequenceNr(3), 1, ShardId(1), FencingToken(2)))
            .code(),
        Errc::sequence_conflict);
    EXPECT_EQ(highest_or_fail(*first, "stale|e"), SequenceNr(4));
    EXPECT_EQ(sqlite_journal_stats(*first).groups_retried_isolated, 0U);
}

// Two journals appending under the same token (a shard never claimed) defeat the token rule.
// The cache may then say yes wrongly, which the primary key catches, and it never says no.
TEST_F(SqliteJournalTest, CachedTipBehindAnotherWriterWithTheSameToken) {
    std::unique_ptr<Journal> first = open_or_fail(options());
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(first->append_and_wait(make_append("same|e", SequenceNr(0), 1)).ok());
    ASSERT_TRUE(first->append_and_wait(make_append("same|f", SequenceNr(0), 1)).ok());
    {
        std::unique_ptr<Journal> second = open_or_fail(options());
        ASSERT_NE(second, nullptr);
        ASSERT_TRUE(second->append_and_wait(make_append("same|e", SequenceNr(1), 1)).ok());
        ASSERT_TRUE(second->append_and_wait(make_append("same|f", SequenceNr(1), 1)).ok());
    }
    EXPECT_EQ(first->append_and_wait(make_append("same|e", SequenceNr(1), 1)).code(),
              Errc::sequence_conflict)
        << "the cache vouched for 1; the INSERT of seq 2 found it taken";
    Status current = first->append_and_wait(make_append("same|f", SequenceNr(2), 1));
    EXPECT_TRUE(current.ok()) << "the cache said 1, SQL said 2: " << current.to_string();
    EXPECT_EQ(highest_or_fail(*first, "same|e"), SequenceNr(2));
    EXPECT_EQ(highest_or_fail(*first, "same|f"), SequenceNr(3));
    Result<std::vector<ShardEvent>> shard = first->read_shard(ShardId(1), ShardOffset(1), 10);
    ASSERT_TRUE(shard.ok());
    ASSERT_EQ(shard->size(), 5U);
    EXPECT_EQ(shard->back().offset, ShardOffset(5));
    EXPECT_EQ(shard->back().persistence_id, "same|f");
}

// Without a cached tip a first append (expected_seq 0) runs no SELECT: the INSERT of seq 1
// fails on the primary key when the entity exists. That must refuse it alone, on the direct
// pass, while the appends around it in the group land.
TEST_F(SqliteJournalTest, FirstAppendOfAnExistingEntityIsRefusedAlone) {
    {
        std::unique_ptr<Journal> earlier = open_or_fail(options());
        ASSERT_NE(earlier, nullptr);
        ASSERT_TRUE(earlier->append_and_wait(make_append("exists|e", SequenceNr(0), 2)).ok());
    }
    std::unique_ptr<Journal> journal = open_or_fail(options());  // an empty cache
    ASSERT_NE(journal, nullptr);
    WriterGate gate;
    journal->set_commit_listener(gate.listener());
    OutcomeLog blocker(1);
    hold_writer(*journal, gate, blocker);

    OutcomeLog outcomes(4);
    journal->append(make_append("exists|n1", SequenceNr(0), 1), outcomes.callback(0));
    journal->append(make_append("exists|e", SequenceNr(0), 1), outcomes.callback(1));
    journal->append(make_append("exists|n2", SequenceNr(0), 2), outcomes.callback(2));
    journal->append(make_append("exists|e", SequenceNr(2), 1), outcomes.callback(3));
    gate.open();
    ASSERT_TRUE(outcomes.wait_all());
    std::vector<Status> statuses = outcomes.statuses();
    EXPECT_TRUE(statuses[0].ok()) << statuses[0].to_string();
    EXPECT_EQ(statuses[1].code(), Errc::sequence_conflict) << statuses[1].to_string();
    EXPECT_TRUE(statuses[2].ok()) << statuses[2].to_string();
    EXPECT_TRUE(statuses[3].ok()) << statuses[3].to_string();
    EXPECT_EQ(highest_or_fail(*journal, "exists|e"), SequenceNr(3));
    EXPECT_EQ(highest_or_fail(*journal, "exists|n2"), SequenceNr(2));
    SqliteJournalStats stats = sqlite_journal_stats(*journal);
    EXPECT_EQ(stats.writes_refused, 1U);
    EXPECT_EQ(stats.groups_retried_isolated, 0U) << "a refusal needs no isolated pass";
    Result<std::vector<ShardEvent>> shard = journal->read_shard(ShardId(1), ShardOffset(1), 20);
    ASSERT_TRUE(shard.ok());
    ASSERT_EQ(shard->size(), 2U + 1U + 1U + 2U + 1U) << "earlier e, blocker, n1, n2, e";
    EXPECT_EQ(shard->back().offset, ShardOffset(7));
}

// An expected_seq beyond the highest would leave a gap: refused, whether the writer knows the
// entity (a cached tip) or not (after a reopen).
TEST_F(SqliteJournalTest, FutureExpectedSeqIsRefused) {
    for (int reopen = 0; reopen < 2; ++reopen) {
        const std::string id = "future|" + std::to_string(reopen);
        std::unique_ptr<Journal> journal = open_or_fail(options());
        ASSERT_NE(journal, nullptr);
        ASSERT_TRUE(journal->append_and_wait(make_append(id, SequenceNr(0), 2)).ok());
        if (reopen == 1) {
            journal = open_or_fail(options());
            ASSERT_NE(journal, nullptr);
        }
        EXPECT_EQ(journal->append_and_wait(make_append(id, SequenceNr(3), 1)).code(),
                  Errc::sequence_conflict);
        EXPECT_EQ(journal->append_and_wait(make_append(id, SequenceNr(5), 1)).code(),
                  Errc::sequence_conflict);
        EXPECT_EQ(highest_or_fail(*journal, id), SequenceNr(2));
        ASSERT_TRUE(journal->append_and_wait(make_append(id, SequenceNr(2), 1)).ok());
        EXPECT_EQ(highest_or_fail(*journal, id), SequenceNr(3));
    }
}

AppendRequest poisoned(const std::string& persistence_id, std::size_t events, std::size_t at) {
    AppendRequest request = make_append(persistence_id, SequenceNr(0), events);
    request.events[at].type = "Poison";
    return request;
}

// A write that fails without being refused (here a trigger, as an I/O error would) cannot be
// taken out of a transaction without a savepoint, so the group runs again isolated: the
// failing append answers io_error alone and every other one lands, offsets without a gap.
// Once when the failing event is an append's first (the direct pass asks SQL whether it was a
// conflict: no), once when part of the append is already in.
TEST_F(SqliteJournalTest, FailingWriteMidGroupFallsBackAndNeighboursLand) {
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    WriterGate gate;
    journal->set_commit_listener(gate.listener());
    ASSERT_TRUE(journal->append_and_wait(make_append("poison|a", SequenceNr(0), 1)).ok());
    RawDb(db_path()).exec(
        "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.type = 'Poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;");

    std::vector<AppendRequest> first_group;
    first_group.push_back(make_append("poison|a", SequenceNr(1), 1));
    first_group.push_back(poisoned("poison|b", 1, 0));
    first_group.push_back(make_append("poison|c", SequenceNr(0), 1));
    std::vector<Status> statuses = append_as_one_group(*journal, gate, std::move(first_group));
    EXPECT_TRUE(statuses[0].ok()) << statuses[0].to_string();
    EXPECT_EQ(statuses[1].code(), Errc::io_error) << statuses[1].to_string();
    EXPECT_TRUE(statuses[2].ok()) << statuses[2].to_string();
    EXPECT_EQ(sqlite_journal_stats(*journal).groups_retried_isolated, 1U);

    std::vector<AppendRequest> second_group;
    second_group.push_back(make_append("poison|a", SequenceNr(2), 1));
    second_group.push_back(poisoned("poison|d", 2, 1));
    second_group.push_back(make_append("poison|a", SequenceNr(3), 1));
    statuses = append_as_one_group(*journal, gate, std::move(second_group));
    EXPECT_TRUE(statuses[0].ok()) << statuses[0].to_string();
    EXPECT_EQ(statuses[1].code(), Errc::io_error) << statuses[1].to_string();
    EXPECT_TRUE(statuses[2].ok()) << statuses[2].to_string();
    SqliteJournalStats stats = sqlite_journal_stats(*journal);
    EXPECT_EQ(stats.groups_retried_isolated, 2U);
    EXPECT_EQ(stats.groups_failed, 0U);

    EXPECT_EQ(highest_or_fail(*journal, "poison|a"), SequenceNr(4));
    EXPECT_EQ(highest_or_fail(*journal, "poison|b"), SequenceNr(0));
    EXPECT_EQ(highest_or_fail(*journal, "poison|d"), SequenceNr(0)) << "all or none";
    Result<std::vector<ShardEvent>> shard = journal->read_shard(ShardId(1), ShardOffset(1), 20);
    ASSERT_TRUE(shard.ok());
    ASSERT_EQ(shard->size(), 7U) << "a, then blocker a c, then blocker a a";
    for (std::size_t i = 0; i < shard->size(); ++i) {
        EXPECT_EQ((*shard)[i].offset, ShardOffset(i + 1));
    }
    // The next group takes the direct pass again.
    ASSERT_TRUE(journal->append_and_wait(make_append("poison|a", SequenceNr(4), 1)).ok());
    EXPECT_EQ(sqlite_journal_stats(*journal).groups_retried_isolated, 2U);
}

// A cache far smaller than the entities in play forgets most of them; every decision must stay
// right, only slower.
TEST_F(SqliteJournalTest, TinySeqCacheStillDecidesRight) {
    SqliteJournalOptions tiny = options();
    tiny.seq_cache_entries_max = 4;
    std::unique_ptr<Journal> journal = open_or_fail(tiny);
    ASSERT_NE(journal, nullptr);
    constexpr std::size_t entities = 20;
    for (std::uint64_t round = 0; round < 3; ++round) {
        OutcomeLog outcomes(2 * entities);
        for (std::size_t entity = 0; entity < entities; ++entity) {
            const std::string id = "tiny|" + std::to_string(entity);
            journal->append(make_append(id, SequenceNr(round), 1), outcomes.callback(2 * entity));
            journal->append(make_append(id, SequenceNr(round), 1),
                            outcomes.callback(2 * entity + 1));
        }
        ASSERT_TRUE(outcomes.wait_all());
        std::vector<Status> statuses = outcomes.statuses();
        for (std::size_t entity = 0; entity < entities; ++entity) {
            EXPECT_TRUE(statuses[2 * entity].ok()) << statuses[2 * entity].to_string();
            EXPECT_EQ(statuses[2 * entity + 1].code(), Errc::sequence_conflict)
                << "round " << round << " entity " << entity;
        }
    }
    for (std::size_t entity = 0; entity < entities; ++entity) {
        EXPECT_EQ(highest_or_fail(*journal, "tiny|" + std::to_string(entity)), SequenceNr(3));
    }
}

// The direct pass skips the wakeup DELETE when it knows the entity has no row. Set, clear and
// set again, within one group, across groups, and across a reopen (when nothing is known).
TEST_F(SqliteJournalTest, WakeupRowFollowsSetClearSet) {
    using Listed = std::vector<std::pair<std::string, std::int64_t>>;
    auto listed = [](Journal& journal) {
        Listed out;
        Result<std::vector<WakeEntry>> wakeups = journal.pending_wakeups(ShardId(1));
        EXPECT_TRUE(wakeups.ok()) << wakeups.status().to_string();
        for (const WakeEntry& entry : wakeups.ok() ? *wakeups : std::vector<WakeEntry>()) {
            out.emplace_back(entry.persistence_id, entry.wake_at.value);
        }
        return out;
    };
    {
        std::unique_ptr<Journal> journal = open_or_fail(options());
        ASSERT_NE(journal, nullptr);
        WriterGate gate;
        journal->set_commit_listener(gate.listener());
        ASSERT_TRUE(append_with_wake(*journal, "wake|e", SequenceNr(0), UnixMs{100}).ok());
        EXPECT_EQ(listed(*journal), (Listed{{"wake|e", 100}}));
        ASSERT_TRUE(append_with_wake(*journal, "wake|e", SequenceNr(1), std::nullopt).ok());
        EXPECT_EQ(listed(*journal), Listed{});
        ASSERT_TRUE(append_with_wake(*journal, "wake|e", SequenceNr(2), UnixMs{200}).ok());
        EXPECT_EQ(listed(*journal), (Listed{{"wake|e", 200}}));

        OutcomeLog blocker(1);  // one group: clear, set, clear, set
        hold_writer(*journal, gate, blocker);
        OutcomeLog outcomes(4);
        for (std::uint64_t i = 0; i < 4; ++i) {
            AppendRequest request = make_append("wake|e", SequenceNr(3 + i), 1);
            request.wake_at = i % 2 == 0 ? std::nullopt : std::optional<UnixMs>(UnixMs{300});
            journal->append(std::move(request), outcomes.callback(i));
        }
        gate.open();
        ASSERT_TRUE(outcomes.wait_all());
        for (const Status& status : outcomes.statuses()) {
            EXPECT_TRUE(status.ok()) << status.to_string();
        }
        EXPECT_EQ(listed(*journal), (Listed{{"wake|e", 300}}));
    }
    std::unique_ptr<Journal> reopened = open_or_fail(options());
    ASSERT_NE(reopened, nullptr);
    ASSERT_TRUE(append_with_wake(*reopened, "wake|e", SequenceNr(7), std::nullopt).ok());
    EXPECT_EQ(listed(*reopened), Listed{}) << "nothing known after a reopen: the row is deleted";
    ASSERT_TRUE(append_with_wake(*reopened, "wake|e", SequenceNr(8), UnixMs{400}).ok());
    ASSERT_TRUE(append_with_wake(*reopened, "wake|e", SequenceNr(9), std::nullopt).ok());
    EXPECT_EQ(listed(*reopened), Listed{});
}

// Child processes below return an exit code instead of using GoogleTest's assertions.
constexpr int child_failed = 3;

int append_in_child(const std::string& path, std::size_t appends) {
    Result<std::unique_ptr<Journal>> journal = open_sqlite_journal({.path = path});
    if (!journal.ok()) {
        return child_failed;
    }
    for (std::size_t i = 0; i < appends; ++i) {
        AppendRequest request = make_append("child|e", SequenceNr(i), 1, ShardId(5));
        if (!(*journal)->append_and_wait(std::move(request)).ok()) {
            return child_failed;
        }
    }
    return 0;
}

TEST_F(SqliteJournalTest, ReopensWhatAnotherProcessWrote) {
    constexpr std::size_t appends = 50;
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        _exit(append_in_child(db_path(), appends));
    }
    int wait_status = 0;
    ASSERT_EQ(waitpid(child, &wait_status, 0), child);
    ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    Result<std::vector<StoredEvent>> events =
        journal->read_events("child|e", SequenceNr(1), appends * 2);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), appends);
    EXPECT_EQ(events->back().payload, conformance::payload_of("child|e", SequenceNr(appends)));
    Result<std::vector<ShardEvent>> shard = journal->read_shard(ShardId(5), ShardOffset(1), 100);
    ASSERT_TRUE(shard.ok());
    EXPECT_EQ(shard->size(), appends);
}

// Writes every acknowledged sequence number to `ack_fd`, until killed.
[[noreturn]] void append_until_killed(const std::string& path, int ack_fd) {
    Result<std::unique_ptr<Journal>> journal = open_sqlite_journal({.path = path});
    if (!journal.ok()) {
        _exit(child_failed);
    }
    constexpr std::uint64_t appends_max = 1'000'000;  // the parent kills the child long before
    for (std::uint64_t seq = 0; seq < appends_max; ++seq) {
        AppendRequest request = make_append("kill|e", SequenceNr(seq), 1, ShardId(6));
        std::uint64_t acked = seq + 1;
        if (!(*journal)->append_and_wait(std::move(request)).ok() ||
            write(ack_fd, &acked, sizeof acked) != static_cast<ssize_t>(sizeof acked)) {
            _exit(child_failed);
        }
    }
    _exit(0);
}

// Reads acknowledgements until `count` arrived or the pipe closed; returns the last one.
std::uint64_t read_acks(int ack_fd, std::uint64_t count) {
    std::uint64_t last = 0;
    std::uint64_t value = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        std::size_t have = 0;
        while (have < sizeof value) {
            ssize_t got = read(ack_fd, reinterpret_cast<char*>(&value) + have, sizeof value - have);
            if (got <= 0) {
                return last;
            }
            have += static_cast<std::size_t>(got);
        }
        last = value;
    }
    return last;
}

// An append answered ok is in the file even when the process dies right after (kill -9), and
// the file opens again with every shard offset in place.
TEST_F(SqliteJournalTest, AcknowledgedAppendsSurviveKill9) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(fds[0]);
        append_until_killed(db_path(), fds[1]);
    }
    close(fds[1]);
    std::uint64_t acked = read_acks(fds[0], 100);
    ASSERT_EQ(acked, 100U);
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int wait_status = 0;
    ASSERT_EQ(waitpid(child, &wait_status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(wait_status));
    acked = std::max(acked, read_acks(fds[0], 1'000'000));  // acks written before it died
    close(fds[0]);

    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    Result<SequenceNr> highest = journal->highest_seq("kill|e");
    ASSERT_TRUE(highest.ok());
    EXPECT_GE(highest->value, acked);
    Result<std::vector<ShardEvent>> shard =
        journal->read_shard(ShardId(6), ShardOffset(1), 2'000'000);
    ASSERT_TRUE(shard.ok());
    ASSERT_EQ(shard->size(), highest->value);
    EXPECT_EQ(shard->back().offset, ShardOffset(highest->value));
    ASSERT_TRUE(journal->append_and_wait(make_append("kill|e", *highest, 1, ShardId(6))).ok());
}

// The checkpointer's thread copies the WAL into the database file after commits, without the
// writer's own checkpoint (which waits for 1000 WAL pages; these appends make far fewer).
TEST_F(SqliteJournalTest, CheckpointerCopiesCommittedPagesIntoTheDatabaseFile) {
    std::unique_ptr<Journal> journal = open_or_fail(options());
    ASSERT_NE(journal, nullptr);
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(
            journal->append_and_wait(make_append("ckpt|" + std::to_string(i), SequenceNr(0), 2))
                .ok());
    }
    // The events reach the database file itself: a copy of it without the WAL has them. A copy
    // taken while a checkpoint writes may be torn or behind; the next one is taken then.
    const std::string copy = dir_.path() + "/copy.db";
    auto events_in_file = [&]() -> std::int64_t {
        std::filesystem::remove(copy);
        std::filesystem::copy_file(db_path(), copy);
        auto db = qrpay::sqlite::Connection::open(copy, qrpay::sqlite::OpenMode::reader,
                                                  std::chrono::milliseconds(0));
        auto count = db.ok() ? (*db)->prepare("SELECT count(*) FROM events")
                             : Result<qrpay::sqlite::Statement>(db.status());
        return count.ok() && count->step() == qrpay::sqlite::Step::row ? count->column_int(0) : -1;
    };
    EXPECT_TRUE(qrpay::testing::eventually([&] { return events_in_file() == 100; }));
    SqliteJournalStats stats = sqlite_journal_stats(*journal);
    EXPECT_GT(stats.checkpoints, 0U);
    EXPECT_EQ(stats.checkpoint_failures, 0U);
}

}  // namespace
}  // namespace qrpay::journal
