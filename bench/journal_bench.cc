// The storage ceiling of issue 6, in one binary so both sides run on the same disk, minutes
// apart at most:
//
//   BM_JournalAppend/entities/events     the SQLite journal's durable append rate: `entities`
//                                        entities each keep one conditional append (expected
//                                        sequence, fencing token, one event) in flight until
//                                        `events` are durable; group commit does the batching.
//   BM_SqliteInsert/batch_rows/page_bytes/events
//                                        the ceiling: raw SQLite inserts of the same rows into
//                                        the same table and index, same durability (WAL,
//                                        synchronous=FULL: one fdatasync per commit), tuned as
//                                        far as it goes (raw_pragmas(): 64 MiB page cache, page
//                                        size `page_bytes`, the WAL bounded as the journal's),
//                                        one prepared statement, `batch_rows` per transaction,
//                                        from one thread with nothing else to do.
//
// Both report events_per_s (durable events per second of wall time). bench/run divides the
// first by the best of the second. `--tiny` runs each once at a tiny size (make test).

#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "journal/journal.h"
#include "journal/sqlite/sqlite_journal.h"
#include "journal/sqlite/sqlite_schema.h"

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
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint32_t shard_count = 64;  // as `qrpay serve` by default
constexpr std::int64_t written_at_unix_ms = 1'700'000'000'000;

// The bytes of one event, the size of a Token's UseStarted (domain/token/token_codec.cc).
const std::string& event_payload() {
    static const std::string payload =
        R"({"v":1,"transaction_id":"tx_00112233445566778899aabbccddeeff",)"
        R"("expires_at":1700000300000,"at":1700000000000})";
    return payload;
}

std::string persistence_id(std::size_t entity) { return "token|bench-" + std::to_string(entity); }

