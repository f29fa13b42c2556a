// What the PostgreSQL journal promises beyond the conformance suite: its schema versions, two
// writers of one database, and losing the server (kill -9) while appends are in flight.
// Each test that kills its server has a server of its own.

#include "journal/postgres/pg_journal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "base/testing/eventually.h"
#include "journal/conformance/journal_test_support.h"
#include "journal/partitioned_journal.h"
#include "journal/postgres/pg_schema.h"
#include "postgres/connection.h"
#include "postgres/testing/test_server.h"

namespace qrpay::journal {
namespace {

using conformance::make_append;
using conformance::OutcomeLog;
using qrpay::postgres::Connection;
using qrpay::postgres::testing::shared_test_server;
using qrpay::postgres::testing::TestServer;
using qrpay::postgres::testing::unique_database_name;
using qrpay::testing::eventually;

std::string fresh_database(TestServer& server, const std::string& suffix) {
    const std::string name = unique_database_name(suffix);
    Status created = server.create_database(name);
    EXPECT_TRUE(created.ok()) << created.to_string();
    return server.url(name);
}

std::unique_ptr<Journal> open_or_fail(const std::string& url) {
    Result<std::unique_ptr<Journal>> journal = open_pg_journal({.url = url});
    EXPECT_TRUE(journal.ok()) << journal.status().to_string();
    return journal.ok() ? std::move(journal).value() : nullptr;
}

Status run_sql(const std::string& url, const std::string& sql) {
    auto connection = Connection::open(url);
    if (!connection.ok()) {
        return connection.status();
    }
    return (*connection)->run_script(sql);
}

TEST(PgJournalSchema, ANewerVersionIsRefusedWithAClearError) {
    const std::string url = fresh_database(shared_test_server(), "newer");
    ASSERT_NE(open_or_fail(url), nullptr);
    ASSERT_TRUE(run_sql(url, "UPDATE qrpay_journal_schema SET version = 99").ok());
    Result<std::unique_ptr<Journal>> reopened = open_pg_journal({.url = url});
    ASSERT_FALSE(reopened.ok());
    EXPECT_EQ(reopened.status().code(), Errc::corruption);
    EXPECT_NE(reopened.status().message().find("99"), std::string::npos);
}

TEST(PgJournalSchema, TablesOfSomethingElseAreNotTakenForAJournal) {
    const std::string url = fresh_database(shared_test_server(), "other");
    ASSERT_TRUE(run_sql(url, "CREATE TABLE customers (id bigint)").ok());
    Result<std::unique_ptr<Journal>> journal = open_pg_journal({.url = url});
    ASSERT_FALSE(journal.ok());
    EXPECT_EQ(journal.status().code(), Errc::corruption);
}

TEST(PgJournalSchema, MigrateCreatesTheSchemaOnceAndKeepsTheData) {
    const std::string url = fresh_database(shared_test_server(), "migrate");
    auto connection = Connection::open(url);
    ASSERT_TRUE(connection.ok());
    EXPECT_EQ(*postgres::stored_schema_version(**connection), 0);
    ASSERT_TRUE(postgres::ensure_schema(**connection, postgres::SchemaChange::migrate).ok());
    EXPECT_EQ(*postgres::stored_schema_version(**connection), postgres::schema_version);
    {
        auto journal = open_or_fail(url);
        ASSERT_TRUE(journal->append_and_wait(make_append("E|a", SequenceNr(0), 2)).ok());
    }
    ASSERT_TRUE(postgres::ensure_schema(**connection, postgres::SchemaChange::migrate).ok());
    auto journal = open_or_fail(url);
    EXPECT_EQ(*journal->highest_seq("E|a"), SequenceNr(2));
}

TEST(PgJournalSchema, AnUnreachableServerIsUnavailableAndABadUrlInvalid) {
    Result<std::unique_ptr<Journal>> nobody =
        open_pg_journal({.url = "postgresql://postgres@127.0.0.1:1/none"});
    ASSERT_FALSE(nobody.ok());
    EXPECT_EQ(nobody.status().code(), Errc::unavailable);
    Result<std::unique_ptr<Journal>> garbled = open_pg_journal({.url = "postgresql://[::1"});
    ASSERT_FALSE(garbled.ok());
    EXPECT_EQ(garbled.status().code(), Errc::invalid_argument);
}

TEST(PgJournalPartitions, AMapIsStoredOnceAndADifferentOneIsRefused) {
    const std::string url = fresh_database(shared_test_server(), "map");
    ASSERT_NE(open_or_fail(url), nullptr);
    auto connection = Connection::open(url);
    ASSERT_TRUE(connection.ok());
    const postgres::PartitionMap first{.index = 0, .count = 2, .shard_count = 64};
    ASSERT_TRUE(postgres::check_partition_map(**connection, first).ok());
    EXPECT_TRUE(postgres::check_partition_map(**connection, first).ok());
    for (const postgres::PartitionMap& other :
         {postgres::PartitionMap{.index = 1, .count = 2, .shard_count = 64},
          postgres::PartitionMap{.index = 0, .count = 3, .shard_count = 64},
          postgres::PartitionMap{.index = 0, .count = 2, .shard_count = 128}}) {
        Status refused = postgres::check_partition_map(**connection, other);
        EXPECT_EQ(refused.code(), Errc::invalid_argument) << refused.to_string();
        EXPECT_NE(refused.message().find("partition 0 of 2 over 64 shards"), std::string::npos);
    }
}

TEST(PgJournalPartitions, EachShardLivesInItsRangesDatabase) {
    EXPECT_EQ(partition_of(ShardId(0), 64, 2), 0U);
    EXPECT_EQ(partition_of(ShardId(31), 64, 2), 0U);
    EXPECT_EQ(partition_of(ShardId(32), 64, 2), 1U);
    EXPECT_EQ(partition_of(ShardId(63), 64, 3), 2U);
    const std::string first = fresh_database(shared_test_server(), "range0");
    const std::string second = fresh_database(shared_test_server(), "range1");
    std::vector<std::unique_ptr<Journal>> partitions;
    partitions.push_back(open_or_fail(first));
    partitions.push_back(open_or_fail(second));
    auto journal = make_partitioned_journal(std::move(partitions), 64,
                                            [](const std::string&) { return ShardId(40); });
    ASSERT_TRUE(journal->append_and_wait(make_append("E|low", SequenceNr(0), 1, ShardId(3))).ok());
    ASSERT_TRUE(
        journal->append_and_wait(make_append("E|high", SequenceNr(0), 1, ShardId(40))).ok());
    auto low = open_or_fail(first);
    auto high = open_or_fail(second);
    EXPECT_EQ(*low->highest_seq("E|low"), SequenceNr(1));
    EXPECT_EQ(*low->highest_seq("E|high"), SequenceNr(0));
    EXPECT_EQ(*high->highest_seq("E|high"), SequenceNr(1));
    EXPECT_EQ(*journal->highest_seq("E|high"), SequenceNr(1)) << "shard_of routes the read";
    EXPECT_EQ(journal->claim_shard(ShardId(64), FencingToken(1)).code(), Errc::invalid_argument);
}

// Two qrpay processes that both believe they own shard 1: once the second raised the fence,
// every append of the first is refused and counted, and offsets stay gap-free.
TEST(PgJournalWriters, TheFenceHoldsBetweenTwoWritersOfOneDatabase) {
    const std::string url = fresh_database(shared_test_server(), "fence");
    auto old_owner = open_or_fail(url);
    auto new_owner = open_or_fail(url);
    ASSERT_TRUE(old_owner->claim_shard(ShardId(1), FencingToken(1)).ok());
    ASSERT_TRUE(
        old_owner
            ->append_and_wait(make_append("E|a", SequenceNr(0), 1, ShardId(1), FencingToken(1)))
            .ok());
    ASSERT_TRUE(new_owner->claim_shard(ShardId(1), FencingToken(2)).ok());
    Status stale = old_owner->append_and_wait(
        make_append("E|a", SequenceNr(1), 1, ShardId(1), FencingToken(1)));
    EXPECT_EQ(stale.code(), Errc::fenced);
    EXPECT_EQ(pg_journal_stats(*old_owner).fenced_appends, 1U);
    ASSERT_TRUE(
        new_owner
            ->append_and_wait(make_append("E|a", SequenceNr(1), 1, ShardId(1), FencingToken(2)))
            .ok());
    auto events = new_owner->read_shard(ShardId(1), ShardOffset(1), 10);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 2U);
    EXPECT_EQ(events->back().offset, ShardOffset(2));
}

// The old owner's cache still says seq 1 for the entity; the new owner appended seq 2 under a
// higher token and gave the shard back. The old owner's next append must be decided by the
// rows, not by its cache.
TEST(PgJournalWriters, ACachedTipFromBeforeTheShardMovedIsNotTrusted) {
    const std::string url = fresh_database(shared_test_server(), "tip");
    auto first = open_or_fail(url);
    auto second = open_or_fail(url);
    ASSERT_TRUE(first->claim_shard(ShardId(1), FencingToken(1)).ok());
    ASSERT_TRUE(
        first->append_and_wait(make_append("E|a", SequenceNr(0), 1, ShardId(1), FencingToken(1)))
            .ok());
    ASSERT_TRUE(second->claim_shard(ShardId(1), FencingToken(2)).ok());
    ASSERT_TRUE(
        second->append_and_wait(make_append("E|a", SequenceNr(1), 1, ShardId(1), FencingToken(2)))
            .ok());
    ASSERT_TRUE(first->claim_shard(ShardId(1), FencingToken(3)).ok());
    Status behind =
        first->append_and_wait(make_append("E|a", SequenceNr(1), 1, ShardId(1), FencingToken(3)));
    EXPECT_EQ(behind.code(), Errc::sequence_conflict);
    EXPECT_TRUE(
        first->append_and_wait(make_append("E|a", SequenceNr(2), 1, ShardId(1), FencingToken(3)))
            .ok());
}

// Two writers under one token (no fence between them): the second stores E|x's seq 2 behind
// the first's cache, so the first's next group, stored by COPY, meets a unique violation. The
// group runs again one write per transaction: only E|x's append fails; its neighbours land.
TEST(PgJournalWriters, ARowRefusedInACopyFailsItsOwnAppendOnly) {
    const std::string url = fresh_database(shared_test_server(), "copy");
    auto open_copying = [&] {
        auto journal = open_pg_journal({.url = url, .copy_events_min = 1});
        EXPECT_TRUE(journal.ok()) << journal.status().to_string();
        return std::move(journal).value();
    };
    auto first = open_copying();
    auto second = open_copying();
    ASSERT_TRUE(first->claim_shard(ShardId(1), FencingToken(1)).ok());
    ASSERT_TRUE(
        first->append_and_wait(make_append("E|x", SequenceNr(0), 1, ShardId(1), FencingToken(1)))
            .ok());
    ASSERT_TRUE(
        second->append_and_wait(make_append("E|x", SequenceNr(1), 1, ShardId(1), FencingToken(1)))
            .ok());
    // E|x last, behind 50 appends queued at once: a lone first append commits by itself and
    // the rest queue behind it, so E|x's refusal comes in a group with neighbours.
    constexpr std::size_t neighbours = 50;
    OutcomeLog outcomes(neighbours + 1);
    for (std::size_t i = 0; i < neighbours; ++i) {
        first->append(
            make_append("E|n" + std::to_string(i), SequenceNr(0), 1, ShardId(1), FencingToken(1)),
            outcomes.callback(i));
    }
    first->append(make_append("E|x", SequenceNr(1), 1, ShardId(1), FencingToken(1)),
                  outcomes.callback(neighbours));
    ASSERT_TRUE(outcomes.wait_all());
    const std::vector<Status> statuses = outcomes.statuses();
    EXPECT_FALSE(statuses[neighbours].ok());
    for (std::size_t i = 0; i < neighbours; ++i) {
        EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].to_string();
        auto stored = first->highest_seq("E|n" + std::to_string(i));
        ASSERT_TRUE(stored.ok());
        EXPECT_EQ(*stored, SequenceNr(1));
    }
    EXPECT_GE(pg_journal_stats(*first).groups_retried_isolated, 1U);
    auto x = first->highest_seq("E|x");
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(*x, SequenceNr(2));
}

