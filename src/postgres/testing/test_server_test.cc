// The test server against itself: it answers, makes and drops databases, keeps committed data
// across a SIGKILL and a stop, runs with durable settings, and survives a forked child's exit.
// Queries go through libpq directly, so these tests do not depend on postgres/connection.h.

#include "postgres/testing/test_server.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace qrpay::postgres::testing {
namespace {

// The first column of the first row `sql` returns on `url` ("" for a command without rows).
Result<std::string> query_value(const std::string& url, const std::string& sql) {
    std::unique_ptr<PGconn, decltype(&PQfinish)> connection(PQconnectdb(url.c_str()), &PQfinish);
    if (PQstatus(connection.get()) != CONNECTION_OK) {
        return Status(Errc::unavailable, PQerrorMessage(connection.get()));
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(connection.get(), sql.c_str()),
                                                         &PQclear);
    ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK) {
        return std::string();
    }
    if (status != PGRES_TUPLES_OK || PQntuples(result.get()) == 0) {
        return Status(Errc::io_error, sql + ": " + PQerrorMessage(connection.get()));
    }
    return std::string(PQgetvalue(result.get(), 0, 0));
}

std::unique_ptr<TestServer> start_own(const TestServerOptions& options = {}) {
    Result<std::unique_ptr<TestServer>> started = TestServer::start(options);
    EXPECT_TRUE(started.ok()) << started.status().to_string();
    return started.ok() ? std::move(started).value() : nullptr;
}

TEST(TestServerTest, SharedServerAnswersAQueryAtItsUrl) {
    TestServer& server = shared_test_server();
    EXPECT_TRUE(server.running());
    ASSERT_NE(server.port(), 0);
    EXPECT_EQ(server.url("postgres"),
              "postgresql://postgres@127.0.0.1:" + std::to_string(server.port()) + "/postgres");
    Result<std::string> one = query_value(server.url("postgres"), "SELECT 1");
    ASSERT_TRUE(one.ok()) << one.status().to_string();
    EXPECT_EQ(*one, "1");
}

TEST(TestServerTest, RunsWithDurableSettingsOnLoopbackOnly) {
    const std::string url = shared_test_server().url("postgres");
    for (const auto& [setting, expected] : std::vector<std::pair<std::string, std::string>>{
             {"fsync", "on"}, {"synchronous_commit", "on"}, {"listen_addresses", "127.0.0.1"}}) {
        Result<std::string> value = query_value(url, "SHOW " + setting);
        ASSERT_TRUE(value.ok()) << value.status().to_string();
        EXPECT_EQ(*value, expected) << setting;
    }
}

TEST(TestServerTest, CreatedDatabaseTakesConnectionsAndItsNameIsThenTaken) {
    TestServer& server = shared_test_server();
    const std::string name = unique_database_name("create");
    ASSERT_TRUE(server.create_database(name).ok());
    Result<std::string> current = query_value(server.url(name), "SELECT current_database()");
    ASSERT_TRUE(current.ok()) << current.status().to_string();
    EXPECT_EQ(*current, name);
    EXPECT_EQ(server.create_database(name).code(), Errc::conflict);
    EXPECT_TRUE(server.drop_database(name).ok());
}

TEST(TestServerTest, DropDatabaseEndsItsSessionsAndAMissingOneIsOk) {
    TestServer& server = shared_test_server();
    const std::string name = unique_database_name("drop");
    ASSERT_TRUE(server.create_database(name).ok());
    // A session left open on it would make a plain DROP DATABASE fail.
    std::unique_ptr<PGconn, decltype(&PQfinish)> open_session(PQconnectdb(server.url(name).c_str()),
                                                              &PQfinish);
    ASSERT_EQ(PQstatus(open_session.get()), CONNECTION_OK);
    Status dropped = server.drop_database(name);
    EXPECT_TRUE(dropped.ok()) << dropped.to_string();
    EXPECT_FALSE(query_value(server.url(name), "SELECT 1").ok());
    Status missing = server.drop_database(name);
    EXPECT_TRUE(missing.ok()) << missing.to_string();
}

