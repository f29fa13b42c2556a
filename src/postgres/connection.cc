#include "postgres/connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>

namespace qrpay::postgres {

namespace {

// pg_type OIDs of the parameter types Params builds.
constexpr unsigned oid_bytea = 17;
constexpr unsigned oid_int8 = 20;
constexpr unsigned oid_int2 = 21;
constexpr unsigned oid_int4 = 23;
constexpr unsigned oid_text = 25;

constexpr int binary_format = 1;
constexpr const char* sqlstate_unique_violation = "23505";
constexpr const char* sqlstate_read_only_sql_transaction = "25006";
constexpr const char* sqlstate_serialization_failure = "40001";
constexpr const char* sqlstate_deadlock_detected = "40P01";
// Class 22: a value out of range, a bad number or date, a division by zero.
constexpr const char* sqlstate_class_data_exception = "22";

std::string big_endian_bytes(std::int64_t value) {
    auto bits = static_cast<std::uint64_t>(value);
    if constexpr (std::endian::native == std::endian::little) {
        bits = __builtin_bswap64(bits);
    }
    std::string bytes(sizeof bits, '\0');
    std::memcpy(bytes.data(), &bits, sizeof bits);
    return bytes;
}

template <class Int>
Int from_big_endian(const char* bytes) {
    Int value{};
    std::memcpy(&value, bytes, sizeof value);
    if constexpr (std::endian::native == std::endian::little && sizeof(Int) == 8) {
        value = static_cast<Int>(__builtin_bswap64(static_cast<std::uint64_t>(value)));
    } else if constexpr (std::endian::native == std::endian::little && sizeof(Int) == 4) {
        value = static_cast<Int>(__builtin_bswap32(static_cast<std::uint32_t>(value)));
    } else if constexpr (std::endian::native == std::endian::little && sizeof(Int) == 2) {
        value = static_cast<Int>(__builtin_bswap16(static_cast<std::uint16_t>(value)));
    }
    return value;
}

std::string trimmed(const char* message) {
    std::string text = message == nullptr ? "" : message;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    return text;
}

}  // namespace

// ---- Params

Params& Params::add_int(std::int64_t value) {
    values_.push_back({oid_int8, big_endian_bytes(value)});
    return *this;
}

Params& Params::add_text(std::string_view value) {
    values_.push_back({oid_text, std::string(value)});
    return *this;
}

Params& Params::add_bytes(std::string_view value) {
    values_.push_back({oid_bytea, std::string(value)});
    return *this;
}

Params& Params::add_null() {
    values_.push_back({0, std::nullopt});
    return *this;
}

Params::Raw Params::raw() const {
    Raw raw;
    for (const Value& value : values_) {
        raw.types.push_back(value.type);
        raw.values.push_back(value.bytes ? value.bytes->data() : nullptr);
        raw.lengths.push_back(value.bytes ? static_cast<int>(value.bytes->size()) : 0);
        raw.formats.push_back(binary_format);
    }
    return raw;
}

// ---- Rows

Rows::~Rows() {
    if (result_ != nullptr) {
        PQclear(result_);
    }
}

Rows::Rows(Rows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

Rows& Rows::operator=(Rows&& other) noexcept {
    if (this != &other) {
        if (result_ != nullptr) {
            PQclear(result_);
        }
        result_ = std::exchange(other.result_, nullptr);
    }
    return *this;
}

int Rows::count() const { return result_ == nullptr ? 0 : PQntuples(result_); }

std::int64_t Rows::changed() const {
    const char* tuples = result_ == nullptr ? "" : PQcmdTuples(result_);
    return *tuples == '\0' ? 0 : std::stoll(tuples);
}

bool Rows::is_null(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::int64_t Rows::int_at(int row, int column) const {
    QRPAY_ASSERT(!is_null(row, column), "int_at() of a NULL");
    const char* bytes = PQgetvalue(result_, row, column);
    switch (PQftype(result_, column)) {
        case oid_int8:
            return from_big_endian<std::int64_t>(bytes);
        case oid_int4:
            return from_big_endian<std::int32_t>(bytes);
        case oid_int2:
            return from_big_endian<std::int16_t>(bytes);
        default:
            QRPAY_ASSERT(false, "int_at() of a column that is not an integer");
            return 0;
    }
}

std::string Rows::bytes_at(int row, int column) const {
    if (is_null(row, column)) {
        return {};
    }
    return {PQgetvalue(result_, row, column),
            static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::optional<std::int64_t> Rows::optional_int_at(int row, int column) const {
    if (is_null(row, column)) {
        return std::nullopt;
    }
    return int_at(row, column);
}

std::string Rows::text_at(int row, int column) const {
    if (is_null(row, column)) {
        return {};
    }
    const unsigned type = PQftype(result_, column);
    if (type == oid_int8 || type == oid_int4 || type == oid_int2) {
        return std::to_string(int_at(row, column));
    }
    return bytes_at(row, column);
}

std::string Rows::command() const { return result_ == nullptr ? "" : PQcmdStatus(result_); }

// ---- Connection

Result<std::unique_ptr<Connection>> Connection::open(const std::string& url,
                                                     const ConnectOptions& options) {
    char* parse_error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &parse_error);
    if (parsed == nullptr) {
        std::string message = parse_error != nullptr ? trimmed(parse_error) : "out of memory";
        PQfreemem(parse_error);
        return Status{Errc::invalid_argument, "postgres: bad connection URL: " + message};
    }
    PQconninfoFree(parsed);
    const auto timeout_s = std::max<long long>(
        1, std::chrono::ceil<std::chrono::seconds>(options.connect_timeout).count());
    const std::string timeout = std::to_string(timeout_s);
    // expand_dbname: `url` may be a URL or key=value pairs. Later keywords override earlier
    // ones, so with `url` last its own settings win over these defaults.
    const std::array<const char*, 4> keys = {"connect_timeout", "application_name", "dbname",
                                             nullptr};
    const std::array<const char*, 4> values = {timeout.c_str(), options.application_name.c_str(),
                                               url.c_str(), nullptr};
    pg_conn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
    if (conn == nullptr) {
        return Status{Errc::unavailable, "postgres: out of memory while connecting"};
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        std::string message = trimmed(PQerrorMessage(conn));
        PQfinish(conn);
        return Status{Errc::unavailable, "postgres: cannot connect: " + message};
    }
    std::unique_ptr<Connection> connection(new Connection(conn));
    if (options.statement_timeout.count() > 0) {
        Status set = connection->run_script("SET statement_timeout = " +
                                            std::to_string(options.statement_timeout.count()));
        if (!set.ok()) {
            return set;
        }
    }
    return connection;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::broken() const { return server_read_only_ || PQstatus(conn_) != CONNECTION_OK; }

bool Connection::in_transaction() const {
    const PGTransactionStatusType status = PQtransactionStatus(conn_);
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

Status Connection::lost(std::string_view what) {
    if (server_read_only_) {
        return {Errc::unavailable,
                "postgres: " + std::string(what) + " not run: the server turned out read-only"};
    }
    return {Errc::unavailable, "postgres: connection lost during " + std::string(what) + ": " +
                                   trimmed(PQerrorMessage(conn_))};
}

Result<Rows> Connection::take_result(pg_result* result, std::string_view what) {
    Rows rows(result);  // frees the result on every path
    const ExecStatusType status = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        sqlstate_.clear();
        return rows;
    }
    if (broken()) {
        sqlstate_.clear();
        return lost(what);
    }
    if (status == PGRES_PIPELINE_ABORTED) {
        sqlstate_.clear();
        return Status{Errc::io_error, "postgres: " + std::string(what) +
                                          " skipped: an earlier statement of its batch failed"};
    }
    const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
    sqlstate_ = state == nullptr ? "" : state;
    std::string message =
        trimmed(result == nullptr ? PQerrorMessage(conn_) : PQresultErrorMessage(result));
    if (sqlstate_ == sqlstate_read_only_sql_transaction) {
        server_read_only_ = true;
        return Status{Errc::unavailable, "postgres: " + std::string(what) +
                                             " refused: the server is read-only (" + message +
                                             "); this connection is dropped"};
    }
    Errc code = Errc::io_error;
    if (sqlstate_ == sqlstate_unique_violation) {
        code = Errc::conflict;
    } else if (sqlstate_ == sqlstate_deadlock_detected ||
               sqlstate_ == sqlstate_serialization_failure) {
        code = Errc::aborted;
    } else if (sqlstate_.starts_with(sqlstate_class_data_exception)) {
        code = Errc::invalid_argument;
    }
    return Status{code,
                  "postgres: " + std::string(what) + " failed (" + sqlstate_ + "): " + message};
}

Result<std::string> Connection::prepared_name(std::string_view sql, const Params& params) {
    if (auto found = prepared_.find(std::string(sql)); found != prepared_.end()) {
        return found->second;
    }
    if (prepared_.size() >= statements_prepared_max) {
        if (Status dropped = run_script("DEALLOCATE ALL"); !dropped.ok()) {
            return dropped;
        }
        prepared_.clear();
    }
    std::string name = "s" + std::to_string(++statements_named_);
    const Params::Raw raw = params.raw();
    const std::string text(sql);
    Result<Rows> prepared = take_result(
        PQprepare(conn_, name.c_str(), text.c_str(), params.size(), raw.types.data()), text);
    if (!prepared.ok()) {
        return prepared.status();
    }
    prepared_.emplace(text, name);
    return name;
}

Result<Rows> Connection::query(std::string_view sql, const Params& params) {
    if (broken()) {
        return lost(sql);
    }
    Result<std::string> name = prepared_name(sql, params);
    if (!name.ok()) {
        return name.status();
    }
    const Params::Raw raw = params.raw();
    return take_result(PQexecPrepared(conn_, name->c_str(), params.size(), raw.values.data(),
                                      raw.lengths.data(), raw.formats.data(), binary_format),
                       sql);
}

Status Connection::run(std::string_view sql, const Params& params) {
    return query(sql, params).status();
}

Status Connection::run_script(const std::string& sql) {
    if (broken()) {
        return lost(sql);
    }
    return take_result(PQexec(conn_, sql.c_str()), sql).status();
}

// ---- Pipeline

void Connection::Pipeline::add(std::string_view sql, Params params) {
    statements_.push_back({std::string(sql), std::move(params)});
}

Result<std::vector<Result<Rows>>> Connection::Pipeline::finish() {
    Connection& c = connection_;
    if (c.broken()) {
        return c.lost("a batch");
    }
    // New statements are prepared first, each in its own round trip (once per connection);
    // room is made before, so that no name taken here is deallocated by a later one.
    if (c.prepared_.size() + statements_.size() > statements_prepared_max) {
        if (Status dropped = c.run_script("DEALLOCATE ALL"); !dropped.ok()) {
            return dropped;
        }
        c.prepared_.clear();
    }
    std::vector<std::string> names;
    names.reserve(statements_.size());
    for (const Statement& statement : statements_) {
        Result<std::string> name = c.prepared_name(statement.sql, statement.params);
        if (!name.ok()) {
            return name.status();
        }
        names.push_back(std::move(*name));
    }
    if (PQenterPipelineMode(c.conn_) != 1) {
        return c.lost("entering pipeline mode");
    }
    // libpq sends as its buffer fills and reads the server's answers meanwhile, so a long
    // batch cannot deadlock on full socket buffers.
    for (std::size_t i = 0; i < statements_.size(); ++i) {
        const Params::Raw raw = statements_[i].params.raw();
        if (PQsendQueryPrepared(c.conn_, names[i].c_str(), statements_[i].params.size(),
                                raw.values.data(), raw.lengths.data(), raw.formats.data(),
                                binary_format) != 1) {
            return c.lost("sending a batch");
        }
    }
    if (PQpipelineSync(c.conn_) != 1) {
        return c.lost("sending a batch");
    }
    std::vector<Result<Rows>> answers;
    answers.reserve(statements_.size());
    for (const Statement& statement : statements_) {
        pg_result* result = PQgetResult(c.conn_);
        if (result == nullptr || c.broken()) {
            if (result != nullptr) {
                PQclear(result);
            }
            return c.lost("a batch");
        }
        answers.push_back(c.take_result(result, statement.sql));
        // Each statement's results end with a null.
        while (pg_result* extra = PQgetResult(c.conn_)) {
            PQclear(extra);
        }
    }
    pg_result* sync = PQgetResult(c.conn_);
    const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    if (sync != nullptr) {
        PQclear(sync);
    }
    if (!synced || PQexitPipelineMode(c.conn_) != 1) {
        return c.lost("finishing a batch");
    }
    statements_.clear();
    return answers;
}

}  // namespace qrpay::postgres
