// The SQLite layer against real files: open modes, statements and their cache, binds and
// columns, transactions with both kinds of failed COMMIT, and the read pool's bounds.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "sqlite/connection.h"
#include "sqlite/read_pool.h"
#include "sqlite/transaction.h"

namespace qrpay::sqlite {
namespace {

using std::chrono::milliseconds;

class SqliteTest : public ::testing::Test {
protected:
    SqliteTest() {
        std::string pattern = "/tmp/qrpay_sqlite_XXXXXX";
        const char* made = mkdtemp(pattern.data());
        EXPECT_NE(made, nullptr);
        dir_ = pattern;
    }
    ~SqliteTest() override {
        std::error_code ignored;  // a leftover temporary directory must not fail a test
        std::filesystem::remove_all(dir_, ignored);
    }
    SqliteTest(const SqliteTest&) = delete;
    SqliteTest& operator=(const SqliteTest&) = delete;
    SqliteTest(SqliteTest&&) = delete;
    SqliteTest& operator=(SqliteTest&&) = delete;

    [[nodiscard]] std::string path() const { return dir_ + "/test.sqlite3"; }

    std::unique_ptr<Connection> open(OpenMode mode, milliseconds lock_wait_max = milliseconds(0)) {
        Result<std::unique_ptr<Connection>> opened = Connection::open(path(), mode, lock_wait_max);
        EXPECT_TRUE(opened.ok()) << opened.status().to_string();
        return opened.ok() ? std::move(opened).value() : nullptr;
    }

    // A writer with table t (id INTEGER PRIMARY KEY, name TEXT, data BLOB).
    std::unique_ptr<Connection> open_with_table() {
        std::unique_ptr<Connection> db = open(OpenMode::writer);
        if (db != nullptr) {
            EXPECT_TRUE(
                db->run_script("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB);")
                    .ok());
        }
        return db;
    }

    static std::int64_t count_rows(Connection& db) {
        Result<Statement> count = db.prepare("SELECT count(*) FROM t");
        EXPECT_TRUE(count.ok());
        EXPECT_EQ(count->step(), Step::row);
        return count->column_int(0);
    }

    static Status insert(Connection& db, std::int64_t id) {
        Result<Statement> statement = db.prepare("INSERT INTO t (id) VALUES (?1)");
        if (!statement.ok()) {
            return statement.status();
        }
        statement->bind_int(1, id);
        return statement->run("insert");
    }

private:
    std::string dir_;
};

TEST(SqliteColumns, UnsignedNumbersRoundTripUpToInt64Max) {
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(to_column(0), 0);
    EXPECT_EQ(from_column(to_column(max)), max);
    EXPECT_DEATH((void)to_column(max + 1), "above INT64_MAX");
    EXPECT_DEATH((void)from_column(-1), "negative number");
}

TEST_F(SqliteTest, WriterCreatesTheFileInWalModeWithFullSync) {
    std::unique_ptr<Connection> writer = open(OpenMode::writer);
    ASSERT_NE(writer, nullptr);
    std::unique_ptr<Connection> reader = open(OpenMode::reader);
    ASSERT_NE(reader, nullptr);
    Result<Statement> mode = reader->prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode.ok());
    ASSERT_EQ(mode->step(), Step::row);
    EXPECT_EQ(mode->column_text(0), "wal") << "WAL is a property of the file";
    Result<Statement> sync = writer->prepare("PRAGMA synchronous");
    ASSERT_TRUE(sync.ok());
    ASSERT_EQ(sync->step(), Step::row);
    EXPECT_EQ(sync->column_int(0), 2) << "FULL";
}

TEST_F(SqliteTest, ReaderNeitherCreatesNorWrites) {
    Result<std::unique_ptr<Connection>> missing =
        Connection::open(path(), OpenMode::reader, milliseconds(0));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), Errc::io_error);
    ASSERT_NE(open_with_table(), nullptr);
    std::unique_ptr<Connection> reader = open(OpenMode::reader);
    ASSERT_NE(reader, nullptr);
    Status refused = insert(*reader, 1);
    EXPECT_EQ(refused.code(), Errc::io_error) << refused.to_string();
}

