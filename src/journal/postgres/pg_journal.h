#pragma once
// The PostgreSQL journal: the backend a cluster of qrpay nodes shares (DESIGN §4). One writer
// thread per journal commits appends, claims and snapshots in groups (pg_group_commit.h:
// two round trips, four with a COPY, and one WAL flush per group, with synchronous_commit on);
// reads run on a small pool of connections. Fencing is checked under the shard row's lock in the
// same transaction as the events, so it holds with several qrpay processes writing one database.
//
// Losing PostgreSQL: writes answer unreachable ("journal unavailable") while no connection can
// be made or when it dropped before their COMMIT was sent, unknown_outcome when it dropped with
// their COMMIT sent; reads answer unreachable while no connection can be made. The writer
// connects again by itself (at most once per reconnect_interval, also while no write comes),
// so service resumes when PostgreSQL is back. Any other failure of a statement is io_error.
//
// Thread safety: as Journal (journal.h).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "journal/journal.h"
#include "journal/postgres/pg_schema.h"

namespace qrpay::journal {

struct PgJournalOptions {
    // libpq URL or key=value string (several hosts with target_session_attrs=read-write find
    // the primary after a failover).
    std::string url;
    // What open does to the database's schema (pg_schema.h).
    postgres::SchemaChange schema_change = postgres::SchemaChange::create_if_empty;
    // Which partition of a partitioned journal this database is (check_partition_map(), on
    // the writer's connection at open); nullopt: not checked.
    std::optional<postgres::PartitionMap> partition_map{};
    // Group bounds and the adaptive group wait, as for the SQLite journal (sqlite_journal.h).
    // Groups only grow under load; larger ones than SQLite's pay PostgreSQL's fixed cost per
    // transaction (round trips, statements, WAL flush) over more events (docs/benchmarks.md).
    std::size_t group_events_max = 16'384;
    std::size_t group_bytes_max = 4 << 20;
    std::chrono::microseconds group_wait_max{1'000};
    std::uint32_t group_wait_commit_share_percent = 50;
    std::size_t queued_writes_max = 100'000;
    std::size_t queued_bytes_max = 256 << 20;
    std::size_t read_connections_max = 4;
    std::chrono::milliseconds read_wait_max{5'000};
    std::chrono::milliseconds connect_timeout{2'000};
    // The writer tries to connect again at most once per this interval; writes in between
    // answer unreachable at once.
    std::chrono::milliseconds reconnect_interval{250};
    // While no write comes, the writer checks its connection (SELECT 1), or connects again,
    // this often: writer_connected follows PostgreSQL on an idle node too.
    std::chrono::milliseconds idle_check_interval{1'000};
    // A group with at least this many events stores them with one COPY (two round trips more,
    // much less work for the server per row); smaller groups use multi-row INSERTs.
    std::size_t copy_events_min = 256;
    std::size_t seq_cache_entries_max = 65'536;
    std::chrono::milliseconds key_retention = key_retention_default;
    std::chrono::milliseconds claim_sweep_interval = std::chrono::minutes(1);
    std::size_t claims_forgotten_per_sweep = 4096;
};

// Connects, brings the schema to this build's version as options.schema_change allows, and
// starts the writer thread. invalid_argument: options out of range or an unparsable URL.
// unavailable: no server answered. corruption / conflict: the schema (pg_schema.h).
Result<std::unique_ptr<Journal>> open_pg_journal(const PgJournalOptions& options);

struct PgJournalStats {
    std::uint64_t commits = 0;
    std::uint64_t appends_committed = 0;
    std::uint64_t writes_refused = 0;  // sequence_conflict, fenced or key_taken
    std::uint64_t fenced_appends = 0;  // appends refused for a stale fencing token
    // Groups with a write answered unreachable, io_error or unknown_outcome.
    std::uint64_t groups_failed = 0;
    std::uint64_t groups_retried_isolated = 0;
    std::uint64_t reconnects = 0;  // writer connections made after the first
    std::uint64_t claims_forgotten = 0;
    bool writer_connected = false;  // the writer's connection is up now
};

// REQUIRES: `journal` was made by open_pg_journal(). Thread-safe.
PgJournalStats pg_journal_stats(const Journal& journal);

}  // namespace qrpay::journal
