#pragma once
// The SQLite journal's on-disk schema (its grammar is at the top of sqlite_schema.cc).

#include <cstdint>
#include <string>

#include "base/status.h"
#include "base/strong_types.h"

namespace qrpay::sqlite {
class Connection;
}  // namespace qrpay::sqlite

namespace qrpay::journal::sqlite {

// The version this build writes into PRAGMA user_version. Older versions are migrated up.
inline constexpr std::int64_t schema_version = 2;

// The events table and its shard-order index, as version 1 creates them. Public so that the
// storage benchmark's raw-SQLite side inserts into exactly the journal's table (bench/).
inline constexpr const char* events_table_sql = R"sql(
CREATE TABLE events (
    persistence_id     TEXT    NOT NULL,
    seq                INTEGER NOT NULL CHECK (seq >= 1),
    shard              INTEGER NOT NULL CHECK (shard >= 0),
    shard_offset       INTEGER NOT NULL CHECK (shard_offset >= 1),
    type               TEXT    NOT NULL,
    payload            BLOB    NOT NULL,
    written_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (persistence_id, seq)
);
CREATE UNIQUE INDEX events_by_shard_offset ON events (shard, shard_offset);
)sql";

// Creates the schema in an empty database, migrates an older version up to schema_version
// (in one transaction), and accepts one at schema_version.
// corruption: the file holds a newer version, or tables of something else than a journal.
// io_error: SQLite failed. REQUIRES: a writer connection with no transaction open.
Status ensure_schema(qrpay::sqlite::Connection& connection);

// The point queries both the writer (inside its transaction) and the readers run, written
// once. Errors: io_error when SQLite fails.
struct ShardRow {
    FencingToken fencing;
    ShardOffset last_offset;
};
// The shard's row, or zeros for a shard never claimed nor appended to.
Result<ShardRow> read_shard_row(qrpay::sqlite::Connection& db, ShardId shard);
// The entity's highest stored sequence, 0 when it has none.
Result<SequenceNr> read_highest_seq(qrpay::sqlite::Connection& db,
                                    const std::string& persistence_id);

}  // namespace qrpay::journal::sqlite