// A fresh directory under $TMPDIR (or /tmp), removed with its files; empty path on failure.
class TempDir {
public:
    TempDir() {
        std::error_code error;
        std::string pattern =
            std::filesystem::temp_directory_path(error).string() + "/qrpay-bench-XXXXXX";
        if (!error && ::mkdtemp(pattern.data()) != nullptr) {
            path_ = pattern;
        }
    }
    bool ok() const { return !path_.empty(); }
    ~TempDir() {
        std::error_code ignored;
        if (ok()) {
            std::filesystem::remove_all(path_, ignored);
        }
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const char* name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Keeps one append per entity in flight until `events_total` are durable. Completions come
// back on the journal's writer thread; this thread resubmits (a callback must not block).
class AppendDriver {
public:
    AppendDriver(qrpay::journal::Journal& journal, std::size_t entities)
        : journal_(journal), next_seq_(entities, SequenceNr(0)) {}

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
        return std::chrono::duration<double>(SteadyClock::now() - start).count();
    }

private:
    void submit(std::size_t entity) {
        AppendRequest request;
        request.shard = ShardId(static_cast<std::uint32_t>(entity % shard_count));
        request.fencing = FencingToken(1);
        request.persistence_id = persistence_id(entity);
        request.expected_seq = next_seq_[entity];
        request.events.push_back(EventData{"UseStarted", event_payload()});
        request.written_at = UnixMs{written_at_unix_ms};
        next_seq_[entity] = next_seq_[entity].next();
        journal_.append(std::move(request), [this, entity](const Status& status) {
            std::lock_guard lock(mutex_);
            if (!status.ok() && failure_.ok()) {
                failure_ = status;
            }
            ready_.push_back(entity);
            changed_.notify_one();
        });
    }

    qrpay::journal::Journal& journal_;
    std::vector<SequenceNr> next_seq_;  // touched by the driving thread only
    std::mutex mutex_;                  // guards ready_ and failure_ (writer thread -> driver)
    std::condition_variable changed_;
    std::vector<std::size_t> ready_;
    Status failure_;
};

void BM_JournalAppend(benchmark::State& state) {
    const auto entities = static_cast<std::size_t>(state.range(0));
    const auto events = static_cast<std::uint64_t>(state.range(1));
    std::uint64_t commits = 0;
    std::uint64_t retried = 0;
    std::uint64_t checkpoint_cpu_us = 0;
    std::uintmax_t wal_bytes_max = 0;
    for (auto _ : state) {
        TempDir dir;
        auto journal = qrpay::journal::open_sqlite_journal({.path = dir.file("journal.sqlite3")});
        if (!dir.ok() || !journal.ok()) {
            state.SkipWithError(journal.status().to_string().c_str());
            return;
        }
        for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
            if (!(*journal)->claim_shard(ShardId(shard), FencingToken(1)).ok()) {
                state.SkipWithError("claim_shard failed");
                return;
            }
        }
        const auto before = qrpay::journal::sqlite_journal_stats(**journal);
        AppendDriver driver(**journal, entities);
        Result<double> seconds = driver.run(events);
        if (!seconds.ok()) {
            state.SkipWithError(seconds.status().to_string().c_str());
            return;
        }
        state.SetIterationTime(*seconds);
        const auto after = qrpay::journal::sqlite_journal_stats(**journal);
        commits += after.commits - before.commits;
        retried += after.groups_retried_isolated - before.groups_retried_isolated;
        checkpoint_cpu_us += after.checkpoint_cpu_us - before.checkpoint_cpu_us;
        std::error_code ignored;
        wal_bytes_max = std::max(
            wal_bytes_max, std::filesystem::file_size(dir.file("journal.sqlite3-wal"), ignored));
    }
    const auto total = static_cast<double>(events * static_cast<std::uint64_t>(state.iterations()));
    state.counters["events_per_s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
    state.counters["events_per_commit"] =
        total / static_cast<double>(std::max<std::uint64_t>(1, commits));
    // Groups the writer had to run again with a savepoint per write: 0 unless a write failed.
    state.counters["groups_retried"] = static_cast<double>(retried);
    // What the checkpointer's thread costs, and how large the WAL file grew.
    state.counters["ckpt_cpu_us_per_kevent"] =
        static_cast<double>(checkpoint_cpu_us) * 1000.0 / total;
    state.counters["wal_mib_max"] = static_cast<double>(wal_bytes_max) / (1 << 20);
}

// ---- raw SQLite --------------------------------------------------------------------------

// The raw side at its best with the journal's durability, each setting measured for issue 11
// (events/s at batch_rows 16384, best of 5 interleaved runs; src/journal/README.md has the
// table): a 64 MiB page cache (no spills of dirty index pages mid-transaction), larger pages
// (fewer B-tree pages and splits per row), and SQLite's checkpoint at the journal's WAL bound
// (SqliteJournalOptions::wal_backstop_bytes), so that neither side defers copying its WAL
// without bound. Tried, no gain: mmap_size, temp_store, locking_mode=EXCLUSIVE, multi-row
// INSERT statements (slower), rows sorted by key within a batch.
constexpr std::size_t raw_cache_bytes = 64 << 20;

std::string raw_pragmas(std::size_t page_bytes) {
    const std::size_t wal_pages =
        qrpay::journal::SqliteJournalOptions{}.wal_backstop_bytes / page_bytes;
    return "PRAGMA page_size = " + std::to_string(page_bytes) +
           ";\nPRAGMA journal_mode = WAL;\nPRAGMA synchronous = FULL;\n"
           "PRAGMA cache_size = -" +
           std::to_string(raw_cache_bytes / 1024) +
           ";\nPRAGMA wal_autocheckpoint = " + std::to_string(wal_pages) + ";\n";
}

// The journal's own events table and shard-order index, with the journal's durability.
std::string raw_schema(std::size_t page_bytes) {
    return raw_pragmas(page_bytes) + qrpay::journal::sqlite::events_table_sql;
}

Status check(int result, sqlite3* db, const char* what) {
    if (result != SQLITE_OK && result != SQLITE_DONE && result != SQLITE_ROW) {
        return {Errc::io_error, std::string(what) + ": " + sqlite3_errmsg(db)};
    }
    return {};
}

// Binds the row the journal would write as event number `row` of the round-robin.
void bind_row(sqlite3_stmt* insert,
              const std::string& id,
              std::uint64_t seq,
              std::size_t shard,
              std::int64_t shard_offset) {
    const std::string& payload = event_payload();
    sqlite3_bind_text(insert, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, static_cast<std::int64_t>(seq));
    sqlite3_bind_int64(insert, 3, static_cast<std::int64_t>(shard));
    sqlite3_bind_int64(insert, 4, shard_offset);
    sqlite3_bind_text(insert, 5, "UseStarted", -1, SQLITE_STATIC);
    sqlite3_bind_blob(insert, 6, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 7, written_at_unix_ms);
}

// Inserts the rows the journal would write for `entities` entities appending round-robin,
// `batch_rows` per transaction. The seconds it took.
struct RawStatements {
    sqlite3_stmt* begin = nullptr;
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* commit = nullptr;
};

Status step_once(sqlite3_stmt* statement, sqlite3* db, const char* what) {
    Status stepped = check(sqlite3_step(statement), db, what);
    sqlite3_reset(statement);
    return stepped;
}

Result<double> insert_raw(sqlite3* db,
                          const RawStatements& statements,
                          std::uint64_t events,
                          std::uint64_t batch_rows,
                          std::size_t entities) {
    sqlite3_stmt* insert = statements.insert;
    std::vector<std::string> ids;
    for (std::size_t entity = 0; entity < entities; ++entity) {
        ids.push_back(persistence_id(entity));
    }
    std::vector<std::int64_t> shard_offset(shard_count, 0);
    const auto start = SteadyClock::now();
    for (std::uint64_t row = 0; row < events;) {
        Status begun = step_once(statements.begin, db, "begin");
        for (std::uint64_t in_batch = 0; begun.ok() && in_batch < batch_rows && row < events;
             ++in_batch, ++row) {
            const std::size_t entity = row % entities;
            const std::size_t shard = entity % shard_count;
            bind_row(insert, ids[entity], row / entities + 1, shard, ++shard_offset[shard]);
            begun = step_once(insert, db, "insert");
        }
        if (begun.ok()) {
            begun = step_once(statements.commit, db, "commit");
        }
        if (!begun.ok()) {
            return begun;
        }
    }
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// A new database with the schema, and its prepared insert; the error when SQLite refuses.
Result<double> run_raw(const TempDir& dir,
                       std::uint64_t events,
                       std::uint64_t batch_rows,
                       std::size_t page_bytes) {
    sqlite3* db = nullptr;
    RawStatements statements;
    Status opened = check(sqlite3_open(dir.file("raw.sqlite3").c_str(), &db), db, "open");
    if (opened.ok()) {
        opened = check(sqlite3_exec(db, raw_schema(page_bytes).c_str(), nullptr, nullptr, nullptr),
                       db, "schema");
    }
    const std::pair<const char*, sqlite3_stmt**> prepared[] = {
        {"BEGIN IMMEDIATE", &statements.begin},
        {"INSERT INTO events (persistence_id, seq, shard, shard_offset, type, payload, "
         "written_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
         &statements.insert},
        {"COMMIT", &statements.commit},
    };
    for (const auto& [sql, statement] : prepared) {
        if (opened.ok()) {
            opened = check(sqlite3_prepare_v2(db, sql, -1, statement, nullptr), db, "prepare");
        }
    }
    Result<double> seconds =
        opened.ok() ? insert_raw(db, statements, events, batch_rows, 1024) : Result<double>(opened);
    for (sqlite3_stmt* statement : {statements.begin, statements.insert, statements.commit}) {
        sqlite3_finalize(statement);
    }
    sqlite3_close(db);
    return seconds;
}

void BM_SqliteInsert(benchmark::State& state) {
    const auto batch_rows = static_cast<std::uint64_t>(state.range(0));
    const auto page_bytes = static_cast<std::size_t>(state.range(1));
    const auto events = static_cast<std::uint64_t>(state.range(2));
    for (auto _ : state) {
        TempDir dir;
        Result<double> seconds = dir.ok() ? run_raw(dir, events, batch_rows, page_bytes)
                                          : Result<double>(Status(Errc::io_error, "mkdtemp"));
        if (!seconds.ok()) {
            state.SkipWithError(seconds.status().to_string().c_str());
            return;
        }
        state.SetIterationTime(*seconds);
    }
    const auto total = static_cast<double>(events * static_cast<std::uint64_t>(state.iterations()));
    state.counters["events_per_s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
}

void register_benchmarks(bool tiny) {
    const std::int64_t events = tiny ? 300 : 100'000;
    const std::int64_t iterations = tiny ? 1 : 2;
    auto* journal = benchmark::RegisterBenchmark("BM_JournalAppend", BM_JournalAppend);
    auto* raw = benchmark::RegisterBenchmark("BM_SqliteInsert", BM_SqliteInsert);
    journal->ArgNames({"entities", "events"})->UseManualTime()->Unit(benchmark::kMillisecond);
    raw->ArgNames({"batch_rows", "page_bytes", "events"})
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    journal->Iterations(iterations);
    raw->Iterations(iterations);
    if (tiny) {
        journal->Args({16, events});
        raw->Args({64, 16384, events});
        return;
    }
    for (std::int64_t entities : {64, 1024, 4096, 16384}) {
        journal->Args({entities, events});
    }
    // The journal's page size at every batch, SQLite's default and the largest at the large
    // batches, and batches beyond the journal's group_events_max: the ceiling is the best.
    for (std::int64_t batch : {64, 1024, 16384, 65536}) {
        raw->Args({batch, 16384, events});
    }
    for (std::int64_t batch : {16384, 65536}) {
        raw->Args({batch, 4096, events});
        raw->Args({batch, 65536, events});
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool tiny = false;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--tiny") == 0) {
            tiny = true;
        } else {
            args.push_back(argv[i]);
        }
    }
    int count = static_cast<int>(args.size());
    register_benchmarks(tiny);
    benchmark::Initialize(&count, args.data());
    if (benchmark::ReportUnrecognizedArguments(count, args.data())) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