// kill -9 of PostgreSQL under a stream of appends: an append answered ok is stored, one
// answered unreachable is not, unknown_outcome may be either; after the restart, the writer
// connects again by itself and appends succeed.
TEST(PgJournalFaults, AKilledServerLosesNoAcknowledgedAppendAndWritesResume) {
    auto server = TestServer::start();
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    const std::string url = fresh_database(**server, "kill");
    auto journal = open_or_fail(url);
    constexpr std::size_t appends = 400;
    OutcomeLog outcomes(appends);
    for (std::size_t i = 0; i < appends; ++i) {
        if (i == appends / 2) {
            ASSERT_TRUE((*server)->kill().ok());
        }
        journal->append(make_append("E|" + std::to_string(i), SequenceNr(0), 1, ShardId(i % 4)),
                        outcomes.callback(i));
    }
    ASSERT_TRUE(outcomes.wait_all());
    EXPECT_FALSE(pg_journal_stats(*journal).writer_connected);
    ASSERT_TRUE((*server)->restart().ok());
    ASSERT_TRUE(eventually(
        [&] { return journal->append_and_wait(make_append("E|after", SequenceNr(0), 1)).ok(); }));
    std::size_t failed = 0;
    const std::vector<Status> statuses = outcomes.statuses();
    for (std::size_t i = 0; i < appends; ++i) {
        auto stored = journal->highest_seq("E|" + std::to_string(i));
        ASSERT_TRUE(stored.ok()) << stored.status().to_string();
        const Errc code = statuses[i].code();
        ASSERT_TRUE(code == Errc::ok || code == Errc::unreachable || code == Errc::unknown_outcome)
            << statuses[i].to_string();
        if (code == Errc::ok) {
            EXPECT_EQ(*stored, SequenceNr(1)) << "acknowledged append " << i << " was lost";
        } else if (code == Errc::unreachable) {
            ++failed;
            EXPECT_EQ(*stored, SequenceNr(0)) << "append " << i << " failed but is stored";
        }
    }
    EXPECT_GT(failed, 0U) << "the kill came after every append was answered";
    EXPECT_TRUE(pg_journal_stats(*journal).writer_connected);
    EXPECT_GE(pg_journal_stats(*journal).reconnects, 1U);
}

