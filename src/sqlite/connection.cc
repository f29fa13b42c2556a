#include "sqlite/connection.h"

#include <sqlite3.h>

#include <climits>
#include <limits>
#include <utility>

#include "base/assert.h"

namespace qrpay::sqlite {

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
                 "number above INT64_MAX bound to a SQLite column");
    return static_cast<std::int64_t>(value);
}

std::uint64_t from_column(std::int64_t value) {
    QRPAY_ASSERT(value >= 0, "negative number read from an unsigned SQLite column");
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

void Statement::bind_null(int index) {
    int result = sqlite3_bind_null(stmt_, index);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

void Statement::bind_text(int index, std::string_view value) {
    // SQLITE_TRANSIENT: the caller's string may die before step().
    int result = sqlite3_bind_text(stmt_, index, value.data(), length_of(value), SQLITE_TRANSIENT);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

void Statement::bind_optional_text(int index, const std::optional<std::string>& value) {
    if (value) {
        bind_text(index, *value);
    } else {
        bind_null(index);
    }
}

void Statement::bind_text_borrowed(int index, std::string_view value) {
    int result = sqlite3_bind_text(stmt_, index, value.data(), length_of(value), SQLITE_STATIC);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

void Statement::bind_blob_borrowed(int index, std::string_view value) {
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

Status Statement::run(std::string_view what) {
    for (;;) {
        Step step_result = step();
        if (step_result == Step::done) {
            return {};
        }
        if (step_result == Step::error) {
            return error(what);
        }
    }
}

Status Statement::error(std::string_view what) const {
    if (bind_result_ != SQLITE_OK) {
        return {Errc::io_error, std::string(what) + ": bind: " + sqlite3_errstr(bind_result_)};
    }
    return sqlite_error(sqlite3_db_handle(stmt_), what);
}

bool Statement::column_is_null(int index) const {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::column_text(int index) const {
    const unsigned char* data = sqlite3_column_text(stmt_, index);
    int size = sqlite3_column_bytes(stmt_, index);  // after column_text, as SQLite requires
    if (data == nullptr || size <= 0) {
        return {};
    }
    return {reinterpret_cast<const char*>(data), static_cast<std::size_t>(size)};
}

std::string Statement::column_blob(int index) const {
    const void* data = sqlite3_column_blob(stmt_, index);
    int size = sqlite3_column_bytes(stmt_, index);  // after column_blob, as SQLite requires
    if (data == nullptr || size <= 0) {
        return {};
    }
    return {static_cast<const char*>(data), static_cast<std::size_t>(size)};
}

std::optional<std::int64_t> Statement::column_optional_int(int index) const {
    if (column_is_null(index)) {
        return std::nullopt;
    }
    return column_int(index);
}

std::optional<std::string> Statement::column_optional_text(int index) const {
    if (column_is_null(index)) {
        return std::nullopt;
    }
    return column_text(index);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path,
                                                     OpenMode mode,
                                                     std::chrono::milliseconds lock_wait_max,
                                                     std::size_t new_file_page_bytes) {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (mode != OpenMode::reader) {
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
    if (new_file_page_bytes != 0) {  // a no-op once the file has its first table
        Status paged = connection->run_script(
            "PRAGMA page_size = " + std::to_string(new_file_page_bytes) + ";");
        if (!paged.ok()) {
            return paged;
        }
    }
    Status pragmas = connection->run_script(
        mode == OpenMode::writer ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                 : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    if (!pragmas.ok()) {
        return pragmas;
    }
    Result<Statement> mode_query = connection->prepare("PRAGMA journal_mode");
    if (!mode_query.ok()) {
        return mode_query.status();
    }
    if (mode_query->step() != Step::row || mode_query->column_text(0) != "wal") {
        return Status(Errc::io_error, "SQLite refused WAL mode for " + path);
    }
    return connection;
}

Connection::~Connection() {
    clear_cache();
    sqlite3_close_v2(db_);  // accepts nullptr
}

void Connection::clear_cache() {
    for (auto& [sql, stmt] : statements_) {
        sqlite3_finalize(stmt);
    }
    statements_.clear();
}

Result<Statement> Connection::prepare(std::string_view sql) {
    auto cached = statements_.find(sql);
    if (cached != statements_.end()) {
        QRPAY_ASSERT(sqlite3_stmt_busy(cached->second) == 0, "a statement was lent twice");
        return Statement(cached->second);
    }
    if (statements_.size() >= statements_cached_max) {
        clear_cache();
    }
    sqlite3_stmt* stmt = nullptr;
    int prepared = sqlite3_prepare_v3(db_, sql.data(), length_of(sql), SQLITE_PREPARE_PERSISTENT,
                                      &stmt, nullptr);
    if (prepared != SQLITE_OK) {
        return sqlite_error(db_, "prepare " + std::string(sql));
    }
    QRPAY_ASSERT(stmt != nullptr, "prepared SQL without a statement (empty or a comment)");
    statements_.emplace(sql, stmt);
    return Statement(stmt);
}

Status Connection::run(std::string_view sql) {
    Result<Statement> statement = prepare(sql);
    if (!statement.ok()) {
        return statement.status();
    }
    return statement->run(sql);
}

Status Connection::run_script(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        return sqlite_error(db_, sql);
    }
    return {};
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Connection::checkpoint_passive() {
    int result =
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (result == SQLITE_BUSY) {
        return {Errc::unavailable, "another checkpoint is running"};
    }
    if (result != SQLITE_OK) {
        return sqlite_error(db_, "checkpoint");
    }
    return {};
}

}  // namespace qrpay::sqlite