TEST_F(SqliteTest, BindsAndReadsEveryColumnKind) {
    std::unique_ptr<Connection> db = open_with_table();
    ASSERT_NE(db, nullptr);
    const std::string blob("a\0b", 3);
    {
        Result<Statement> statement = db->prepare("INSERT INTO t VALUES (?1, ?2, ?3)");
        ASSERT_TRUE(statement.ok());
        statement->bind_int(1, -7);
        statement->bind_text(2, std::string("temporary, gone before step()"));
        statement->bind_blob_borrowed(3, blob);
        ASSERT_TRUE(statement->run("insert").ok());
        EXPECT_EQ(db->changes(), 1);
    }
    {
        Result<Statement> statement = db->prepare("INSERT INTO t VALUES (?1, ?2, ?3)");
        ASSERT_TRUE(statement.ok());
        statement->bind_int(1, 8);
        statement->bind_optional_text(2, std::nullopt);
        statement->bind_blob_borrowed(3, std::string_view(blob.data(), 0));
        ASSERT_TRUE(statement->run("insert").ok());
    }
    Result<Statement> select = db->prepare("SELECT id, name, data FROM t ORDER BY id");
    ASSERT_TRUE(select.ok());
    ASSERT_EQ(select->step(), Step::row);
    EXPECT_EQ(select->column_int(0), -7);
    EXPECT_EQ(select->column_text(1), "temporary, gone before step()");
    EXPECT_EQ(select->column_optional_text(1), "temporary, gone before step()");
    EXPECT_EQ(select->column_blob(2), blob);
    ASSERT_EQ(select->step(), Step::row);
    EXPECT_EQ(select->column_optional_int(0), 8);
    EXPECT_TRUE(select->column_is_null(1));
    EXPECT_EQ(select->column_optional_text(1), std::nullopt);
    EXPECT_EQ(select->column_text(1), "");
    EXPECT_FALSE(select->column_is_null(2)) << "an empty blob is not NULL";
    EXPECT_EQ(select->column_blob(2), "");
    EXPECT_EQ(select->step(), Step::done);
}

TEST_F(SqliteTest, BorrowedTextAndOptionalTextBind) {
    std::unique_ptr<Connection> db = open_with_table();
    ASSERT_NE(db, nullptr);
    const std::string name = "kept alive";
    Result<Statement> statement = db->prepare("INSERT INTO t (id, name) VALUES (?1, ?2)");
    ASSERT_TRUE(statement.ok());
    statement->bind_int(1, 1);
    statement->bind_text_borrowed(2, name);
    ASSERT_TRUE(statement->run("insert").ok());
    Result<Statement> select = db->prepare("SELECT name FROM t WHERE id = ?1");
    ASSERT_TRUE(select.ok());
    select->bind_int(1, 1);
    ASSERT_EQ(select->step(), Step::row);
    EXPECT_EQ(select->column_optional_text(0), std::optional<std::string>(name));
}

TEST_F(SqliteTest, CachedStatementsStartCleanAndTheCacheIsBounded) {
    std::unique_ptr<Connection> db = open_with_table();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(insert(*db, 1).ok());
    {
        Result<Statement> select = db->prepare("SELECT id FROM t WHERE id = ?1");
        ASSERT_TRUE(select.ok());
        select->bind_int(1, 1);
        ASSERT_EQ(select->step(), Step::row);  // left mid-way: the destructor resets it
    }
    {
        Result<Statement> select = db->prepare("SELECT id FROM t WHERE id = ?1");
        ASSERT_TRUE(select.ok());
        EXPECT_EQ(select->step(), Step::done) << "the binding was cleared: id = NULL";
    }
    for (std::size_t i = 0; i <= Connection::statements_cached_max; ++i) {
        Result<Statement> distinct = db->prepare("SELECT " + std::to_string(i));
        ASSERT_TRUE(distinct.ok());
        ASSERT_EQ(distinct->step(), Step::row);
        EXPECT_EQ(distinct->column_int(0), static_cast<std::int64_t>(i));
    }
}

TEST_F(SqliteTest, FailuresAreIoErrorsNamingWhatFailed) {
    std::unique_ptr<Connection> db = open_with_table();
    ASSERT_NE(db, nullptr);
    Result<Statement> bad = db->prepare("SELEKT 1");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), Errc::io_error);
    EXPECT_NE(bad.status().message().find("prepare SELEKT 1"), std::string::npos);
    ASSERT_TRUE(insert(*db, 1).ok());
    Status duplicate = insert(*db, 1);
    EXPECT_EQ(duplicate.code(), Errc::io_error);
    EXPECT_NE(duplicate.message().find("insert: UNIQUE constraint failed"), std::string::npos)
        << duplicate.to_string();
    Result<Statement> statement = db->prepare("SELECT ?1");
    ASSERT_TRUE(statement.ok());
    statement->bind_int(2, 1);  // no such parameter
    EXPECT_EQ(statement->step(), Step::error);
    EXPECT_NE(statement->error("select").message().find("select: bind: "), std::string::npos);
    EXPECT_EQ(db->run_script("NOT SQL").code(), Errc::io_error);
}

