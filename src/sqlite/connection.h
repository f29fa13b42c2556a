#pragma once
// A SQLite connection with its cache of prepared statements, and the statement handle borrowed
// from that cache. No SQLite header leaks from here.
//
// Thread safety: none. A connection is used by one thread at a time (the caller serialises,
// or a ReadPool lease lends it to one caller).
// Errors: io_error naming what failed and SQLite's message.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace qrpay::sqlite {

// Conversions for signed 64-bit columns that hold unsigned numbers. The caller refuses numbers
// above INT64_MAX at its edge and its schema refuses negative ones, so a failure here is a
// broken invariant.
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
    void bind_null(int index);
    void bind_text(int index, std::string_view value);                            // copies `value`
    void bind_optional_text(int index, const std::optional<std::string>& value);  // NULL if none
    // Without a copy, for large values. REQUIRES: `value` outlives this Statement (the
    // destructor clears the bindings).
    void bind_text_borrowed(int index, std::string_view value);
    void bind_blob_borrowed(int index, std::string_view value);

    Step step();
    // Steps to the end, for statements that return no rows; io_error naming `what` otherwise.
    [[nodiscard]] Status run(std::string_view what);
    // io_error naming `what` and SQLite's message for the last failure.
    [[nodiscard]] Status error(std::string_view what) const;

    // Columns are 0-based. REQUIRES: the last step() returned Step::row.
    [[nodiscard]] bool column_is_null(int index) const;
    [[nodiscard]] std::int64_t column_int(int index) const;
    [[nodiscard]] std::string column_text(int index) const;  // "" for NULL
    [[nodiscard]] std::string column_blob(int index) const;  // the stored bytes; "" for NULL
    [[nodiscard]] std::optional<std::int64_t> column_optional_int(int index) const;
    [[nodiscard]] std::optional<std::string> column_optional_text(int index) const;

private:
    sqlite3_stmt* stmt_;
    int bind_result_ = 0;  // SQLITE_OK until a bind fails
};

enum class OpenMode {
    writer,  // read-write, creates the file, WAL and synchronous=FULL: a commit is on disk
    // Read-write like `writer`, but synchronous=NORMAL: a commit survives the process crashing
    // and the file stays consistent, yet the last commits may be lost when the machine itself
    // fails (no fsync per commit). Only for stores rebuilt from a durable source, such as read
    // models that commit their source offset with their rows.
    rebuildable_writer,
    reader,  // query_only
};

class Connection {
public:
    // Opens `path` and sets its pragmas. `lock_wait_max` bounds every wait for a lock that
    // another connection holds (SQLITE_BUSY after it). `new_file_page_bytes`, when not 0, is
    // the page size of a file a writer opens empty (a power of two, 512 to 65536; SQLite
    // cannot change it once the file is in WAL mode, so it is set here, before). io_error
    // when SQLite cannot open the file or refuses WAL.
    static Result<std::unique_ptr<Connection>> open(const std::string& path,
                                                    OpenMode mode,
                                                    std::chrono::milliseconds lock_wait_max,
                                                    std::size_t new_file_page_bytes = 0);
    ~Connection();  // finalizes every cached statement, then closes
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection(Connection&&) = delete;
    Connection& operator=(Connection&&) = delete;

    // The statement for `sql`, prepared on first use and cached under its text (at most
    // statements_cached_max; beyond, the cache is emptied first). REQUIRES: no other
    // statement of this connection is lent out when the cache is emptied.
    Result<Statement> prepare(std::string_view sql);
    // Prepares (cached) and runs a statement that returns no rows: BEGIN, COMMIT, SAVEPOINT.
    Status run(std::string_view sql);
    // Runs several statements at once, uncached (schema scripts, pragmas).
    Status run_script(const std::string& sql);
    // Rows changed by the last INSERT, UPDATE or DELETE.
    [[nodiscard]] std::int64_t changes() const;
    // True while a transaction is open; false after SQLite rolled one back on its own.
    [[nodiscard]] bool in_transaction() const;
    // A PASSIVE checkpoint: copies into the database file the WAL frames no reader needs,
    // without waiting for readers or the writer. unavailable when another connection is
    // checkpointing already (nothing done); io_error when it failed.
    Status checkpoint_passive();

    static constexpr std::size_t statements_cached_max = 256;

private:
    // Heterogeneous lookup: prepare() finds a cached statement without building a string.
    struct SqlHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view sql) const {
            return std::hash<std::string_view>{}(sql);
        }
    };

    explicit Connection(sqlite3* db) : db_(db) {}
    void clear_cache();

    sqlite3* db_;
    std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> statements_;
};

}  // namespace qrpay::sqlite
