// The PostgreSQL layer against a real server: values in binary format both ways, the three
// kinds of failure, pipelines, and the pool's bound.

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <thread>

#include "postgres/connection.h"
#include "postgres/pool.h"
#include "postgres/testing/test_server.h"

namespace qrpay::postgres {
namespace {

using testing::shared_test_server;
using testing::unique_database_name;

std::string fresh_url() {
    const std::string name = unique_database_name("layer");
    EXPECT_TRUE(shared_test_server().create_database(name).ok());
    return shared_test_server().url(name);
}

std::unique_ptr<Connection> connect(const std::string& url) {
    auto connection = Connection::open(url);
    EXPECT_TRUE(connection.ok()) << connection.status().to_string();
    return std::move(connection).value();
}

TEST(PostgresConnection, ValuesRoundTripInBinaryFormat) {
    auto db = connect(fresh_url());
    ASSERT_TRUE(db->run_script("CREATE TABLE t (i bigint, s text, b bytea, n bigint)").ok());
    const std::string bytes("a\0b\xff", 4);
    const std::int64_t big = std::numeric_limits<std::int64_t>::min();
    ASSERT_TRUE(db->run("INSERT INTO t VALUES ($1, $2, $3, $4)",
                        Params().add_int(big).add_text("ünïcode").add_bytes(bytes).add_null())
                    .ok());
    auto rows = db->query("SELECT i, s, b, n, count(*) OVER () FROM t");
    ASSERT_TRUE(rows.ok()) << rows.status().to_string();
    ASSERT_EQ(rows->count(), 1);
    EXPECT_EQ(rows->int_at(0, 0), big);
    EXPECT_EQ(rows->bytes_at(0, 1), "ünïcode");
    EXPECT_EQ(rows->bytes_at(0, 2), bytes);
    EXPECT_TRUE(rows->is_null(0, 3));
    EXPECT_EQ(rows->optional_int_at(0, 3), std::nullopt);
    EXPECT_EQ(rows->int_at(0, 4), 1);
}

TEST(PostgresConnection, AUniqueViolationIsAConflictAndOtherFailuresIoErrors) {
    auto db = connect(fresh_url());
    ASSERT_TRUE(db->run_script("CREATE TABLE t (k bigint PRIMARY KEY)").ok());
    ASSERT_TRUE(db->run("INSERT INTO t VALUES ($1)", Params().add_int(1)).ok());
    Status twice = db->run("INSERT INTO t VALUES ($1)", Params().add_int(1));
    EXPECT_EQ(twice.code(), Errc::conflict);
    EXPECT_EQ(db->sqlstate(), "23505");
    Status bad = db->run("SELECT * FROM no_such_table");
    EXPECT_EQ(bad.code(), Errc::io_error);
    EXPECT_EQ(db->sqlstate(), "42P01");
    EXPECT_FALSE(db->broken());
}

// A write refused as read-only (what a standby, or a primary demoted by a failover, answers)
// makes the connection useless for a writer: it is dropped like a lost one, so that the next
// connection (target_session_attrs=read-write) finds the primary.
TEST(PostgresConnection, AWriteRefusedAsReadOnlyBreaksTheConnection) {
    auto db = connect(fresh_url());
    ASSERT_TRUE(db->run_script("CREATE TABLE t (k bigint PRIMARY KEY)").ok());
    ASSERT_TRUE(db->run_script("SET default_transaction_read_only = on").ok());
    Status refused = db->run("INSERT INTO t VALUES ($1)", Params().add_int(1));
    EXPECT_EQ(refused.code(), Errc::unavailable) << refused.to_string();
    EXPECT_NE(refused.message().find("read-only"), std::string::npos) << refused.to_string();
    EXPECT_TRUE(db->broken());
    EXPECT_EQ(db->run("SELECT 1").code(), Errc::unavailable);
}

// Two transactions that each hold a row the other wants: PostgreSQL breaks the deadlock by
// aborting one's statement, which is Errc::aborted (nothing of it happened: run it again); once
// the victim rolls back, the other goes on.
TEST(PostgresConnection, ADeadlockVictimIsAbortedAndTheOtherGoesOn) {
    const std::string url = fresh_url();
    auto first = connect(url);
    auto second = connect(url);
    ASSERT_TRUE(first
                    ->run_script("CREATE TABLE t (k bigint PRIMARY KEY, v bigint);"
                                 "INSERT INTO t VALUES (1, 0), (2, 0)")
                    .ok());
    ASSERT_TRUE(first->run_script("BEGIN; UPDATE t SET v = 1 WHERE k = 1").ok());
    ASSERT_TRUE(second->run_script("BEGIN; UPDATE t SET v = 2 WHERE k = 2").ok());
    // Each now wants the row the other holds, whichever asks first.
    const auto take_other_row = [](Connection& db, std::int64_t key) {
        Status taken = db.run("UPDATE t SET v = v + 10 WHERE k = $1", Params().add_int(key));
        Status ended = db.run_script(taken.ok() ? "COMMIT" : "ROLLBACK");
        EXPECT_TRUE(ended.ok()) << ended.to_string();
        return taken;
    };
    Status by_first;
    std::thread other([&] { by_first = take_other_row(*first, 2); });
    Status by_second = take_other_row(*second, 1);
    other.join();
    EXPECT_NE(by_first.ok(), by_second.ok())
        << by_first.to_string() << " / " << by_second.to_string();
    const Status& victim = by_first.ok() ? by_second : by_first;
    EXPECT_EQ(victim.code(), Errc::aborted) << victim.to_string();
    EXPECT_FALSE(first->broken());
    EXPECT_FALSE(second->broken());
}

TEST(PostgresConnection, APipelineAnswersEachStatementAndSkipsThoseAfterAFailure) {
    auto db = connect(fresh_url());
    ASSERT_TRUE(db->run_script("CREATE TABLE t (k bigint PRIMARY KEY)").ok());
    Connection::Pipeline batch(*db);
    batch.add("INSERT INTO t VALUES ($1)", Params().add_int(1));
    batch.add("INSERT INTO t VALUES ($1)", Params().add_int(1));
    batch.add("SELECT count(*) FROM t", Params());
    auto answers = batch.finish();
    ASSERT_TRUE(answers.ok()) << answers.status().to_string();
    ASSERT_EQ(answers->size(), 3U);
    EXPECT_TRUE((*answers)[0].ok());
    EXPECT_EQ((*answers)[1].status().code(), Errc::conflict);
    EXPECT_EQ((*answers)[2].status().code(), Errc::io_error);  // skipped
    // The connection is usable after the batch, and the batch was one implicit transaction
    // (statements up to a sync point are): the failure undid the first insert too.
    auto rows = db->query("SELECT count(*) FROM t");
    ASSERT_TRUE(rows.ok());
    EXPECT_EQ(rows->int_at(0, 0), 0);
}

TEST(PostgresCopyIn, StreamsRowsInBinaryFormatAcrossManyChunks) {
    auto db = connect(fresh_url());
    ASSERT_TRUE(db->run_script("CREATE TABLE t (i bigint, s text, b bytea)").ok());
    const std::string bytes("a\0b\xff", 4);
    // Rows enough for several chunks: the first ones reach the server before the last exist.
    const std::int64_t rows = 3 * static_cast<std::int64_t>(Connection::CopyIn::chunk_bytes) / 32;
    Connection::CopyIn copy(*db, "COPY t (i, s, b) FROM STDIN (FORMAT binary)");
    for (std::int64_t i = 0; i < rows; ++i) {
        copy.begin_row(3);
        copy.add_int(i - 1);
        copy.add_bytes("ünïcode");
        copy.add_bytes(bytes);
    }
    Result<std::int64_t> copied = copy.finish();
    ASSERT_TRUE(copied.ok()) << copied.status().to_string();
    EXPECT_EQ(*copied, rows);
    auto stored = db->query(
        "SELECT count(*), min(i), max(i), min(s), count(DISTINCT b), (SELECT b FROM t LIMIT 1) "
        "FROM t");
    ASSERT_TRUE(stored.ok()) << stored.status().to_string();
    EXPECT_EQ(stored->int_at(0, 0), rows);
    EXPECT_EQ(stored->int_at(0, 1), -1);
    EXPECT_EQ(stored->int_at(0, 2), rows - 2);
    EXPECT_EQ(stored->bytes_at(0, 3), "ünïcode");
    EXPECT_EQ(stored->int_at(0, 4), 1);
    EXPECT_EQ(stored->bytes_at(0, 5), bytes);
}

TEST(PostgresCopyIn, ARefusedRowFailsTheCopyAndItsTransactionAndLeavesTheConnectionUsable) {
    auto db = connect(fresh_url());
    ASSERT_TRUE(db->run_script("CREATE TABLE t (k bigint PRIMARY KEY)").ok());
    ASSERT_TRUE(db->run("INSERT INTO t VALUES ($1)", Params().add_int(7)).ok());
    ASSERT_TRUE(db->run_script("BEGIN").ok());
    ASSERT_TRUE(db->run("INSERT INTO t VALUES ($1)", Params().add_int(1)).ok());
    Connection::CopyIn copy(*db, "COPY t (k) FROM STDIN (FORMAT binary)");
    // The refused row comes first, so the server ends the COPY while rows still arrive.
    for (std::int64_t k = 7; k < 7 + 20'000; ++k) {
        copy.begin_row(1);
        copy.add_int(k);
    }
    Result<std::int64_t> copied = copy.finish();
    EXPECT_EQ(copied.status().code(), Errc::conflict) << copied.status().to_string();
    EXPECT_FALSE(db->broken());
    EXPECT_TRUE(db->in_transaction());
    ASSERT_TRUE(db->run_script("ROLLBACK").ok());
    auto stored = db->query("SELECT count(*) FROM t");
    ASSERT_TRUE(stored.ok()) << stored.status().to_string();
    EXPECT_EQ(stored->int_at(0, 0), 1);
}

TEST(PostgresCopyIn, ABadStatementOrValueIsRefusedWithoutRows) {
    auto db = connect(fresh_url());
    ASSERT_TRUE(db->run_script("CREATE TABLE t (k bigint, s text)").ok());
    Connection::CopyIn no_table(*db, "COPY no_such_table (k) FROM STDIN (FORMAT binary)");
    no_table.begin_row(1);
    no_table.add_int(1);
    Result<std::int64_t> refused = no_table.finish();
    EXPECT_EQ(refused.status().code(), Errc::io_error);
    EXPECT_EQ(db->sqlstate(), "42P01");
    // A field count the table does not have.
    Connection::CopyIn wrong_fields(*db, "COPY t (k, s) FROM STDIN (FORMAT binary)");
    wrong_fields.begin_row(1);
    wrong_fields.add_int(1);
    EXPECT_FALSE(wrong_fields.finish().ok());
    EXPECT_FALSE(db->broken());
    // Nothing at all: a COPY of no rows.
    Connection::CopyIn empty(*db, "COPY t (k, s) FROM STDIN (FORMAT binary)");
    Result<std::int64_t> none = empty.finish();
    ASSERT_TRUE(none.ok()) << none.status().to_string();
    EXPECT_EQ(*none, 0);
}

TEST(PostgresConnection, ALostServerIsUnavailableAndBreaksTheConnection) {
    auto server = testing::TestServer::start();
    ASSERT_TRUE(server.ok());
    auto db = connect((*server)->url("postgres"));
    ASSERT_TRUE((*server)->kill().ok());
    Status lost = db->run("SELECT 1");
    EXPECT_EQ(lost.code(), Errc::unavailable);
    EXPECT_TRUE(db->broken());
    EXPECT_EQ(db->run("SELECT 1").code(), Errc::unavailable);
    EXPECT_EQ(Connection::open((*server)->url("postgres")).status().code(), Errc::unavailable);
}

TEST(PostgresConnection, ABadUrlIsInvalid) {
    EXPECT_EQ(Connection::open("postgresql://[::1").status().code(), Errc::invalid_argument);
}

TEST(PostgresPool, LendsAtMostItsBoundAndWaitsBoundedly) {
    PoolOptions options;
    options.url = fresh_url();
    options.connections_max = 1;
    options.wait_max = std::chrono::milliseconds(50);
    Pool pool(options);
    {
        auto first = pool.acquire();
        ASSERT_TRUE(first.ok()) << first.status().to_string();
        auto second = pool.acquire();
        EXPECT_EQ(second.status().code(), Errc::unavailable);
    }
    auto again = pool.acquire();
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE((*again)->run("SELECT 1").ok());
}

}  // namespace
}  // namespace qrpay::postgres
