#include "projection/sql.h"

#include <sqlite3.h>

#include <climits>
#include <utility>

#include "base/assert.h"

namespace qrpay::projection::sql {

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
    // SQLITE_TRANSIENT: the caller's string may die before step().
    int result = sqlite3_bind_text(stmt_, index, value.data(), length_of(value), SQLITE_TRANSIENT);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

void Statement::bind_null(int index) {
    int result = sqlite3_bind_null(stmt_, index);
    bind_result_ = bind_result_ == SQLITE_OK ? result : bind_result_;
}

void Statement::bind_optional_text(int index, const std::optional<std::string>& value) {
    if (value) {
        bind_text(index, *value);
    } else {
        bind_null(index);
    }
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

Result<std::unique_ptr<Db>> Db::open(const std::string& path,
                                     OpenMode mode,
                                     std::chrono::milliseconds lock_wait_max) {
    sqlite3* handle = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (mode == OpenMode::writer) {
        flags |= SQLITE_OPEN_CREATE;
    }
    int opened = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
    std::unique_ptr<Db> db(new Db(handle));  // closes the handle on every path
    if (opened != SQLITE_OK) {
        return sqlite_error(handle, "open " + path);
    }
    sqlite3_extended_result_codes(handle, 1);
    QRPAY_ASSERT(lock_wait_max.count() >= 0 && lock_wait_max.count() <= INT_MAX,
                 "lock_wait_max out of range");
    sqlite3_busy_timeout(handle, static_cast<int>(lock_wait_max.count()));
    if (mode == OpenMode::reader) {
        Status pragmas = db->run_script("PRAGMA query_only = ON;");
        if (!pragmas.ok()) {
            return pragmas;
        }
        return db;
    }
    Status pragmas = db->run_script("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
    if (!pragmas.ok()) {
        return pragmas;
    }
    Result<Statement> mode_query = db->prepare("PRAGMA journal_mode");
    if (!mode_query.ok()) {
        return mode_query.status();
    }
    if (mode_query->step() != Step::row || mode_query->column_text(0) != "wal") {
        return Status(Errc::io_error, "SQLite refused WAL mode for " + path);
    }
    return db;
}

Db::~Db() {
    clear_cache();
    sqlite3_close_v2(db_);  // accepts nullptr
}

void Db::clear_cache() {
    for (auto& [sql, stmt] : statements_) {
        sqlite3_finalize(stmt);
    }
    statements_.clear();
}

Result<Statement> Db::prepare(const std::string& sql) {
    auto cached = statements_.find(sql);
    if (cached != statements_.end()) {
        QRPAY_ASSERT(sqlite3_stmt_busy(cached->second) == 0, "a statement was lent twice");
        return Statement(cached->second);
    }
    if (statements_.size() >= statements_cached_max) {
        clear_cache();
    }
    sqlite3_stmt* stmt = nullptr;
    int prepared =
        sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (prepared != SQLITE_OK) {
        return sqlite_error(db_, "prepare " + sql);
    }
    statements_.emplace(sql, stmt);
    return Statement(stmt);
}

Status Db::run(const std::string& sql) {
    Result<Statement> statement = prepare(sql);
    if (!statement.ok()) {
        return statement.status();
    }
    return statement->run(sql);
}

Status Db::run_script(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        return sqlite_error(db_, sql);
    }
    return {};
}

std::int64_t Db::changes() const { return sqlite3_changes64(db_); }

bool Db::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

ReadPool::ReadPool(std::string path,
                   std::size_t connections_max,
                   std::chrono::milliseconds wait_max,
                   std::chrono::milliseconds lock_wait_max)
    : path_(std::move(path)),
      connections_max_(connections_max),
      wait_max_(wait_max),
      lock_wait_max_(lock_wait_max) {
    QRPAY_ASSERT(connections_max_ >= 1, "a read pool needs a connection");
}

ReadPool::Lease::~Lease() {
    if (db_) {
        pool_->give_back(std::move(db_));
    }
}

Result<ReadPool::Lease> ReadPool::acquire() {
    std::unique_lock lock(mutex_);
    bool available = returned_.wait_for(
        lock, wait_max_, [this] { return !idle_.empty() || open_count_ < connections_max_; });
    if (!available) {
        return Status(Errc::unavailable, "no read connection free in time");
    }
    if (!idle_.empty()) {
        std::unique_ptr<Db> db = std::move(idle_.back());
        idle_.pop_back();
        return Lease(*this, std::move(db));
    }
    ++open_count_;
    lock.unlock();
    auto opened = Db::open(path_, OpenMode::reader, lock_wait_max_);
    if (!opened.ok()) {
        std::lock_guard relock(mutex_);
        --open_count_;
        returned_.notify_one();
        return opened.status();
    }
    return Lease(*this, std::move(opened).value());
}

void ReadPool::give_back(std::unique_ptr<Db> db) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(db));
    returned_.notify_one();
}

}  // namespace qrpay::projection::sql
