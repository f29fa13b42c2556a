// The sql API behaves alike on SQLite and PostgreSQL (a real server): one typed suite.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "postgres/testing/test_server.h"
#include "sql/connection.h"

namespace qrpay::sql {
namespace {

// A file in a directory of this process, removed when the process ends.
struct SqliteBackend {
    static Opener opener() {
        static const struct Dir {
            std::filesystem::path path = std::filesystem::temp_directory_path() /
                                         ("qrpay-sql-test-" + std::to_string(::getpid()));
            Dir() { std::filesystem::create_directories(path); }
            ~Dir() { std::filesystem::remove_all(path); }
        } dir;
        static int counter = 0;
        const std::string path = (dir.path / (std::to_string(++counter) + ".sqlite3")).string();
        return sqlite_opener(path, false, true, std::chrono::milliseconds(1'000));
    }
};

struct PostgresBackend {
    static Opener opener() {
        auto& server = postgres::testing::shared_test_server();
        const std::string name = postgres::testing::unique_database_name("sql");
        EXPECT_TRUE(server.create_database(name).ok());
        return postgres_opener(server.url(name), std::chrono::milliseconds(5'000));
    }
};

template <class Backend>
class SqlTest : public ::testing::Test {
protected:
    void SetUp() override {
        opener_ = Backend::opener();
        auto opened = opener_();
        ASSERT_TRUE(opened.ok()) << opened.status().to_string();
        db_ = std::move(opened).value();
        ASSERT_TRUE(db_->run_script("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, s TEXT)").ok());
    }
    Status insert(const std::string& key, std::int64_t n) {
        auto statement = db_->prepare("INSERT INTO t (k, n, s) VALUES (?, ?, ?)");
        if (!statement.ok()) {
            return statement.status();
        }
        statement->bind_text(1, key);
        statement->bind_int(2, n);
        statement->bind_optional_text(3, std::nullopt);
        return statement->run("insert");
    }
    std::int64_t count() {
        auto statement = db_->prepare("SELECT count(*) FROM t");
        EXPECT_TRUE(statement.ok());
        EXPECT_EQ(statement->step(), Step::row);
        return statement->column_int(0);
    }
    Opener opener_;
    std::unique_ptr<Connection> db_;
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
TYPED_TEST_SUITE(SqlTest, Backends);

TYPED_TEST(SqlTest, ValuesRoundTripWithNumberedAndBarePlaceholders) {
    ASSERT_TRUE(this->insert("a?'b", -7).ok());
    auto select = this->db_->prepare(
        "SELECT k, n, s, n + ?2 FROM t WHERE k = ?1 AND s IS NULL AND k <> 'x?'");
    ASSERT_TRUE(select.ok());
    select->bind_text(1, "a?'b");
    select->bind_int(2, 10);
    ASSERT_EQ(select->step(), Step::row);
    EXPECT_EQ(select->column_text(0), "a?'b");
    EXPECT_EQ(select->column_int(1), -7);
    EXPECT_EQ(select->column_text(1), "-7");
    EXPECT_TRUE(select->column_is_null(2));
    EXPECT_EQ(select->column_optional_text(2), std::nullopt);
    EXPECT_EQ(select->column_int(3), 3);
    EXPECT_EQ(select->step(), Step::done);
}

TYPED_TEST(SqlTest, ChangesCountTheLastWrite) {
    ASSERT_TRUE(this->insert("a", 1).ok());
    ASSERT_TRUE(this->insert("b", 1).ok());
    auto update = this->db_->prepare("UPDATE t SET n = n + 1 WHERE n = ?");
    ASSERT_TRUE(update.ok());
    update->bind_int(1, 1);
    ASSERT_TRUE(update->run("update").ok());
    EXPECT_EQ(this->db_->changes(), 2);
}

TYPED_TEST(SqlTest, ATransactionCommitsOrRollsBackWhole) {
    Status kept =
        in_transaction(*this->db_, Begin::immediate, [&] { return this->insert("a", 1); });
    ASSERT_TRUE(kept.ok()) << kept.to_string();
    Status undone = in_transaction(*this->db_, Begin::immediate, [&] {
        EXPECT_TRUE(this->insert("b", 1).ok());
        return this->insert("a", 2);  // the primary key refuses it
    });
    EXPECT_FALSE(undone.ok());
    EXPECT_FALSE(this->db_->in_transaction());
    EXPECT_EQ(this->count(), 1);
}

TYPED_TEST(SqlTest, ASavepointUndoesItsPartOnly) {
    ASSERT_TRUE(this->db_->begin(Begin::immediate).ok());
    ASSERT_TRUE(this->insert("a", 1).ok());
    ASSERT_TRUE(this->db_->run_script("SAVEPOINT part").ok());
    EXPECT_FALSE(this->insert("a", 2).ok());
    ASSERT_TRUE(this->db_->run_script("ROLLBACK TO part").ok());
    ASSERT_TRUE(this->db_->run_script("RELEASE part").ok());
    ASSERT_TRUE(this->db_->commit().ok());
    EXPECT_EQ(this->count(), 1);
}

TYPED_TEST(SqlTest, APoolLendsBoundedlyAndOpensOnDemand) {
    Pool pool(this->opener_, 1, std::chrono::milliseconds(20));
    {
        auto first = pool.acquire();
        ASSERT_TRUE(first.ok()) << first.status().to_string();
        EXPECT_EQ(pool.acquire().status().code(), Errc::unavailable);
    }
    auto again = pool.acquire();
    ASSERT_TRUE(again.ok());
    auto select = (*again)->prepare("SELECT count(*) FROM t");
    ASSERT_TRUE(select.ok());
    EXPECT_EQ(select->step(), Step::row);
}

// A pooled connection whose server went away and came back is replaced before it is lent, so
// the first read after the restart works.
TEST(SqlPool, AnIdleConnectionThatDiedWithItsServerIsReplacedBeforeItIsLent) {
    auto server = postgres::testing::TestServer::start();
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    ASSERT_TRUE((*server)->create_database("pool").ok());
    Pool pool(postgres_opener((*server)->url("pool"), std::chrono::milliseconds(5'000)), 1,
              std::chrono::milliseconds(5'000), std::chrono::milliseconds(0));
    { ASSERT_TRUE(pool.acquire().ok()); }  // opened, then idle
    ASSERT_TRUE((*server)->kill().ok());
    ASSERT_TRUE((*server)->restart().ok());
    auto lease = pool.acquire();
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    auto select = (*lease)->prepare("SELECT 1");
    ASSERT_TRUE(select.ok());
    EXPECT_EQ(select->step(), Step::row) << select->error("select").to_string();
}

}  // namespace
}  // namespace qrpay::sql
