#pragma once
// A SQLite connection with its cache of prepared statements, and the statement handle borrowed
// from that cache. Private to the SQLite journal; no SQLite header leaks from here.
//
// Thread safety: none. A connection is used by one thread at a time: the writer thread owns
// the write connection, a ReadPool lease lends a read connection to one caller.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace qrpay::journal::sqlite {

// Conversions for the signed 64-bit columns that hold unsigned numbers. The journal refuses
// numbers above INT64_MAX at its edge (validation.h) and the schema refuses negative ones,
// so a failure here is a broken invariant.
std::int64_t to_column(std::uint64_t value);
std::uint64_t from_column(std::int64_t value);

enum class Step { row, done, error };

// A cached statement lent for one execution. Its destructor resets it and clears its
// bindings, so the next user starts clean. REQUIRES: does not outlive its Connection.
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
    void bind_blob(int index, std::string_view value);

    Step step();
    // io_error naming `what` and SQLite's message for the last failure.
    [[nodiscard]] Status error(std::string_view what) const;

    // Columns are 0-based. REQUIRES: the last step() returned Step::row.
    [[nodiscard]] std::int64_t column_int(int index) const;
    [[nodiscard]] std::string column_bytes(int index) const;  // TEXT or BLOB

private:
    sqlite3_stmt* stmt_;
    int bind_result_ = 0;  // SQLITE_OK until a bind fails
};

enum class OpenMode {
    writer,  // read-write, creates the file, WAL and synchronous=FULL
    reader,  // query_only
};

class Connection {
public:
    // Opens `path` and sets its pragmas. `lock_wait_max` bounds every wait for a lock that
    // another connection holds (SQLITE_BUSY after it). io_error when SQLite cannot open the
    // file or refuses WAL.
    static Result<std::unique_ptr<Connection>> open(const std::string& path,
                                                    OpenMode mode,
                                                    std::chrono::milliseconds lock_wait_max);
    ~Connection();  // finalizes every cached statement, then closes
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection(Connection&&) = delete;
    Connection& operator=(Connection&&) = delete;

    // The statement for `sql`, prepared on first use and cached under the pointer.
    // REQUIRES: `sql` is a string literal (it outlives the connection and keys the cache).
    Result<Statement> prepare(const char* sql);
    // Prepares (cached) and runs a statement that returns no rows: BEGIN, COMMIT, SAVEPOINT.
    Status run(const char* sql);
    // Runs several statements at once, uncached (schema scripts, pragmas).
    Status run_script(const std::string& sql);
    // True while a transaction is open; false after SQLite rolled one back on its own.
    [[nodiscard]] bool in_transaction() const;
    [[nodiscard]] Status error(std::string_view what) const;

private:
    explicit Connection(sqlite3* db) : db_(db) {}

    sqlite3* db_;
    std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace qrpay::journal::sqlite
