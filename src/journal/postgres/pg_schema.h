#pragma once
// The PostgreSQL journal's schema (its grammar is at the top of pg_schema.cc): created in an
// empty database, checked and migrated up in one that has it.

#include <cstdint>

#include "base/status.h"

namespace qrpay::postgres {
class Connection;
}  // namespace qrpay::postgres

namespace qrpay::journal::postgres {

// The version this build writes into qrpay_journal_schema.
inline constexpr std::int64_t schema_version = 1;

// The events table and its shard-order index, as version 1 creates them. Public so that the
// storage benchmark's raw side inserts into exactly the journal's table (bench/).
inline constexpr const char* events_table_sql = R"sql(
CREATE TABLE events (
    persistence_id     text COLLATE "C" NOT NULL,
    seq                bigint NOT NULL CHECK (seq >= 1),
    shard              bigint NOT NULL CHECK (shard >= 0),
    shard_offset       bigint NOT NULL CHECK (shard_offset >= 1),
    type               text COLLATE "C" NOT NULL,
    payload            bytea  NOT NULL,
    written_at_unix_ms bigint NOT NULL,
    PRIMARY KEY (persistence_id, seq)
);
CREATE UNIQUE INDEX events_by_shard_offset ON events (shard, shard_offset);
)sql";

enum class SchemaChange {
    create_if_empty,  // create in an empty database; refuse an older version (serve's start)
    migrate,          // also migrate an older version up (qrpay db migrate)
};

// Brings the database to schema_version as `change` allows, in one transaction that holds an
// advisory lock, so that two processes starting at once do it once.
// corruption: a newer version, or tables of something else than a journal.
// conflict: an older version under create_if_empty ("run qrpay db migrate").
// unavailable / io_error: from the connection.
Status ensure_schema(qrpay::postgres::Connection& connection, SchemaChange change);

// Which partition of a journal spread over several databases this one is (partitioned_journal.h).
struct PartitionMap {
    std::uint32_t index = 0;
    std::uint32_t count = 1;
    std::uint32_t shard_count = 0;
    bool operator==(const PartitionMap&) const = default;
};

// Stores `map` in a database that has none yet; ok when the stored one equals it;
// invalid_argument, naming both, when it differs: shards are never silently moved between
// databases. REQUIRES: the schema exists (ensure_schema).
Status check_partition_map(qrpay::postgres::Connection& connection, const PartitionMap& map);

// The version stored in the database; 0 when it has no journal schema.
Result<std::int64_t> stored_schema_version(qrpay::postgres::Connection& connection);

}  // namespace qrpay::journal::postgres
