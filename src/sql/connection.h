#pragma once
// sql: one statement API over SQLite and PostgreSQL, for the modules whose SQL runs on either
// (the read models and their projections). A statement is written once, with `?` or `?N`
// placeholders and SQL both databases speak; the PostgreSQL side rewrites the placeholders to
// `$N`. Where the two differ, Connection::dialect() says which one runs.
//
// Statements are prepared once per connection and cached under their text, so build them from
// fixed text and bind values; never splice values into the text.
//
// Errors: io_error naming what failed and the database's message; unavailable when a
// PostgreSQL connection is lost (then broken()); conflict for a unique violation; commit()
// also answers unknown_outcome (it may or may not have happened).
//
// Thread safety: none; a Connection and its Statements are used by one thread at a time.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bounded_pool.h"
#include "base/status.h"

namespace qrpay::sql {

enum class Step { row, done, error };

// Signed 64-bit columns that hold unsigned numbers (offsets, sequence numbers): the caller
// refuses numbers above INT64_MAX at its edge and the schema refuses negative ones, so a
// failure here is a broken invariant.
std::int64_t to_column(std::uint64_t value);
std::uint64_t from_column(std::int64_t value);
enum class Dialect { sqlite, postgres };

// What a backend implements for one statement execution; see Statement.
class StatementImpl {
public:
    StatementImpl() = default;
    virtual ~StatementImpl() = default;
    StatementImpl(const StatementImpl&) = delete;
    StatementImpl& operator=(const StatementImpl&) = delete;
    StatementImpl(StatementImpl&&) = delete;
    StatementImpl& operator=(StatementImpl&&) = delete;
    virtual void bind_int(int index, std::int64_t value) = 0;
    virtual void bind_null(int index) = 0;
    virtual void bind_text(int index, std::string_view value) = 0;
    virtual Step step() = 0;
    [[nodiscard]] virtual Status error(std::string_view what) const = 0;
    [[nodiscard]] virtual bool column_is_null(int index) const = 0;
    [[nodiscard]] virtual std::int64_t column_int(int index) const = 0;
    [[nodiscard]] virtual std::string column_text(int index) const = 0;
};

// A prepared statement lent for one execution. Parameters are 1-based, columns 0-based; a
// failed bind is reported by step().
class Statement {
public:
    explicit Statement(std::unique_ptr<StatementImpl> impl) : impl_(std::move(impl)) {}

    void bind_int(int index, std::int64_t value) { impl_->bind_int(index, value); }
    void bind_null(int index) { impl_->bind_null(index); }
    void bind_text(int index, std::string_view value) { impl_->bind_text(index, value); }
    void bind_optional_text(int index, const std::optional<std::string>& value);

    Step step() { return impl_->step(); }
    // Steps to the end, for statements that return no rows; io_error naming `what` otherwise.
    [[nodiscard]] Status run(std::string_view what);
    [[nodiscard]] Status error(std::string_view what) const { return impl_->error(what); }

    // REQUIRES: the last step() returned Step::row.
    [[nodiscard]] bool column_is_null(int index) const { return impl_->column_is_null(index); }
    [[nodiscard]] std::int64_t column_int(int index) const { return impl_->column_int(index); }
    // Text as stored; an integer column as its decimal digits; "" for NULL.
    [[nodiscard]] std::string column_text(int index) const { return impl_->column_text(index); }
    [[nodiscard]] std::optional<std::int64_t> column_optional_int(int index) const;
    [[nodiscard]] std::optional<std::string> column_optional_text(int index) const;

private:
    std::unique_ptr<StatementImpl> impl_;
};

enum class Begin {
    deferred,   // reads, or writes that take their locks as they go
    immediate,  // SQLite: the write lock now. PostgreSQL: a plain BEGIN (rows lock as written)
};

class Connection {
public:
    Connection() = default;
    virtual ~Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection(Connection&&) = delete;
    Connection& operator=(Connection&&) = delete;
    [[nodiscard]] virtual Dialect dialect() const = 0;
    virtual Result<Statement> prepare(std::string_view sql) = 0;
    // Prepares (cached) and runs a statement without parameters or rows: SAVEPOINT, RELEASE.
    Status run(std::string_view sql);
    // Several statements without parameters at once (schema scripts).
    virtual Status run_script(const std::string& sql) = 0;
    // Rows changed by the last INSERT, UPDATE or DELETE.
    [[nodiscard]] virtual std::int64_t changes() const = 0;
    [[nodiscard]] virtual bool in_transaction() const = 0;
    // True once the connection is lost (PostgreSQL); a pool then drops it.
    [[nodiscard]] virtual bool broken() const = 0;

    virtual Status begin(Begin mode) = 0;
    // ok; io_error: nothing committed; unknown_outcome: it may have been. Either failure: the
    // caller rolls back.
    virtual Status commit() = 0;
    virtual Status rollback() = 0;
};

// Runs `body` (returning Status) between begin(mode) and commit(); rolls back when either
// fails. Returns the status of begin, of the body, or of commit.
template <class Body>
Status in_transaction(Connection& connection, Begin mode, Body body) {
    if (Status begun = connection.begin(mode); !begun.ok()) {
        return begun;
    }
    Status done = body();
    if (done.ok()) {
        done = connection.commit();
    }
    if (!done.ok()) {
        (void)connection.rollback();
    }
    return done;
}

// True for a libpq URL ("postgresql://" or "postgres://"); anything else is a SQLite path.
bool is_postgres_url(std::string_view location);

// Opens a connection to one database: a SQLite file or a PostgreSQL server.
using Opener = std::function<Result<std::unique_ptr<Connection>>()>;

// Read-write: `path` created when missing, WAL; `durable` false means synchronous=NORMAL (for
// stores rebuilt from a durable source), true synchronous=FULL.
Opener sqlite_opener(std::string path,
                     bool read_only,
                     bool durable,
                     std::chrono::milliseconds lock_wait_max);
// `url`: a libpq URL. Writes are durable as the server's synchronous_commit says.
Opener postgres_opener(std::string url, std::chrono::milliseconds connect_timeout);

// BoundedPool (base/bounded_pool.h) of connections from one Opener. A lost connection is
// closed when given back; a PostgreSQL connection idle for liveness_check_after or longer is
// checked (SELECT 1) before it is lent, so one that died with its server meanwhile is replaced
// instead of failing a read.
class Pool : public BoundedPool<Connection> {
public:
    static constexpr std::chrono::milliseconds liveness_check_after_default{1'000};

    Pool(Opener opener,
         std::size_t connections_max,
         std::chrono::milliseconds wait_max,
         std::chrono::milliseconds liveness_check_after = liveness_check_after_default);
};

}  // namespace qrpay::sql