// With no write coming, the writer still notices that its server went away and came back, so
// that readiness (writer_connected) follows PostgreSQL on an idle node; reads meanwhile answer
// unreachable, not io_error.
TEST(PgJournalFaults, AnIdleWriterNoticesTheLossAndTheReturnOfItsServer) {
    auto server = TestServer::start();
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    const std::string url = fresh_database(**server, "idle");
    auto journal =
        open_pg_journal({.url = url, .idle_check_interval = std::chrono::milliseconds(20)});
    ASSERT_TRUE(journal.ok()) << journal.status().to_string();
    ASSERT_TRUE((*journal)->append_and_wait(make_append("E|a", SequenceNr(0), 1)).ok());
    ASSERT_TRUE(pg_journal_stats(**journal).writer_connected);
    ASSERT_TRUE((*server)->kill().ok());
    EXPECT_TRUE(eventually([&] { return !pg_journal_stats(**journal).writer_connected; }));
    EXPECT_EQ((*journal)->highest_seq("E|a").status().code(), Errc::unreachable);
    ASSERT_TRUE((*server)->restart().ok());
    EXPECT_TRUE(eventually([&] { return pg_journal_stats(**journal).writer_connected; }));
    EXPECT_GE(pg_journal_stats(**journal).reconnects, 1U);
}

}  // namespace
}  // namespace qrpay::journal
