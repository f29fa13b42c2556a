// The storage ceiling of issue 12: the PostgreSQL journal against raw inserts of the same rows
// into the same table, in one binary so both sides run against the same server, minutes apart
// at most:
//
//   BM_PgJournalAppend/entities/events
//                          the PostgreSQL journal's durable append rate: `entities` entities
//                          each keep one conditional append (expected sequence, fencing token,
//                          one event) in flight until `events` are durable; group commit does
//                          the batching (one writer connection). A fresh database per run.
//   BM_PgRawInsert/<how>/batch_rows/.../events
//                          the ceiling: raw inserts of the same rows into the same `events`
//                          table (pg_schema.h's events_table_sql: primary key and shard-order
//                          index) with the same durability (fsync=on, synchronous_commit=on:
//                          one WAL flush per commit), `batch_rows` per transaction, from ONE
//                          connection (as the journal's writer) with nothing else to do:
//       pipeline           one single-row INSERT per row, the whole batch in one pipeline
//                          (Connection::Pipeline), one round trip per batch;
//       multirow           INSERT ... VALUES with `rows_per_statement` rows per statement, the
//                          batch's statements in one pipeline;
//       unnest             one INSERT ... SELECT FROM unnest() of seven arrays (binary
//                          parameters) per batch;
//       copy               COPY ... FROM STDIN in binary format, one COPY per batch.
//                          unnest and copy call libpq directly (the postgres layer has neither
//                          array parameters nor COPY), as journal_bench's raw side calls SQLite
//                          directly. The rows are those of 1024 entities appending round-robin,
//                          as journal_bench's; 16 384 entities measured the same (by hand).
//
// Every side reports events_per_s (durable events per second of wall time); bench/run divides
// the journal's best by the best raw configuration. The server is a TestServer (this process's
// child; fsync=on, synchronous_commit=on) unless `--url postgresql://...` names one; either way
// each run gets a database of its own, dropped afterwards. `--events N` sets the events per run
// (default 100 000); `--tiny` runs each once at a tiny size (make test).

#include <benchmark/benchmark.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "journal/journal.h"
#include "journal/postgres/pg_journal.h"
#include "journal/postgres/pg_schema.h"
#include "postgres/connection.h"
#include "postgres/testing/test_server.h"

