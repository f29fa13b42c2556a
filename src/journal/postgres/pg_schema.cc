// Schema of the PostgreSQL journal, version 1 (table qrpay_journal_schema holds the version).
//
//   events        one row per event; the same grammar as the SQLite journal's
//                 (sqlite/sqlite_schema.cc): (persistence_id, seq) primary key, seq 1, 2, 3...
//                 per id; (shard, shard_offset) unique, offsets 1, 2, 3... per shard without
//                 gaps in commit order: the writer assigns them under the shard_state row's
//                 lock (SELECT ... FOR UPDATE), held until COMMIT, so two writers of a shard
//                 commit in offset order and a reader that sees offset N sees all below it.
//   shard_state   one row per shard: fencing_token (0 until claimed) and last_offset. Every
//                 group that appends to a shard locks its row first, and checks the token of
//                 each append against it in the same transaction: a node that lost the shard
//                 cannot append after the new owner raised the token.
//   snapshots     at most one per persistence id.
//   wakeups       one row per persistence id whose last append carried a wake_at.
//   claimed_keys  one row per key claim; rows older than the key retention are deleted by
//                 the writer in bounded batches.
//   qrpay_partition_map  at most one row: which partition of how many this database is, over
//                 how many shards (check_partition_map); written once, by the first start.
//
// Text keys use the "C" collation: byte order, no locale cost. Numbers are unsigned values in
// bigint columns; CHECK constraints refuse negative ones. Payloads are the codec's bytes.
// A change of any of this is a new schema version with a migration here.

#include "journal/postgres/pg_schema.h"

#include <array>
#include <string>

#include "postgres/connection.h"

namespace qrpay::journal::postgres {

namespace {

using qrpay::postgres::Connection;
using qrpay::postgres::Rows;

// Any constant key works; this one spells "qrpay schema".
constexpr const char* sql_lock = "SELECT pg_advisory_xact_lock(7172010521834600001)";

constexpr const char* schema_v1_rest = R"sql(
CREATE TABLE shard_state (
    shard         bigint PRIMARY KEY CHECK (shard >= 0),
    fencing_token bigint NOT NULL CHECK (fencing_token >= 0),
    last_offset   bigint NOT NULL CHECK (last_offset >= 0)
);
CREATE TABLE snapshots (
    persistence_id text COLLATE "C" PRIMARY KEY,
    seq            bigint NOT NULL CHECK (seq >= 0),
    payload        bytea  NOT NULL
);
CREATE TABLE wakeups (
    persistence_id  text COLLATE "C" PRIMARY KEY,
    shard           bigint NOT NULL CHECK (shard >= 0),
    wake_at_unix_ms bigint NOT NULL
);
CREATE INDEX wakeups_by_shard ON wakeups (shard, wake_at_unix_ms, persistence_id);
CREATE TABLE claimed_keys (
    key                text COLLATE "C" PRIMARY KEY,
    persistence_id     text COLLATE "C" NOT NULL,
    claimed_at_unix_ms bigint NOT NULL
);
CREATE INDEX claimed_keys_by_age ON claimed_keys (claimed_at_unix_ms);
CREATE TABLE qrpay_partition_map (
    partition_index bigint NOT NULL CHECK (partition_index >= 0),
    partition_count bigint NOT NULL CHECK (partition_count >= 1),
    shard_count     bigint NOT NULL CHECK (shard_count >= 1)
);
CREATE TABLE qrpay_journal_schema (version bigint NOT NULL);
INSERT INTO qrpay_journal_schema (version) VALUES (1);
)sql";

// migrations[v - 1] takes a database from version v to v + 1 (none yet).
constexpr std::array<const char*, schema_version - 1> migrations{};

Result<std::int64_t> count_tables(Connection& connection) {
    Result<Rows> rows = connection.query(
        "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()");
    if (!rows.ok()) {
        return rows.status();
    }
    return rows->int_at(0, 0);
}

Status check_or_create(Connection& connection, SchemaChange change) {
    if (Status locked = connection.run(sql_lock); !locked.ok()) {
        return locked;
    }
    Result<std::int64_t> version = stored_schema_version(connection);
    if (!version.ok()) {
        return version.status();
    }
    if (*version > schema_version || *version < 0) {
        return {Errc::corruption, "journal schema version " + std::to_string(*version) +
                                      " is unknown to this build (knows " +
                                      std::to_string(schema_version) + ")"};
    }
    if (*version == 0) {
        Result<std::int64_t> tables = count_tables(connection);
        if (!tables.ok()) {
            return tables.status();
        }
        if (*tables != 0) {
            return {Errc::corruption, "the database holds tables but no journal schema version"};
        }
        return connection.run_script(std::string(events_table_sql) + schema_v1_rest);
    }
    if (*version < schema_version && change != SchemaChange::migrate) {
        return {Errc::conflict, "journal schema version " + std::to_string(*version) +
                                    " is older than this build's " +
                                    std::to_string(schema_version) +
                                    "; run `qrpay db migrate --journal URL` first"};
    }
    for (std::int64_t at = *version; at < schema_version; ++at) {
        if (Status migrated =
                connection.run_script(migrations.at(static_cast<std::size_t>(at - 1)));
            !migrated.ok()) {
            return migrated;
        }
    }
    return {};
}

std::string describe(const PartitionMap& map) {
    return "partition " + std::to_string(map.index) + " of " + std::to_string(map.count) +
           " over " + std::to_string(map.shard_count) + " shards";
}

}  // namespace

