// The PostgreSQL layer against a real server: values in binary format both ways, the three
// kinds of failure, pipelines, and the pool's bound.

#include <gtest/gtest.h>

#include <limits>
#include <string>

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
