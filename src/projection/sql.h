#pragma once
// A SQLite connection with a cache of prepared statements, the statement handle borrowed from
// it, and a pool of read connections. Used by the read-model store and the projections of this
// module; no SQLite header leaks from here. The SQL written against it stays portable to
// PostgreSQL (BIGINT, TEXT, ON CONFLICT, ALTER TABLE ... RENAME TO), except for the `?`
// placeholders, which a PostgreSQL backend rewrites.
//
// Thread safety: a Db is used by one thread at a time. ReadPool is thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace qrpay::projection::sql {

enum class Step { row, done, error };

// A cached statement lent for one execution. Its destructor resets it and clears its bindings.
// REQUIRES: does not outlive its Db.
class Statement {
public:
    explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement& operator=(Statement&&) = delete;

    // Parameters are 1-based. A failed bind is remembered and reported by step().
    void bind_int(int index, std::int64_t value);
    void bind_text(int index, std::string_view value);
    void bind_null(int index);
    void bind_optional_text(int index, const std::optional<std::string>& value);

    Step step();
    // Steps to the end; io_error when a step fails. For statements that return no rows.
    [[nodiscard]] Status run(std::string_view what);
    // io_error naming `what` and SQLite's message for the last failure.
    [[nodiscard]] Status error(std::string_view what) const;

    // Columns are 0-based. REQUIRES: the last step() returned Step::row.
    [[nodiscard]] bool column_is_null(int index) const;
    [[nodiscard]] std::int64_t column_int(int index) const;
    [[nodiscard]] std::string column_text(int index) const;
    [[nodiscard]] std::optional<std::int64_t> column_optional_int(int index) const;
    [[nodiscard]] std::optional<std::string> column_optional_text(int index) const;

private:
    sqlite3_stmt* stmt_;
    int bind_result_ = 0;  // SQLITE_OK until a bind fails
};

enum class OpenMode {
    writer,  // read-write, creates the file, WAL and synchronous=FULL
    reader,  // query_only
};

class Db {
public:
    // Opens `path` and sets its pragmas; `lock_wait_max` bounds every wait for a lock another
    // connection holds. io_error when SQLite cannot open the file or refuses WAL.
    static Result<std::unique_ptr<Db>> open(const std::string& path,
                                            OpenMode mode,
                                            std::chrono::milliseconds lock_wait_max);
    ~Db();  // finalizes every cached statement, then closes
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    Db(Db&&) = delete;
    Db& operator=(Db&&) = delete;

    // The statement for `sql`, prepared on first use and cached under its text (at most
    // statements_cached_max; beyond, the cache is emptied first). REQUIRES: no other
    // statement of this Db is lent out when the cache is emptied.
    Result<Statement> prepare(const std::string& sql);
    // Prepares (cached) and runs a statement that returns no rows.
    Status run(const std::string& sql);
    // Runs several statements at once, uncached (schema scripts).
    Status run_script(const std::string& sql);
    // Rows changed by the last INSERT, UPDATE or DELETE.
    [[nodiscard]] std::int64_t changes() const;
    [[nodiscard]] bool in_transaction() const;

    static constexpr std::size_t statements_cached_max = 256;

private:
    explicit Db(sqlite3* db) : db_(db) {}
    void clear_cache();

    sqlite3* db_;
    std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// Read connections, opened lazily up to connections_max. In WAL mode a reader sees the last
// commit before its transaction began and never waits for the writer.
class ReadPool {
public:
    ReadPool(std::string path,
             std::size_t connections_max,
             std::chrono::milliseconds wait_max,
             std::chrono::milliseconds lock_wait_max);
    ~ReadPool() = default;  // REQUIRES: no lease outstanding
    ReadPool(const ReadPool&) = delete;
    ReadPool& operator=(const ReadPool&) = delete;
    ReadPool(ReadPool&&) = delete;
    ReadPool& operator=(ReadPool&&) = delete;

    // One connection lent to one caller, returned when the lease is destroyed.
    class Lease {
    public:
        Lease(ReadPool& pool, std::unique_ptr<Db> db) : pool_(&pool), db_(std::move(db)) {}
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();
        Db& operator*() { return *db_; }
        Db* operator->() { return db_.get(); }

    private:
        ReadPool* pool_;
        std::unique_ptr<Db> db_;
    };

    // unavailable when none came back within wait_max; io_error when one cannot be opened.
    Result<Lease> acquire();

private:
    void give_back(std::unique_ptr<Db> db);

    const std::string path_;
    const std::size_t connections_max_;
    const std::chrono::milliseconds wait_max_;
    const std::chrono::milliseconds lock_wait_max_;
    // Guards idle_ and open_count_; shared by every thread that reads.
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<std::unique_ptr<Db>> idle_;
    std::size_t open_count_ = 0;  // idle, lent out or being opened; at most connections_max_
};

// Runs `body` inside BEGIN [IMMEDIATE] ... COMMIT on `db`; rolls back when it fails.
// Status of BEGIN, of the body, or of COMMIT (unknown_outcome when COMMIT itself failed).
template <class Body>
Status in_transaction(Db& db, bool immediate, Body body) {
    Status begun = db.run(immediate ? "BEGIN IMMEDIATE" : "BEGIN");
    if (!begun.ok()) {
        return begun;
    }
    Status done = body();
    if (!done.ok()) {
        if (db.in_transaction()) {
            (void)db.run("ROLLBACK");
        }
        return done;
    }
    Status committed = db.run("COMMIT");
    if (!committed.ok()) {
        if (db.in_transaction()) {
            (void)db.run("ROLLBACK");
        }
        return {Errc::unknown_outcome, committed.message()};
    }
    return {};
}

}  // namespace qrpay::projection::sql
