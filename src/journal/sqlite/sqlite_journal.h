#pragma once
// The SQLite journal: the embedded default backend (DESIGN §4). One file in WAL mode with
// synchronous=FULL, so an append reported ok has been synced. One writer thread commits
// appends, claims and snapshots in groups (one transaction, one sync for many entities);
// reads run on a small pool of read connections and never wait for the writer.
//
// Thread safety: as Journal (journal.h). One process should hold a database file open for
// writing at a time; SQLite's locks keep two writers correct but slow.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "journal/journal.h"

namespace qrpay::journal {

struct SqliteJournalOptions {
    // The database file; created with its schema when missing. SQLite keeps "-wal" and
    // "-shm" files beside it.
    std::string path;
    // Events committed in one transaction at most (a claim or a snapshot counts as one). One
    // write larger than this still commits, alone.
    std::size_t group_events_max = 16384;
    // Bytes of ids, types and payloads committed in one transaction at most; same exception.
    std::size_t group_bytes_max = 4 << 20;
    // The adaptive group wait (write_queue.h, group_wait()): with writes queued, the writer
    // waits for more only while they arrive faster than commits complete, and never after an
    // idle spell (a lone append commits at once). A group waits at most group_wait_max and at
    // most group_wait_commit_share_percent of a recent commit's duration (sync included).
    // group_wait_max 0: never wait; appends that arrive during a commit form the next group.
    std::chrono::microseconds group_wait_max{1'000};
    std::uint32_t group_wait_commit_share_percent = 50;  // 0 to 100
    // Writes (appends, claims, snapshots) waiting for the writer; beyond either bound append()
    // answers unavailable. A write larger than queued_bytes_max is still queued when nothing
    // else waits, so every valid append can get in.
    std::size_t queued_writes_max = 100'000;
    std::size_t queued_bytes_max = 256 << 20;
    // Read connections opened at most, and how long a read waits for a free one before it
    // answers unavailable.
    std::size_t read_connections_max = 4;
    std::chrono::milliseconds read_wait_max{5'000};
    // How long a connection waits for a lock held by another process (or a checkpoint)
    // before its operation fails with io_error. Readers never wait for this journal's writer.
    std::chrono::milliseconds lock_wait_max{5'000};
    // Entities whose highest seq the writer remembers, so that their next append needs no
    // SELECT (those appended least recently are forgotten first). About 140 bytes plus the
    // id's length each: ~12 MiB at the default with 30-byte ids, at most ~23 MiB. 0 or 1: none.
    std::size_t seq_cache_entries_max = 65'536;
    // The page size of a file the journal creates (a power of two, 512 to 65536); an existing
    // file keeps its own. Larger pages cut the writer's CPU per event in large groups (fewer
    // B-tree pages and splits per row) but write more WAL bytes per small commit: in
    // bench/journal_bench 16 KiB gave +5-10% at 16 384 entities in flight and -40% at 64,
    // the service's regime, so SQLite's default stays.
    std::size_t page_bytes = 4096;
    // The writer connection's page cache (SQLite's cache_size): the pages of the events
    // indexes a group touches stay in memory instead of being read back from the file.
    std::size_t writer_cache_bytes = 64 << 20;
    // The WAL is copied into the database file by a thread of its own (checkpointer.h), at
    // most once per this interval, so that the writer seldom pauses for it. Each checkpoint
    // copies every page changed since the last one and syncs twice; at 100 ms it cost ~8x
    // less CPU per event than at 10 ms in bench/journal_bench, the WAL still bounded by
    // wal_backstop_bytes (src/journal/README.md).
    std::chrono::milliseconds checkpoint_interval_min{100};
    // How long a key claim holds (journal.h, "key claim").
    std::chrono::milliseconds key_retention = key_retention_default;
    // The writer forgets expired claims at most once per this much written_at time, at most
    // claims_forgotten_per_sweep at a time (one small transaction), so a sweep never holds
    // the writer for long and the claims stay bounded by about a retention's worth.
    std::chrono::milliseconds claim_sweep_interval = std::chrono::minutes(1);
    std::size_t claims_forgotten_per_sweep = 4096;
    // The writer's own checkpoint, the backstop that bounds the WAL: after a commit that
    // leaves at least this many bytes of WAL frames, the writer copies them itself
    // (SQLite's wal_autocheckpoint, in pages of page_bytes).
    std::size_t wal_backstop_bytes = 16 << 20;
};

// Opens (or creates) the journal at options.path and starts its writer thread.
// invalid_argument: options out of range. corruption: the file holds a newer schema version
// or is not a journal. io_error: SQLite cannot open or set up the file.
// The journal's destructor commits every write already queued, then joins the writer.
Result<std::unique_ptr<Journal>> open_sqlite_journal(const SqliteJournalOptions& options);

// Counters of a SQLite journal since it was opened.
struct SqliteJournalStats {
    std::uint64_t commits = 0;            // transactions committed, one sync each
    std::uint64_t appends_committed = 0;  // appends made durable by those commits
    std::uint64_t writes_refused = 0;     // sequence_conflict, fenced or key_taken
    std::uint64_t groups_failed = 0;      // groups answered with io_error or unknown_outcome
    // Groups in which a write failed unexpectedly without a savepoint, so that the group ran
    // again with one savepoint per write (group_commit.h).
    std::uint64_t groups_retried_isolated = 0;
    std::uint64_t checkpoints = 0;          // by the checkpointer's thread
    std::uint64_t checkpoint_failures = 0;  // logged
    std::uint64_t claims_forgotten = 0;     // expired key claims deleted by the writer
    std::uint64_t checkpoint_cpu_us = 0;    // CPU time of the checkpointer's thread
};

// REQUIRES: `journal` was made by open_sqlite_journal(). Thread-safe.
SqliteJournalStats sqlite_journal_stats(const Journal& journal);

}  // namespace qrpay::journal
