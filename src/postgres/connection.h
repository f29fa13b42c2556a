#pragma once
// A PostgreSQL connection (libpq) with its prepared statements, the parameters and rows of a
// statement, and pipelines that send many statements in one round trip. No libpq header leaks
// from here.
//
// Values travel in libpq's binary format: a bigint is 8 bytes in network order, a bytea its
// raw bytes, a text its UTF-8 bytes. So nothing is escaped or parsed as text on either side.
//
// Errors (Status codes):
//   unavailable      the connection is lost (or could not be made), or its server refused a
//                    write as read-only (SQLSTATE 25006: a standby, or a primary demoted by a
//                    failover); broken() is then true and the connection must be replaced (a
//                    multi-host URL with target_session_attrs=read-write then finds the
//                    primary). Whether a COMMIT sent before the loss took effect is unknown:
//                    the caller decides what that means.
//   conflict         a unique constraint refused a row (SQLSTATE 23505)
//   aborted          the server aborted the statement to break a deadlock (40P01) or a
//                    serialization conflict (40001): nothing of it happened; run it again
//   invalid_argument a value the statement cannot take: out of range, malformed (class 22)
//   io_error         any other failure of a statement; sqlstate() says which
//
// Thread safety: none. A connection is used by one thread at a time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

struct pg_conn;
struct pg_result;

namespace qrpay::postgres {

// The parameters of one statement, $1, $2, ... in the order added. Each carries its type, so a
// prepared statement knows its parameter types without casts in the SQL.
class Params {
public:
    Params& add_int(std::int64_t value);        // bigint
    Params& add_text(std::string_view value);   // text
    Params& add_bytes(std::string_view value);  // bytea
    Params& add_null();                         // NULL of the type the statement implies

    [[nodiscard]] int size() const { return static_cast<int>(values_.size()); }

    // For libpq. REQUIRES: this Params is not changed while the pointers are in use.
    struct Raw {
        std::vector<unsigned> types;
        std::vector<const char*> values;
        std::vector<int> lengths;
        std::vector<int> formats;
    };
    [[nodiscard]] Raw raw() const;

private:
    struct Value {
        unsigned type = 0;
        std::optional<std::string> bytes;  // nullopt: NULL
    };
    std::vector<Value> values_;
};

// The rows a statement returned. Columns are 0-based; each accessor REQUIRES the column to be
// of the type it reads (bigint, integer or smallint for int_at; text or bytea for bytes_at).
class Rows {
public:
    Rows() = default;
    explicit Rows(pg_result* result) : result_(result) {}
    ~Rows();
    Rows(Rows&& other) noexcept;
    Rows& operator=(Rows&& other) noexcept;
    Rows(const Rows&) = delete;
    Rows& operator=(const Rows&) = delete;

    [[nodiscard]] int count() const;
    // Rows changed by an INSERT, UPDATE or DELETE.
    [[nodiscard]] std::int64_t changed() const;
    [[nodiscard]] bool is_null(int row, int column) const;
    [[nodiscard]] std::int64_t int_at(int row, int column) const;
    [[nodiscard]] std::string bytes_at(int row, int column) const;  // "" for NULL
    [[nodiscard]] std::optional<std::int64_t> optional_int_at(int row, int column) const;
    // An integer column as decimal digits, any other as its bytes; "" for NULL.
    [[nodiscard]] std::string text_at(int row, int column) const;
    // The command tag: "INSERT 0 1", "COMMIT", or "ROLLBACK" for a COMMIT of a failed
    // transaction.
    [[nodiscard]] std::string command() const;

private:
    pg_result* result_ = nullptr;
};

struct ConnectOptions {
    // Bounds connecting (libpq's connect_timeout, whole seconds, at least 1).
    std::chrono::milliseconds connect_timeout{5'000};
    // Bounds each statement on the server (statement_timeout); 0: none.
    std::chrono::milliseconds statement_timeout{0};
    std::string application_name = "qrpay";
};

class Connection {
public:
    // `url` is a libpq connection URL or key=value string (several hosts and
    // target_session_attrs=read-write included). unavailable when no server answers,
    // invalid_argument when libpq cannot parse it.
    static Result<std::unique_ptr<Connection>> open(const std::string& url,
                                                    const ConnectOptions& options = {});
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection(Connection&&) = delete;
    Connection& operator=(Connection&&) = delete;

