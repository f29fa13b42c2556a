#pragma once
// Store: where the read models live, apart from the journal: a SQLite file of their own (WAL,
// synchronous=NORMAL: rebuilt from the journal if a machine crash loses its last commits), or
// a PostgreSQL database (by default the journal's, tables beside the journal's). Both are
// reached through the sql API (src/sql/). Besides the projections' tables it keeps their
// bookkeeping:
//
//   projection_offsets      (projection TEXT, shard BIGINT, last_offset BIGINT,
//                            last_written_at_unix_ms BIGINT), PRIMARY KEY (projection, shard):
//                            per projection key and shard, the last applied shard offset and
//                            its event's written_at. Changed only in the transaction that
//                            applied those events (exactly-once effect).
//   projection_generations  (projection TEXT PRIMARY KEY, generation BIGINT >= 1): the table
//                            set's generation, which suffixes its index names.
//
// A projection key is the projection's name for its live tables and name + "~rebuild" for a
// rebuild in progress (rebuild.h).
//
// Thread safety: open_writer() and read() may be called from any thread; each connection is
// then used by one thread at a time. Several processes may open the same store (a rebuild runs
// beside a serving process); the database's locks order their writes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/strong_types.h"
#include "sql/connection.h"

namespace qrpay::projection {

struct StoreOptions {
    // A SQLite file (created with the bookkeeping tables when missing), or a postgresql://
    // URL (the tables are created in that database when missing).
    std::string path;
    std::chrono::milliseconds connect_timeout{2'000};  // PostgreSQL
    // How long a connection waits for a lock another connection (or process) holds.
    std::chrono::milliseconds lock_wait_max{5'000};
    std::size_t read_connections_max = 4;
    std::chrono::milliseconds read_wait_max{2'000};  // for a free read connection
};

class Store {
public:
    // io_error when the file cannot be opened or set up; invalid_argument for bad options.
    static Result<std::unique_ptr<Store>> open(const StoreOptions& options);

    // A new read-write connection (an engine's or a rebuild's own).
    [[nodiscard]] Result<std::unique_ptr<sql::Connection>> open_writer() const;
    // A read connection from the pool; unavailable when none is free within read_wait_max.
    Result<sql::Pool::Lease> read();
    [[nodiscard]] const std::string& path() const { return options_.path; }

private:
    explicit Store(const StoreOptions& options);

    StoreOptions options_;
    sql::Pool readers_;
};

// The offset bookkeeping, on a writer inside an open transaction.
struct StoredOffset {
    ShardOffset offset;  // 0: nothing applied
    UnixMs written_at;   // of the event at `offset`; 0 when none
    bool operator==(const StoredOffset&) const = default;
};

std::string rebuild_key(std::string_view projection_name);

// Inserts a zero row for every shard below shard_count that has none.
Status ensure_offsets(sql::Connection& db, std::string_view key, std::uint32_t shard_count);
// Every shard's row, indexed by shard. corruption when a row is missing.
Result<std::vector<StoredOffset>> load_offsets(sql::Connection& db,
                                               std::string_view key,
                                               std::uint32_t shard_count);
Result<StoredOffset> load_offset(sql::Connection& db, std::string_view key, ShardId shard);
// Moves the shard's row from `expected` to `next`; conflict when the row is not at `expected`
// (another writer got there first: nothing changed).
Status advance_offset(sql::Connection& db,
                      std::string_view key,
                      ShardId shard,
                      ShardOffset expected,
                      const StoredOffset& next);
// The key's generation, 1 when it has none yet (and then stored).
Result<std::uint64_t> ensure_generation(sql::Connection& db, std::string_view key);

}  // namespace qrpay::projection
