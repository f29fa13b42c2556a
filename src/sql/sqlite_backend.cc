// The sql API over the SQLite layer (src/sqlite/): a thin pass-through.

#include <utility>

#include "sql/connection.h"
#include "sqlite/connection.h"
#include "sqlite/transaction.h"

namespace qrpay::sql {

namespace {

class SqliteStatement final : public StatementImpl {
public:
    explicit SqliteStatement(sqlite::Statement statement) : statement_(std::move(statement)) {}
    void bind_int(int index, std::int64_t value) override { statement_.bind_int(index, value); }
    void bind_null(int index) override { statement_.bind_null(index); }
    void bind_text(int index, std::string_view value) override {
        statement_.bind_text(index, value);
    }
    Step step() override {
        switch (statement_.step()) {
            case sqlite::Step::row:
                return Step::row;
            case sqlite::Step::done:
                return Step::done;
            case sqlite::Step::error:
                break;
        }
        return Step::error;
    }
    [[nodiscard]] Status error(std::string_view what) const override {
        return statement_.error(what);
    }
    [[nodiscard]] bool column_is_null(int index) const override {
        return statement_.column_is_null(index);
    }
    [[nodiscard]] std::int64_t column_int(int index) const override {
        return statement_.column_int(index);
    }
    [[nodiscard]] std::string column_text(int index) const override {
        return statement_.column_text(index);
    }

private:
    sqlite::Statement statement_;
};

class SqliteConnection final : public Connection {
public:
    explicit SqliteConnection(std::unique_ptr<sqlite::Connection> db) : db_(std::move(db)) {}
    [[nodiscard]] Dialect dialect() const override { return Dialect::sqlite; }
    Result<Statement> prepare(std::string_view sql) override {
        Result<sqlite::Statement> prepared = db_->prepare(sql);
        if (!prepared.ok()) {
            return prepared.status();
        }
        return Statement(std::make_unique<SqliteStatement>(std::move(prepared).value()));
    }
    Status run_script(const std::string& sql) override { return db_->run_script(sql); }
    [[nodiscard]] std::int64_t changes() const override { return db_->changes(); }
    [[nodiscard]] bool in_transaction() const override { return db_->in_transaction(); }
    [[nodiscard]] bool broken() const override { return false; }
    Status begin(Begin mode) override {
        return sqlite::begin(
            *db_, mode == Begin::immediate ? sqlite::Begin::immediate : sqlite::Begin::deferred);
    }
    Status commit() override { return sqlite::commit(*db_); }
    Status rollback() override { return sqlite::rollback(*db_); }

private:
    std::unique_ptr<sqlite::Connection> db_;
};

}  // namespace

Opener sqlite_opener(std::string path,
                     bool read_only,
                     bool durable,
                     std::chrono::milliseconds lock_wait_max) {
    const sqlite::OpenMode mode = read_only ? sqlite::OpenMode::reader
                                  : durable ? sqlite::OpenMode::writer
                                            : sqlite::OpenMode::rebuildable_writer;
    return [path = std::move(path), mode, lock_wait_max]() -> Result<std::unique_ptr<Connection>> {
        Result<std::unique_ptr<sqlite::Connection>> opened =
            sqlite::Connection::open(path, mode, lock_wait_max);
        if (!opened.ok()) {
            return opened.status();
        }
        return std::unique_ptr<Connection>(
            std::make_unique<SqliteConnection>(std::move(opened).value()));
    };
}

}  // namespace qrpay::sql