// Inserts row `round` into t, kills the server with a session open (so that a backend is
// among the killed), restarts it at once and expects all `round` rows.
void insert_kill_restart(TestServer& server, const std::string& url, int round) {
    ASSERT_TRUE(query_value(url, "INSERT INTO t VALUES (" + std::to_string(round) + ")").ok());
    std::unique_ptr<PGconn, decltype(&PQfinish)> open_session(PQconnectdb(url.c_str()), &PQfinish);
    ASSERT_EQ(PQstatus(open_session.get()), CONNECTION_OK);
    Status killed = server.kill();
    ASSERT_TRUE(killed.ok()) << killed.to_string();
    EXPECT_FALSE(server.running());
    EXPECT_FALSE(query_value(url, "SELECT 1").ok());
    EXPECT_EQ(server.create_database(unique_database_name("down")).code(), Errc::unavailable);
    Status restarted = server.restart();
    ASSERT_TRUE(restarted.ok()) << restarted.to_string();
    EXPECT_TRUE(server.running());
    Result<std::string> count = query_value(url, "SELECT count(*) FROM t");
    ASSERT_TRUE(count.ok()) << count.status().to_string();
    EXPECT_EQ(*count, std::to_string(round));
}

TEST(TestServerTest, CommittedRowsSurviveKillAndImmediateRestart) {
    std::unique_ptr<TestServer> server = start_own();
    ASSERT_NE(server, nullptr);
    const std::string name = unique_database_name("kill");
    ASSERT_TRUE(server->create_database(name).ok());
    const std::string url = server->url(name);
    ASSERT_TRUE(query_value(url, "CREATE TABLE t (id bigint PRIMARY KEY)").ok());
    for (int round = 1; round <= 3; ++round) {
        ASSERT_NO_FATAL_FAILURE(insert_kill_restart(*server, url, round)) << "round " << round;
    }
    // A restart after a clean stop would not recover: the kill was a crash.
    EXPECT_NE(server->log_tail(1 << 20).find("automatic recovery in progress"), std::string::npos)
        << server->log_tail();
}

TEST(TestServerTest, StopThenRestartKeepsDataPortAndSettings) {
    std::unique_ptr<TestServer> server = start_own({.settings = {"work_mem=7MB"}});
    ASSERT_NE(server, nullptr);
    const std::uint16_t port = server->port();
    const std::string url = server->url("postgres");
    ASSERT_TRUE(query_value(url, "CREATE TABLE t (note text)").ok());
    ASSERT_TRUE(query_value(url, "INSERT INTO t VALUES ('kept')").ok());
    EXPECT_EQ(server->restart().code(), Errc::conflict);  // it runs
    Status stopped = server->stop();
    ASSERT_TRUE(stopped.ok()) << stopped.to_string();
    EXPECT_FALSE(server->running());
    EXPECT_FALSE(query_value(url, "SELECT 1").ok());
    Status restarted = server->restart();
    ASSERT_TRUE(restarted.ok()) << restarted.to_string();
    EXPECT_EQ(server->port(), port);
    Result<std::string> note = query_value(url, "SELECT note FROM t");
    ASSERT_TRUE(note.ok()) << note.status().to_string();
    EXPECT_EQ(*note, "kept");
    Result<std::string> work_mem = query_value(url, "SHOW work_mem");
    ASSERT_TRUE(work_mem.ok()) << work_mem.status().to_string();
    EXPECT_EQ(*work_mem, "7MB");
}

TEST(TestServerTest, DestructorStopsTheServer) {
    std::unique_ptr<TestServer> server = start_own();
    ASSERT_NE(server, nullptr);
    const std::string ping = "host=127.0.0.1 port=" + std::to_string(server->port()) +
                             " user=postgres dbname=postgres connect_timeout=2";
    ASSERT_EQ(PQping(ping.c_str()), PQPING_OK);
    server.reset();
    EXPECT_EQ(PQping(ping.c_str()), PQPING_NO_RESPONSE);
}

TEST(TestServerTest, AForkedChildExitingLeavesTheSharedServerRunning) {
    TestServer& server = shared_test_server();
    std::fflush(nullptr);  // or the child would print the parent's buffered output again
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::exit(0);  // runs the static destructors, the shared server's among them
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(server.running());
    Result<std::string> one = query_value(server.url("postgres"), "SELECT 1");
    EXPECT_TRUE(one.ok()) << one.status().to_string();
}

TEST(UniqueDatabaseNameTest, DistinctLowercaseAndWithinPostgresLimit) {
    const std::string first = unique_database_name("Journal-Test");
    const std::string second = unique_database_name("Journal-Test");
    EXPECT_NE(first, second);
    EXPECT_EQ(first.rfind("t_" + std::to_string(::getpid()) + "_", 0), 0U) << first;
    EXPECT_TRUE(first.ends_with("_journal_test")) << first;
    const std::string long_name = unique_database_name(std::string(100, 'X') + "é");
    EXPECT_EQ(long_name.size(), 63U);
    for (char c : long_name) {
        EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << long_name;
    }
}

}  // namespace
}  // namespace qrpay::postgres::testing