namespace {

using qrpay::Errc;
using qrpay::FencingToken;
using qrpay::Result;
using qrpay::SequenceNr;
using qrpay::ShardId;
using qrpay::Status;
using qrpay::UnixMs;
using qrpay::journal::AppendRequest;
using qrpay::journal::EventData;
using qrpay::postgres::Connection;
using qrpay::postgres::Params;
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint32_t shard_count = 64;  // as `qrpay serve` by default
constexpr std::int64_t written_at_unix_ms = 1'700'000'000'000;
constexpr const char* event_type = "UseStarted";

// The bytes of one event, the size of a Token's UseStarted (domain/token/token_codec.cc); the
// same as journal_bench's.
const std::string& event_payload() {
    static const std::string payload =
        R"({"v":1,"transaction_id":"tx_00112233445566778899aabbccddeeff",)"
        R"("expires_at":1700000300000,"at":1700000000000})";
    return payload;
}

std::string persistence_id(std::size_t entity) { return "token|bench-" + std::to_string(entity); }

double seconds_since(SteadyClock::time_point start) {
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// ---- the server and a database per run ---------------------------------------------------

// Where the databases come from: the TestServer main() started, or the server of --url (whose
// user may create databases).
class Databases {
public:
    static Databases& instance() {
        static Databases databases;
        return databases;
    }
    Status start(const std::string& url) {
        if (!url.empty()) {
            admin_url_ = url;
            return {};
        }
        Result<std::unique_ptr<qrpay::postgres::testing::TestServer>> started =
            qrpay::postgres::testing::TestServer::start();
        if (!started.ok()) {
            return started.status();
        }
        server_ = std::move(started).value();
        return {};
    }
    // A new, empty database; its URL.
    Result<std::string> create() {
        const std::string name = database_name(++created_);
        if (server_ != nullptr) {
            Status created = server_->create_database(name);
            return created.ok() ? Result<std::string>(server_->url(name)) : created;
        }
        Status created = admin("CREATE DATABASE " + name);
        return created.ok() ? Result<std::string>(url_of(name)) : created;
    }
    // Drops the database create() made last (its connections closed first).
    void drop_last() {
        const std::string name = database_name(created_);
        (void)(server_ != nullptr ? server_->drop_database(name)
                                  : admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"));
    }

private:
    static std::string database_name(std::uint64_t number) {
        return "qrpay_bench_" + std::to_string(::getpid()) + "_" + std::to_string(number);
    }
    Status admin(const std::string& sql) const {
        Result<std::unique_ptr<Connection>> connection = Connection::open(admin_url_);
        return connection.ok() ? (*connection)->run_script(sql) : connection.status();
    }
    // --url with its database replaced by `name`: the path after the host, before any query.
    std::string url_of(const std::string& name) const {
        const std::size_t authority = admin_url_.find("://");
        const std::size_t host = authority == std::string::npos ? 0 : authority + 3;
        const std::size_t query = std::min(admin_url_.find('?', host), admin_url_.size());
        const std::size_t path = std::min(admin_url_.find('/', host), query);
        return admin_url_.substr(0, path) + "/" + name + admin_url_.substr(query);
    }

    std::unique_ptr<qrpay::postgres::testing::TestServer> server_;
    std::string admin_url_;
    std::uint64_t created_ = 0;
};

// Whether `url`'s events table holds `events` rows: a run that lost rows is no measurement.
Status check_row_count(const std::string& url, std::uint64_t events) {
    Result<std::unique_ptr<Connection>> db = Connection::open(url);
    if (!db.ok()) {
        return db.status();
    }
    Result<qrpay::postgres::Rows> rows = (*db)->query("SELECT count(*) FROM events");
    if (!rows.ok()) {
        return rows.status();
    }
    if (static_cast<std::uint64_t>(rows->int_at(0, 0)) != events) {
        return {Errc::corruption, "the events table holds " + std::to_string(rows->int_at(0, 0)) +
                                      " rows, not " + std::to_string(events)};
    }
    return {};
}

// A fresh database for one run, dropped at the end of the run.
class RunDatabase {
public:
    RunDatabase() : url_(Databases::instance().create()) {}
    ~RunDatabase() {
        if (url_.ok()) {
            Databases::instance().drop_last();
        }
    }
    RunDatabase(const RunDatabase&) = delete;
    RunDatabase& operator=(const RunDatabase&) = delete;
    const Result<std::string>& url() const { return url_; }

private:
    Result<std::string> url_;
};

// ---- the journal -------------------------------------------------------------------------

// Keeps one append per entity in flight until `events_total` are durable (as journal_bench's
// driver). Completions come back on the journal's writer thread; this thread resubmits (a
// callback must not block).
class AppendDriver {
public:
    AppendDriver(qrpay::journal::Journal& journal, std::size_t entities)
        : journal_(journal), next_seq_(entities, SequenceNr(0)) {
        for (std::size_t entity = 0; entity < entities; ++entity) {
            ids_.push_back(persistence_id(entity));
        }
    }

    // The seconds it took, or the first append's failure (a broken benchmark).
    Result<double> run(std::uint64_t events_total) {
        const auto start = SteadyClock::now();
        std::uint64_t issued = 0;
        std::uint64_t finished = 0;
        for (std::size_t entity = 0; entity < next_seq_.size() && issued < events_total;
             ++entity, ++issued) {
            submit(entity);
        }
        std::vector<std::size_t> ready;
        while (finished < events_total) {
            {
                std::unique_lock lock(mutex_);
                if (!changed_.wait_for(lock, std::chrono::seconds(60),
                                       [this] { return !ready_.empty() || !failure_.ok(); })) {
                    return Status(Errc::timeout, "no append finished within 60 s");
                }
                if (!failure_.ok()) {
                    return failure_;
                }
                ready.swap(ready_);
            }
            for (std::size_t entity : ready) {
                ++finished;
                if (issued < events_total) {
                    submit(entity);
                    ++issued;
                }
            }
            ready.clear();
        }
        return seconds_since(start);
    }

private:
    void submit(std::size_t entity) {
        AppendRequest request;
        request.shard = ShardId(static_cast<std::uint32_t>(entity % shard_count));
        request.fencing = FencingToken(1);
        request.persistence_id = ids_[entity];
        request.expected_seq = next_seq_[entity];
        request.events.push_back(EventData{event_type, event_payload()});
        request.written_at = UnixMs{written_at_unix_ms};
        next_seq_[entity] = next_seq_[entity].next();
        journal_.append(std::move(request), [this, entity](const Status& status) {
            std::lock_guard lock(mutex_);
            if (!status.ok() && failure_.ok()) {
                failure_ = status;
            }
            // One wake-up per batch of completions: the driver takes all that are ready.
            if (ready_.empty()) {
                changed_.notify_one();
            }
            ready_.push_back(entity);
        });
    }

    qrpay::journal::Journal& journal_;
    std::vector<std::string> ids_;
    std::vector<SequenceNr> next_seq_;  // touched by the driving thread only
    std::mutex mutex_;                  // guards ready_ and failure_ (writer thread -> driver)
    std::condition_variable changed_;
    std::vector<std::size_t> ready_;
    Status failure_;
};

void BM_PgJournalAppend(benchmark::State& state) {
    const auto entities = static_cast<std::size_t>(state.range(0));
    const auto events = static_cast<std::uint64_t>(state.range(1));
    std::uint64_t commits = 0;
    std::uint64_t retried = 0;
    for (auto _ : state) {
        RunDatabase database;
        if (!database.url().ok()) {
            state.SkipWithError(database.url().status().to_string().c_str());
            return;
        }
        auto journal = qrpay::journal::open_pg_journal({.url = *database.url()});
        if (!journal.ok()) {
            state.SkipWithError(journal.status().to_string().c_str());
            return;
        }
        for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
            if (!(*journal)->claim_shard(ShardId(shard), FencingToken(1)).ok()) {
                state.SkipWithError("claim_shard failed");
                return;
            }
        }
        const auto before = qrpay::journal::pg_journal_stats(**journal);
        AppendDriver driver(**journal, entities);
        Result<double> seconds = driver.run(events);
        if (!seconds.ok()) {
            state.SkipWithError(seconds.status().to_string().c_str());
            return;
        }
        state.SetIterationTime(*seconds);
        if (Status stored = check_row_count(*database.url(), events); !stored.ok()) {
            state.SkipWithError(stored.to_string().c_str());
            return;
        }
        const auto after = qrpay::journal::pg_journal_stats(**journal);
        commits += after.commits - before.commits;
        retried += after.groups_retried_isolated - before.groups_retried_isolated;
    }
    const auto total = static_cast<double>(events * static_cast<std::uint64_t>(state.iterations()));
    state.counters["events_per_s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
    state.counters["events_per_commit"] =
        total / static_cast<double>(std::max<std::uint64_t>(1, commits));
    // Groups the writer had to run again one write per transaction: 0 unless a write failed.
    state.counters["groups_retried"] = static_cast<double>(retried);
}

// ---- raw inserts -------------------------------------------------------------------------

// One row as the journal writes it.
struct Row {
    const std::string* persistence_id;
    std::int64_t seq;
    std::int64_t shard;
    std::int64_t shard_offset;
};

// The rows the journal would write for `entities` entities appending round-robin: row r is
// event r / entities + 1 of entity r % entities, at the next offset of the entity's shard.
class RowSource {
public:
    explicit RowSource(std::size_t entities) : shard_offset_(shard_count, 0) {
        for (std::size_t entity = 0; entity < entities; ++entity) {
            ids_.push_back(persistence_id(entity));
        }
    }
    Row next() {
        const std::size_t entity = row_ % ids_.size();
        const std::size_t shard = entity % shard_count;
        const auto seq = static_cast<std::int64_t>(row_ / ids_.size() + 1);
        ++row_;
        return {&ids_[entity], seq, static_cast<std::int64_t>(shard), ++shard_offset_[shard]};
    }

private:
    std::vector<std::string> ids_;
    std::vector<std::int64_t> shard_offset_;
    std::uint64_t row_ = 0;
};

constexpr const char* insert_head =
    "INSERT INTO events (persistence_id, seq, shard, shard_offset, type, payload, "
    "written_at_unix_ms) VALUES ";
constexpr int columns = 7;

void add_row(Params& params, const Row& row) {
    params.add_text(*row.persistence_id)
        .add_int(row.seq)
        .add_int(row.shard)
        .add_int(row.shard_offset)
        .add_text(event_type)
        .add_bytes(event_payload())
        .add_int(written_at_unix_ms);
}

// "INSERT ... VALUES ($1, ..., $7), ($8, ...)" with `rows` rows.
std::string multirow_insert_sql(std::size_t rows) {
    std::string sql = insert_head;
    int param = 0;
    for (std::size_t row = 0; row < rows; ++row) {
        sql += row == 0 ? "(" : ", (";
        for (int column = 0; column < columns; ++column) {
            sql += (column == 0 ? "$" : ", $") + std::to_string(++param);
        }
        sql += ")";
    }
    return sql;
}

// A pipeline's answers, or its first failure.
Status all_ok(const Result<std::vector<Result<qrpay::postgres::Rows>>>& answers) {
    if (!answers.ok()) {
        return answers.status();
    }
    for (const auto& answer : *answers) {
        if (!answer.ok()) {
            return answer.status();
        }
    }
    return {};
}

// One batch as one pipeline of INSERTs, `rows_per_statement` rows each. No BEGIN and COMMIT:
// a pipeline's statements up to its sync point are one implicit transaction, one commit.
Status insert_batch(Connection& db,
                    RowSource& rows,
                    std::uint64_t batch_rows,
                    std::size_t rows_per_statement) {
    Connection::Pipeline batch(db);
    for (std::uint64_t done = 0; done < batch_rows;) {
        const std::size_t in_statement =
            std::min<std::uint64_t>(rows_per_statement, batch_rows - done);
        Params params;
        for (std::size_t i = 0; i < in_statement; ++i) {
            add_row(params, rows.next());
        }
        batch.add(multirow_insert_sql(in_statement), std::move(params));
        done += in_statement;
    }
    return all_ok(batch.finish());
}

// ---- COPY and arrays (libpq directly) ------------------------------------------------------

// Network byte order (x86 and ARM Linux are little-endian; so is every machine qrpay runs on).
void put_int16(std::string& out, std::int16_t value) {
    const auto bits = __builtin_bswap16(static_cast<std::uint16_t>(value));
    out.append(reinterpret_cast<const char*>(&bits), sizeof bits);
}

void put_int32(std::string& out, std::int32_t value) {
    const auto bits = __builtin_bswap32(static_cast<std::uint32_t>(value));
    out.append(reinterpret_cast<const char*>(&bits), sizeof bits);
}

void put_field(std::string& out, std::string_view bytes) {
    put_int32(out, static_cast<std::int32_t>(bytes.size()));
    out.append(bytes);
}

void put_field(std::string& out, std::int64_t value) {
    const auto bits = __builtin_bswap64(static_cast<std::uint64_t>(value));
    put_int32(out, sizeof bits);
    out.append(reinterpret_cast<const char*>(&bits), sizeof bits);
}

// COPY's binary format: a header, per row the field count and each field's length and bytes
// (bigint in network order, text and bytea as they are), then -1.
std::string copy_data(RowSource& rows, std::uint64_t batch_rows) {
    static constexpr char signature[] = "PGCOPY\n\377\r\n";
    std::string out(signature, sizeof signature);  // with its trailing \0, part of it
    put_int32(out, 0);                             // flags
    put_int32(out, 0);                             // header extension length
    for (std::uint64_t i = 0; i < batch_rows; ++i) {
        const Row row = rows.next();
        put_int16(out, columns);
        put_field(out, *row.persistence_id);
        put_field(out, row.seq);
        put_field(out, row.shard);
        put_field(out, row.shard_offset);
        put_field(out, event_type);
        put_field(out, event_payload());
        put_field(out, written_at_unix_ms);
    }
    put_int16(out, -1);
    return out;
}

// pg_type OIDs of the arrays' elements and of the arrays.
constexpr Oid oid_bytea = 17;
constexpr Oid oid_int8 = 20;
constexpr Oid oid_text = 25;
constexpr Oid oid_bytea_array = 1001;
constexpr Oid oid_text_array = 1009;
constexpr Oid oid_int8_array = 1016;

// A one-dimensional array without NULLs in binary format: dimensions, flags, element type,
// length and lower bound, then each element's length and bytes. `put` writes one element.
template <class Put>
std::string binary_array(Oid element, std::size_t count, Put put) {
    std::string out;
    put_int32(out, 1);  // dimensions
    put_int32(out, 0);  // no NULLs
    put_int32(out, static_cast<std::int32_t>(element));
    put_int32(out, static_cast<std::int32_t>(count));
    put_int32(out, 1);  // lower bound
    for (std::size_t i = 0; i < count; ++i) {
        put(out, i);
    }
    return out;
}

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;

Status pq_failure(PGconn* conn, const char* what) {
    return {Errc::io_error, std::string(what) + ": " + PQerrorMessage(conn)};
}

// One batch as one COPY, outside a transaction block: its own transaction, one commit.
Status copy_batch(PGconn* conn, RowSource& rows, std::uint64_t batch_rows) {
    static constexpr const char* sql =
        "COPY events (persistence_id, seq, shard, shard_offset, type, payload, "
        "written_at_unix_ms) FROM STDIN (FORMAT binary)";
    std::unique_ptr<PGresult, decltype(&PQclear)> started(PQexec(conn, sql), &PQclear);
    if (PQresultStatus(started.get()) != PGRES_COPY_IN) {
        return pq_failure(conn, "COPY");
    }
    const std::string data = copy_data(rows, batch_rows);
    if (PQputCopyData(conn, data.data(), static_cast<int>(data.size())) != 1 ||
        PQputCopyEnd(conn, nullptr) != 1) {
        return pq_failure(conn, "COPY data");
    }
    Status ended;
    while (PGresult* result = PQgetResult(conn)) {
        if (PQresultStatus(result) != PGRES_COMMAND_OK && ended.ok()) {
            ended = pq_failure(conn, "COPY end");
        }
        PQclear(result);
    }
    return ended;
}

// One batch as one INSERT ... SELECT FROM unnest() of seven arrays (binary parameters), outside
// a transaction block: one statement, one commit.
Status unnest_batch(PGconn* conn, RowSource& rows, std::uint64_t batch_rows) {
    static constexpr const char* sql =
        "INSERT INTO events (persistence_id, seq, shard, shard_offset, type, payload, "
        "written_at_unix_ms) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], "
        "$4::bigint[], $5::text[], $6::bytea[], $7::bigint[])";
    std::vector<Row> batch;
    for (std::uint64_t i = 0; i < batch_rows; ++i) {
        batch.push_back(rows.next());
    }
    const auto ints = [&](auto field) {
        return binary_array(oid_int8, batch.size(), [&](std::string& out, std::size_t i) {
            put_field(out, field(batch[i]));
        });
    };
    const auto bytes = [&](Oid element, auto field) {
        return binary_array(element, batch.size(), [&](std::string& out, std::size_t i) {
            put_field(out, std::string_view(field(batch[i])));
        });
    };
    const std::string arrays[columns] = {
        bytes(oid_text, [](const Row& row) -> const std::string& { return *row.persistence_id; }),
        ints([](const Row& row) { return row.seq; }),
        ints([](const Row& row) { return row.shard; }),
        ints([](const Row& row) { return row.shard_offset; }),
        bytes(oid_text, [](const Row&) { return event_type; }),
        bytes(oid_bytea, [](const Row&) -> const std::string& { return event_payload(); }),
        ints([](const Row&) { return written_at_unix_ms; }),
    };
    const Oid types[columns] = {oid_text_array, oid_int8_array,  oid_int8_array, oid_int8_array,
                                oid_text_array, oid_bytea_array, oid_int8_array};
    const char* values[columns];
    int lengths[columns];
    int formats[columns];
    for (int i = 0; i < columns; ++i) {
        values[i] = arrays[i].data();
        lengths[i] = static_cast<int>(arrays[i].size());
        formats[i] = 1;
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> result(
        PQexecParams(conn, sql, columns, types, values, lengths, formats, 1), &PQclear);
    return PQresultStatus(result.get()) == PGRES_COMMAND_OK ? Status()
                                                            : pq_failure(conn, "INSERT unnest");
}

// ---- the raw benchmarks ------------------------------------------------------------------

// How a raw run inserts its rows.
enum class RawMethod { pipeline, multirow, unnest, copy };

// Inserts `events` rows, `batch_rows` per transaction, into the empty events table `db` and
// `url` reach. The seconds it took.
Result<double> insert_raw(RawMethod method,
                          const std::string& url,
                          Connection& db,
                          std::uint64_t events,
                          std::uint64_t batch_rows,
                          std::size_t rows_per_statement) {
    RowSource rows(1024);
    if (method == RawMethod::copy || method == RawMethod::unnest) {
        PgConn conn(PQconnectdb(url.c_str()), &PQfinish);
        if (PQstatus(conn.get()) != CONNECTION_OK) {
            return pq_failure(conn.get(), "connect");
        }
        const auto batch = method == RawMethod::copy ? copy_batch : unnest_batch;
        const auto start = SteadyClock::now();
        for (std::uint64_t done = 0; done < events; done += batch_rows) {
            if (Status stored = batch(conn.get(), rows, std::min(batch_rows, events - done));
                !stored.ok()) {
                return stored;
            }
        }
        return seconds_since(start);
    }
    const auto start = SteadyClock::now();
    for (std::uint64_t done = 0; done < events; done += batch_rows) {
        if (Status inserted =
                insert_batch(db, rows, std::min(batch_rows, events - done), rows_per_statement);
            !inserted.ok()) {
            return inserted;
        }
    }
    return seconds_since(start);
}

// A fresh database with the journal's events table, and insert_raw() into it. The table is
// made before the clock starts; the rows are counted after it stopped.
Result<double> run_raw(RawMethod method,
                       std::uint64_t events,
                       std::uint64_t batch_rows,
                       std::size_t rows_per_statement) {
    RunDatabase database;
    if (!database.url().ok()) {
        return database.url().status();
    }
    Result<std::unique_ptr<Connection>> db = Connection::open(*database.url());
    if (!db.ok()) {
        return db.status();
    }
    if (Status made = (*db)->run_script(qrpay::journal::postgres::events_table_sql); !made.ok()) {
        return made;
    }
    Result<double> seconds =
        insert_raw(method, *database.url(), **db, events, batch_rows, rows_per_statement);
    if (!seconds.ok()) {
        return seconds;
    }
    Status stored = check_row_count(*database.url(), events);
    return stored.ok() ? seconds : stored;
}

// Arguments: batch_rows, [rows_per_statement,] events.
template <RawMethod method>
void BM_PgRawInsert(benchmark::State& state) {
    const auto batch_rows = static_cast<std::uint64_t>(state.range(0));
    const auto rows_per_statement =
        method == RawMethod::multirow ? static_cast<std::size_t>(state.range(1)) : 1;
    const auto events =
        static_cast<std::uint64_t>(state.range(method == RawMethod::multirow ? 2 : 1));
    for (auto _ : state) {
        Result<double> seconds = run_raw(method, events, batch_rows, rows_per_statement);
        if (!seconds.ok()) {
            state.SkipWithError(seconds.status().to_string().c_str());
            return;
        }
        state.SetIterationTime(*seconds);
    }
    const auto total = static_cast<double>(events * static_cast<std::uint64_t>(state.iterations()));
    state.counters["events_per_s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
}

void register_benchmarks(bool tiny, std::int64_t events) {
    const std::int64_t iterations = tiny ? 1 : 2;
    auto* journal = benchmark::RegisterBenchmark("BM_PgJournalAppend", BM_PgJournalAppend);
    auto* pipeline = benchmark::RegisterBenchmark("BM_PgRawInsert/pipeline",
                                                  BM_PgRawInsert<RawMethod::pipeline>);
    auto* multirow = benchmark::RegisterBenchmark("BM_PgRawInsert/multirow",
                                                  BM_PgRawInsert<RawMethod::multirow>);
    auto* unnest =
        benchmark::RegisterBenchmark("BM_PgRawInsert/unnest", BM_PgRawInsert<RawMethod::unnest>);
    auto* copy =
        benchmark::RegisterBenchmark("BM_PgRawInsert/copy", BM_PgRawInsert<RawMethod::copy>);
    journal->ArgNames({"entities", "events"});
    pipeline->ArgNames({"batch_rows", "events"});
    multirow->ArgNames({"batch_rows", "rows_per_statement", "events"});
    unnest->ArgNames({"batch_rows", "events"});
    copy->ArgNames({"batch_rows", "events"});
    for (auto* benchmark : {journal, pipeline, multirow, unnest, copy}) {
        benchmark->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(iterations);
    }
    if (tiny) {
        journal->Args({16, events});
        pipeline->Args({64, events});
        multirow->Args({64, 16, events});
        unnest->Args({64, events});
        copy->Args({64, events});
        return;
    }
    // The journal as the service runs it (64 entities in flight) up to groups at the journal's
    // group_events_max (4096).
    for (std::int64_t entities : {64, 1024, 4096, 16384}) {
        journal->Args({entities, events});
    }
    // Each raw method at the journal's group sizes and beyond them: the ceiling is the best.
    for (std::int64_t batch : {1024, 4096, 16384}) {
        pipeline->Args({batch, events});
        for (std::int64_t per_statement : {16, 256}) {
            multirow->Args({batch, per_statement, events});
        }
    }
    for (std::int64_t batch : {1024, 4096, 16384, 65536}) {
        unnest->Args({batch, events});
        copy->Args({batch, events});
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool tiny = false;
    std::string url;
    std::int64_t events = 0;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--tiny") == 0) {
            tiny = true;
        } else if (std::strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (std::strcmp(argv[i], "--events") == 0 && i + 1 < argc) {
            events = std::max<std::int64_t>(1, std::atoll(argv[++i]));
        } else {
            args.push_back(argv[i]);
        }
    }
    int count = static_cast<int>(args.size());
    register_benchmarks(tiny, events > 0 ? events : tiny ? 300 : 100'000);
    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) {
        return 1;
    }
    if (Status started = Databases::instance().start(url); !started.ok()) {
        std::fprintf(stderr, "pg_journal_bench: %s\n", started.to_string().c_str());
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