Status check_partition_map(Connection& connection, const PartitionMap& map) {
    // Under the schema lock: two processes starting at once store one map.
    if (Status begun = connection.run_script("BEGIN"); !begun.ok()) {
        return begun;
    }
    Status checked = [&]() -> Status {
        if (Status locked = connection.run(sql_lock); !locked.ok()) {
            return locked;
        }
        Result<Rows> stored = connection.query(
            "SELECT partition_index, partition_count, shard_count FROM qrpay_partition_map");
        if (!stored.ok()) {
            return stored.status();
        }
        if (stored->count() == 0) {
            return connection.run(
                "INSERT INTO qrpay_partition_map (partition_index, partition_count, shard_count) "
                "VALUES ($1, $2, $3)",
                qrpay::postgres::Params().add_int(map.index).add_int(map.count).add_int(
                    map.shard_count));
        }
        const PartitionMap found{static_cast<std::uint32_t>(stored->int_at(0, 0)),
                                 static_cast<std::uint32_t>(stored->int_at(0, 1)),
                                 static_cast<std::uint32_t>(stored->int_at(0, 2))};
        if (found != map) {
            return {Errc::invalid_argument, "the journal database is " + describe(found) +
                                                ", not " + describe(map) +
                                                ": shards are never moved between databases"};
        }
        return {};
    }();
    if (checked.ok()) {
        checked = connection.run_script("COMMIT");
    }
    if (!checked.ok()) {
        (void)connection.run_script("ROLLBACK");
    }
    return checked;
}

Result<std::int64_t> stored_schema_version(Connection& connection) {
    Result<Rows> exists = connection.query(
        "SELECT count(*) FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = "
        "'qrpay_journal_schema'");
    if (!exists.ok()) {
        return exists.status();
    }
    if (exists->int_at(0, 0) == 0) {
        return std::int64_t{0};
    }
    Result<Rows> version = connection.query("SELECT max(version) FROM qrpay_journal_schema");
    if (!version.ok()) {
        return version.status();
    }
    return version->optional_int_at(0, 0).value_or(0);
}

Status ensure_schema(Connection& connection, SchemaChange change) {
    if (Status begun = connection.run_script("BEGIN"); !begun.ok()) {
        return begun;
    }
    Status done = check_or_create(connection, change);
    if (done.ok()) {
        done = connection.run_script("COMMIT");
    }
    if (!done.ok()) {
        (void)connection.run_script("ROLLBACK");
    }
    return done;
}

}  // namespace qrpay::journal::postgres
