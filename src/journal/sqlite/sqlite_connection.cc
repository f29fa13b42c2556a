#include "journal/sqlite/sqlite_connection.h"

#include <sqlite3.h>

#include <climits>
#include <limits>
#include <utility>

#include "base/assert.h"

namespace qrpay::journal::sqlite {

namespace {

Status sqlite_error(sqlite3* db, std::string_view what) {
    std::string message(what);
    message += ": ";
    message += db == nullptr ? "out of memory" : sqlite3_errmsg(db);
    return {Errc::io_error, std::move(message)};
}

int length_of(std::string_view value) {
    QRPAY_ASSERT(value.size() <= static_cast<std::size_t>(INT_MAX), "value too long to bind");
    return static_cast<int>(value.size());
}

}  // namespace

std::int64_t to_column(std::uint64_t value) {
    QRPAY_ASSERT(value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                 "number above INT64_MAX reached the SQLite journal");
    return static_cast<std::int64_t>(value);
}

std::uint64_t from_column(std::int64_t value) {
    QRPAY_ASSERT(value >= 0, "negative number stored in the SQLite journal");
    return static_cast<std::uint64_t>(value);
}

Statement::~Statement() {
    if (stmt_ != nullptr) {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), bind_result_(other.bind_result_) {}

void Statement::bind_int(int index, std::int64_t value) {
    int result = sqlite3_bind_int64(stmt_, index, value);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

void Statement::bind_text(int index, std::string_view value) {
    int result = sqlite3_bind_text(stmt_, index, value.data(), length_of(value), SQLITE_STATIC);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

void Statement::bind_blob(int index, std::string_view value) {
    // A zero-length blob with a null pointer would bind NULL; the data pointer of a
    // string_view over an empty std::string is never null.
    int result = sqlite3_bind_blob(stmt_, index, value.data(), length_of(value), SQLITE_STATIC);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

Step Statement::step() {
    if (bind_result_ != SQLITE_OK) {
        return Step::error;
    }
    int result = sqlite3_step(stmt_);
    if (result == SQLITE_ROW) {
        return Step::row;
    }
    return result == SQLITE_DONE ? Step::done : Step::error;
}

Status Statement::error(std::string_view what) const {
    if (bind_result_ != SQLITE_OK) {
        return {Errc::io_error, std::string(what) + ": bind: " + sqlite3_errstr(bind_result_)};
    }
    return sqlite_error(sqlite3_db_handle(stmt_), what);
}

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::column_bytes(int index) const {
    const void* data = sqlite3_column_blob(stmt_, index);
    int size = sqlite3_column_bytes(stmt_, index);  // after column_blob, as SQLite requires
    if (data == nullptr || size <= 0) {
        return {};
    }
    return {static_cast<const char*>(data), static_cast<std::size_t>(size)};
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path,
                                                     OpenMode mode,
                                                     std::chrono::milliseconds lock_wait_max) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (mode == OpenMode::writer) {
        flags |= SQLITE_OPEN_CREATE;
    }
    int opened = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    std::unique_ptr<Connection> connection(new Connection(db));  // closes db on every path
    if (opened != SQLITE_OK) {
        return sqlite_error(db, "open " + path);
    }
    sqlite3_extended_result_codes(db, 1);
    QRPAY_ASSERT(lock_wait_max.count() >= 0 && lock_wait_max.count() <= INT_MAX,
                 "lock_wait_max out of range");
    sqlite3_busy_timeout(db, static_cast<int>(lock_wait_max.count()));
    if (mode == OpenMode::reader) {
        Status pragmas = connection->run_script("PRAGMA query_only = ON;");
        if (!pragmas.ok()) {
            return pragmas;
        }
        return connection;
    }
    Status pragmas =
        connection->run_script("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
    if (!pragmas.ok()) {
        return pragmas;
    }
    Result<Statement> mode_query = connection->prepare("PRAGMA journal_mode");
    if (!mode_query.ok()) {
        return mode_query.status();
    }
    if (mode_query->step() != Step::row || mode_query->column_bytes(0) != "wal") {
        return Status(Errc::io_error, "SQLite refused WAL mode for " + path);
    }
    return connection;
}

Connection::~Connection() {
    for (auto& [sql, stmt] : statements_) {
        sqlite3_finalize(stmt);
    }
    sqlite3_close_v2(db_);  // accepts nullptr
}

Result<Statement> Connection::prepare(const char* sql) {
    auto cached = statements_.find(sql);
    if (cached != statements_.end()) {
        QRPAY_ASSERT(sqlite3_stmt_busy(cached->second) == 0, "a statement was lent twice");
        return Statement(cached->second);
    }
    sqlite3_stmt* stmt = nullptr;
    int prepared = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (prepared != SQLITE_OK) {
        return sqlite_error(db_, std::string("prepare ") + sql);
    }
    statements_.emplace(sql, stmt);
    return Statement(stmt);
}

Status Connection::run(const char* sql) {
    Result<Statement> statement = prepare(sql);
    if (!statement.ok()) {
        return statement.status();
    }
    if (statement->step() == Step::error) {
        return statement->error(sql);
    }
    return {};
}

Status Connection::run_script(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        return sqlite_error(db_, sql);
    }
    return {};
}

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Connection::error(std::string_view what) const { return sqlite_error(db_, what); }

}  // namespace qrpay::journal::sqlite
