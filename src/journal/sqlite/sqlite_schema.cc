// On-disk format of the SQLite journal, schema version 2 (PRAGMA user_version = 2).
//
//   events       one row per event.
//                (persistence_id TEXT, seq INTEGER >= 1) primary key: seq runs 1, 2, 3...
//                per persistence id without gaps.
//                (shard INTEGER, shard_offset INTEGER >= 1) unique: offsets run 1, 2, 3... per
//                shard without gaps, in commit order (assigned inside the write transaction).
//                type TEXT, payload BLOB (opaque bytes), written_at_unix_ms INTEGER.
//   shard_state  one row per shard that was claimed or appended to: fencing_token (0 until
//                claimed) and last_offset, the highest shard_offset in events (0 if none).
//   snapshots    at most one per persistence id: seq (state includes events 1..seq), payload.
//   wakeups      one row per persistence id whose last append carried a wake_at: its shard
//                and wake_at_unix_ms. Written in the same transaction as the events.
//                WITHOUT ROWID, keyed by (shard, persistence_id): one B-tree instead of a
//                table and its index (v2).
//   claimed_keys one row per key claim (journal.h): key, persistence_id, claimed_at_unix_ms
//                (the claiming append's written_at). Written in the same transaction as the
//                events; rows older than the key retention are deleted by the writer (v2).
//
// Versions: 1 created the tables above but claimed_keys, with a rowid wakeups table; 2 rebuilt
// wakeups and added claimed_keys. A database is created at version 1 and migrated up, so a
// new file and an upgraded one are the same.
//
// Numbers are unsigned values stored in signed 64-bit columns; CHECK constraints refuse
// negative ones. A change of any of this is a new schema version with a migration here.

#include "journal/sqlite/sqlite_schema.h"

#include <iterator>
#include <string>

#include "base/assert.h"
#include "sqlite/connection.h"
#include "sqlite/transaction.h"

namespace qrpay::journal::sqlite {

namespace {

using qrpay::sqlite::Connection;
using qrpay::sqlite::from_column;
using qrpay::sqlite::Statement;
using qrpay::sqlite::Step;

constexpr const char* sql_shard_row =
    "SELECT fencing_token, last_offset FROM shard_state WHERE shard = ?1";
constexpr const char* sql_highest_seq =
    "SELECT seq FROM events WHERE persistence_id = ?1 ORDER BY seq DESC LIMIT 1";

// schema_v1 without the events table (events_table_sql in the header), which it creates first.
constexpr const char* schema_v1_rest = R"sql(
CREATE TABLE shard_state (
    shard         INTEGER PRIMARY KEY CHECK (shard >= 0),
    fencing_token INTEGER NOT NULL CHECK (fencing_token >= 0),
    last_offset   INTEGER NOT NULL CHECK (last_offset >= 0)
);
CREATE TABLE snapshots (
    persistence_id TEXT    PRIMARY KEY NOT NULL,
    seq            INTEGER NOT NULL CHECK (seq >= 0),
    payload        BLOB    NOT NULL
);
CREATE TABLE wakeups (
    persistence_id  TEXT    PRIMARY KEY NOT NULL,
    shard           INTEGER NOT NULL CHECK (shard >= 0),
    wake_at_unix_ms INTEGER NOT NULL
);
CREATE INDEX wakeups_by_shard ON wakeups (shard, wake_at_unix_ms, persistence_id);
PRAGMA user_version = 1;
)sql";

constexpr const char* migrate_v1_to_v2 = R"sql(
CREATE TABLE wakeups_v2 (
    shard           INTEGER NOT NULL CHECK (shard >= 0),
    persistence_id  TEXT    NOT NULL,
    wake_at_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (shard, persistence_id)
) WITHOUT ROWID;
INSERT INTO wakeups_v2 (shard, persistence_id, wake_at_unix_ms)
    SELECT shard, persistence_id, wake_at_unix_ms FROM wakeups;
DROP TABLE wakeups;
ALTER TABLE wakeups_v2 RENAME TO wakeups;
CREATE INDEX wakeups_by_time ON wakeups (shard, wake_at_unix_ms);
CREATE TABLE claimed_keys (
    key                TEXT    PRIMARY KEY NOT NULL,
    persistence_id     TEXT    NOT NULL,
    claimed_at_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX claimed_keys_by_age ON claimed_keys (claimed_at_unix_ms);
PRAGMA user_version = 2;
)sql";

// migrations[v - 1] takes a database from version v to v + 1.
constexpr const char* migrations[] = {migrate_v1_to_v2};
static_assert(std::size(migrations) == schema_version - 1, "one migration per version step");

Result<std::int64_t> read_int(Connection& connection, const char* sql) {
    Result<Statement> query = connection.prepare(sql);
    if (!query.ok()) {
        return query.status();
    }
    if (query->step() != Step::row) {
        return query->error(sql);
    }
    return query->column_int(0);
}

// Decides inside the open transaction; the caller commits on ok and rolls back otherwise.
Status check_or_create(Connection& connection) {
    Result<std::int64_t> version = read_int(connection, "PRAGMA user_version");
    if (!version.ok()) {
        return version.status();
    }
    if (*version > schema_version || *version < 0) {
        return {Errc::corruption, "journal schema version " + std::to_string(*version) +
                                      " is unknown to this build (knows " +
                                      std::to_string(schema_version) + ")"};
    }
    std::int64_t at = *version;
    if (at == 0) {
        Result<std::int64_t> tables = read_int(connection, "SELECT count(*) FROM sqlite_schema");
        if (!tables.ok()) {
            return tables.status();
        }
        if (*tables != 0) {
            return {Errc::corruption, "the database holds tables but no journal schema version"};
        }
        if (Status created = connection.run_script(std::string(events_table_sql) + schema_v1_rest);
            !created.ok()) {
            return created;
        }
        at = 1;
    }
    for (; at < schema_version; ++at) {
        if (Status migrated = connection.run_script(migrations[at - 1]); !migrated.ok()) {
            return migrated;
        }
    }
    return {};
}

}  // namespace

Status ensure_schema(Connection& connection) {
    QRPAY_ASSERT(!connection.in_transaction(), "ensure_schema inside a transaction");
    return qrpay::sqlite::in_transaction(connection, qrpay::sqlite::Begin::immediate,
                                         [&] { return check_or_create(connection); });
}

Result<ShardRow> read_shard_row(Connection& db, ShardId shard) {
    Result<Statement> query = db.prepare(sql_shard_row);
    if (!query.ok()) {
        return query.status();
    }
    query->bind_int(1, shard.value);
    Step step = query->step();
    if (step == Step::error) {
        return query->error("read shard_state");
    }
    if (step == Step::done) {
        return ShardRow{};
    }
    return ShardRow{FencingToken(from_column(query->column_int(0))),
                    ShardOffset(from_column(query->column_int(1)))};
}

Result<SequenceNr> read_highest_seq(Connection& db, const std::string& persistence_id) {
    Result<Statement> query = db.prepare(sql_highest_seq);
    if (!query.ok()) {
        return query.status();
    }
    query->bind_text_borrowed(1, persistence_id);
    Step step = query->step();
    if (step == Step::error) {
        return query->error("read highest seq");
    }
    return SequenceNr(step == Step::row ? from_column(query->column_int(0)) : 0);
}

}  // namespace qrpay::journal::sqlite