    // Runs `sql` (prepared on first use, kept under its text) with `params`; its rows.
    Result<Rows> query(std::string_view sql, const Params& params = {});
    // Same, for statements whose rows the caller does not need.
    Status run(std::string_view sql, const Params& params = {});
    // Runs several statements without parameters at once (schema scripts, BEGIN, COMMIT).
    Status run_script(const std::string& sql);

    // True once the connection is lost or its server turned out read-only; every later call
    // answers unavailable.
    [[nodiscard]] bool broken() const;
    // True while a transaction is open (also a failed one, until ROLLBACK).
    [[nodiscard]] bool in_transaction() const;
    // The SQLSTATE of the last failed statement ("" when none or the connection failed).
    [[nodiscard]] const std::string& sqlstate() const { return sqlstate_; }

    static constexpr std::size_t statements_prepared_max = 256;

    // A batch of statements sent in one round trip (libpq pipeline mode). Statements after a
    // failed one are skipped by the server; a transaction the batch opened is then aborted.
    class Pipeline {
    public:
        explicit Pipeline(Connection& connection) : connection_(connection) {}
        // Queues `sql` with `params`; nothing is sent before finish().
        void add(std::string_view sql, Params params);
        [[nodiscard]] std::size_t size() const { return statements_.size(); }

        // Sends every statement with one sync point and reads every answer: answer[i] for the
        // i-th statement. Fails whole only when the connection is lost (unavailable); a failed
        // statement is its own answer (and those after it answer io_error "skipped").
        Result<std::vector<Result<Rows>>> finish();

    private:
        struct Statement {
            std::string sql;
            Params params;
        };
        Connection& connection_;
        std::vector<Statement> statements_;
    };

    // COPY ... FROM STDIN (FORMAT binary) (copy_in.cc): rows stream to the server while they
    // are written, in chunks of chunk_bytes, so the server stores the first rows while the
    // caller builds the next. For many rows, far cheaper for the server than INSERTs (no
    // statement per row or per few rows); two round trips, one to start and one to finish.
    // Not inside a Pipeline; inside a transaction the caller opened, or one of its own.
    class CopyIn {
    public:
        static constexpr std::size_t chunk_bytes = 32 << 10;

        // `copy_sql`: "COPY table (columns) FROM STDIN (FORMAT binary)". Sends it with the
        // first row (or at finish()).
        CopyIn(Connection& connection, std::string_view copy_sql);

        // A row of `columns` fields, each added next in column order.
        void begin_row(int columns);
        void add_int(std::int64_t value);        // bigint
        void add_bytes(std::string_view value);  // text or bytea

        // Sends the rest, ends the COPY and reads its answer: the rows copied, or why it
        // failed (as Connection's errors: conflict for a unique violation, unavailable when
        // the connection was lost).
        Result<std::int64_t> finish();

    private:
        Status start();
        void flush();

        Connection& connection_;
        std::string sql_;
        std::string buffer_;
        bool started_ = false;
        bool server_ended_ = false;  // sending failed: lost, or the server refused a row
        Status failed_;              // the COPY did not start; rows are dropped
    };

private:
    explicit Connection(pg_conn* conn) : conn_(conn) {}
    // The name `sql` is prepared under, preparing it first when it is new.
    Result<std::string> prepared_name(std::string_view sql, const Params& params);
    // Takes the result of one statement and turns it into Rows or the Status it failed with.
    Result<Rows> take_result(pg_result* result, std::string_view what);
    Status lost(std::string_view what);

    pg_conn* conn_;
    // SQL text -> the name it was prepared under ("s1", "s2", ...), at most
    // statements_prepared_max (beyond, every statement is deallocated and prepared anew).
    std::unordered_map<std::string, std::string> prepared_;
    std::uint64_t statements_named_ = 0;
    std::string sqlstate_;
    bool server_read_only_ = false;  // a write was refused with 25006: useless for writes
};

}  // namespace qrpay::postgres