TEST_F(SqliteTest, InTransactionCommitsOrRollsBack) {
    std::unique_ptr<Connection> db = open_with_table();
    ASSERT_NE(db, nullptr);
    Status committed = in_transaction(*db, Begin::immediate, [&] { return insert(*db, 1); });
    EXPECT_TRUE(committed.ok()) << committed.to_string();
    Status failed = in_transaction(*db, Begin::deferred, [&]() -> Status {
        EXPECT_TRUE(db->in_transaction());
        EXPECT_TRUE(insert(*db, 2).ok());
        return {Errc::conflict, "the body refused"};
    });
    EXPECT_EQ(failed.code(), Errc::conflict);
    EXPECT_FALSE(db->in_transaction());
    EXPECT_EQ(count_rows(*db), 1) << "row 2 rolled back";
}

TEST_F(SqliteTest, BeginImmediateWaitsAtMostLockWaitMax) {
    std::unique_ptr<Connection> holder = open_with_table();
    ASSERT_NE(holder, nullptr);
    std::unique_ptr<Connection> impatient = open(OpenMode::writer, milliseconds(20));
    ASSERT_NE(impatient, nullptr);
    ASSERT_TRUE(begin(*holder, Begin::immediate).ok());
    Status busy = begin(*impatient, Begin::immediate);
    EXPECT_EQ(busy.code(), Errc::io_error) << busy.to_string();
    EXPECT_FALSE(impatient->in_transaction());
    EXPECT_TRUE(rollback(*holder).ok());
    EXPECT_TRUE(rollback(*holder).ok()) << "nothing open: nothing to do";
}

// COMMIT refused while a write statement is still running: the transaction stays open, so
// the rollback is certain.
TEST_F(SqliteTest, CommitThatLeavesTheTransactionOpenIsAnIoError) {
    std::unique_ptr<Connection> db = open_with_table();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(begin(*db, Begin::immediate).ok());
    {
        Result<Statement> returning =
            db->prepare("INSERT INTO t (id) VALUES (1), (2) RETURNING id");
        ASSERT_TRUE(returning.ok());
        ASSERT_EQ(returning->step(), Step::row);
        Status committed = commit(*db);
        EXPECT_EQ(committed.code(), Errc::io_error) << committed.to_string();
        EXPECT_TRUE(db->in_transaction());
    }
    EXPECT_TRUE(rollback(*db).ok());
    EXPECT_EQ(count_rows(*db), 0);
}

// A COMMIT that fails after the transaction ended cannot tell whether it reached the disk.
TEST_F(SqliteTest, CommitThatEndedTheTransactionIsAnUnknownOutcome) {
    std::unique_ptr<Connection> db = open_with_table();
    ASSERT_NE(db, nullptr);
    Status committed = commit(*db);  // nothing open: SQLite fails with the transaction gone
    EXPECT_EQ(committed.code(), Errc::unknown_outcome) << committed.to_string();
}

TEST_F(SqliteTest, ReadPoolLendsAtMostConnectionsMax) {
    std::unique_ptr<Connection> writer = open_with_table();
    ASSERT_NE(writer, nullptr);
    ReadPool pool({.path = path(), .connections_max = 2, .wait_max = milliseconds(10)});
    {
        Result<ReadPool::Lease> first = pool.acquire();
        Result<ReadPool::Lease> second = pool.acquire();
        ASSERT_TRUE(first.ok() && second.ok());
        EXPECT_NE(&**first, &**second);
        Result<ReadPool::Lease> third = pool.acquire();
        ASSERT_FALSE(third.ok());
        EXPECT_EQ(third.status().code(), Errc::unavailable);
    }
    Result<ReadPool::Lease> again = pool.acquire();
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    ASSERT_TRUE(insert(*writer, 1).ok());
    EXPECT_EQ(count_rows(**again), 1) << "a reader sees the last commit";
    EXPECT_EQ(insert(**again, 2).code(), Errc::io_error) << "read connections are query_only";
}

TEST_F(SqliteTest, ReadPoolFreesTheSlotOfAConnectionThatFailedToOpen) {
    ReadPool pool({.path = path(), .connections_max = 1, .wait_max = milliseconds(10)});
    for (int attempt = 0; attempt < 2; ++attempt) {
        Result<ReadPool::Lease> lease = pool.acquire();
        ASSERT_FALSE(lease.ok());
        EXPECT_EQ(lease.status().code(), Errc::io_error) << "no file yet, and not unavailable";
    }
    ASSERT_NE(open_with_table(), nullptr);
    EXPECT_TRUE(pool.acquire().ok());
}

}  // namespace
}  // namespace qrpay::sqlite
