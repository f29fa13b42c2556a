#include "projection/store.h"

#include <string>

#include "base/assert.h"
#include "sql/connection.h"

namespace qrpay::projection {

namespace {

constexpr const char* bookkeeping_schema = R"sql(
CREATE TABLE IF NOT EXISTS projection_offsets (
    projection              TEXT   NOT NULL,
    shard                   BIGINT NOT NULL CHECK (shard >= 0),
    last_offset             BIGINT NOT NULL CHECK (last_offset >= 0),
    last_written_at_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (projection, shard)
);
CREATE TABLE IF NOT EXISTS projection_generations (
    projection TEXT   PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL CHECK (generation >= 1)
);
)sql";

using sql::from_column;
using sql::to_column;

}  // namespace

namespace {

sql::Opener writer_opener(const StoreOptions& options) {
    if (sql::is_postgres_url(options.path)) {
        return sql::postgres_opener(options.path, options.connect_timeout);
    }
    return sql::sqlite_opener(options.path, /*read_only=*/false, /*durable=*/false,
                              options.lock_wait_max);
}

sql::Opener reader_opener(const StoreOptions& options) {
    if (sql::is_postgres_url(options.path)) {
        return sql::postgres_opener(options.path, options.connect_timeout);
    }
    return sql::sqlite_opener(options.path, /*read_only=*/true, /*durable=*/false,
                              options.lock_wait_max);
}

}  // namespace

Store::Store(const StoreOptions& options)
    : options_(options),
      readers_(reader_opener(options), options.read_connections_max, options.read_wait_max) {}

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
    if (options.path.empty() || options.read_connections_max < 1 ||
        options.lock_wait_max.count() < 0 || options.read_wait_max.count() < 0) {
        return Status(Errc::invalid_argument, "bad read-model store options");
    }
    auto writer = writer_opener(options)();
    if (!writer.ok()) {
        return writer.status();
    }
    Status schema = sql::in_transaction(**writer, sql::Begin::immediate,
                                        [&] { return (*writer)->run_script(bookkeeping_schema); });
    if (!schema.ok()) {
        return schema;
    }
    return std::unique_ptr<Store>(new Store(options));
}

Result<std::unique_ptr<sql::Connection>> Store::open_writer() const {
    return writer_opener(options_)();
}

Result<sql::Pool::Lease> Store::read() { return readers_.acquire(); }

std::string rebuild_key(std::string_view projection_name) {
    return std::string(projection_name) + "~rebuild";
}

Status ensure_offsets(sql::Connection& db, std::string_view key, std::uint32_t shard_count) {
    const std::string sql =
        "INSERT INTO projection_offsets (projection, shard, last_offset, "
        "last_written_at_unix_ms) VALUES (?, ?, 0, 0) ON CONFLICT (projection, shard) DO NOTHING";
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        auto insert = db.prepare(sql);
        if (!insert.ok()) {
            return insert.status();
        }
        insert->bind_text(1, key);
        insert->bind_int(2, shard);
        if (Status done = insert->run("insert offset"); !done.ok()) {
            return done;
        }
    }
    return {};
}

Result<std::vector<StoredOffset>> load_offsets(sql::Connection& db,
                                               std::string_view key,
                                               std::uint32_t shard_count) {
    auto select = db.prepare(
        "SELECT shard, last_offset, last_written_at_unix_ms FROM projection_offsets "
        "WHERE projection = ? AND shard < ?");
    if (!select.ok()) {
        return select.status();
    }
    select->bind_text(1, key);
    select->bind_int(2, shard_count);
    std::vector<StoredOffset> offsets(shard_count);
    std::vector<bool> seen(shard_count, false);
    sql::Step step = sql::Step::done;
    while ((step = select->step()) == sql::Step::row) {
        auto shard = static_cast<std::size_t>(from_column(select->column_int(0)));
        offsets[shard] = {ShardOffset(from_column(select->column_int(1))),
                          UnixMs{select->column_int(2)}};
        seen[shard] = true;
    }
    if (step == sql::Step::error) {
        return select->error("load offsets");
    }
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        if (!seen[shard]) {
            return Status(Errc::corruption, "no offset row for " + std::string(key) + " shard " +
                                                std::to_string(shard));
        }
    }
    return offsets;
}

Result<StoredOffset> load_offset(sql::Connection& db, std::string_view key, ShardId shard) {
    auto select = db.prepare(
        "SELECT last_offset, last_written_at_unix_ms FROM projection_offsets "
        "WHERE projection = ? AND shard = ?");
    if (!select.ok()) {
        return select.status();
    }
    select->bind_text(1, key);
    select->bind_int(2, shard.value);
    sql::Step step = select->step();
    if (step == sql::Step::error) {
        return select->error("load offset");
    }
    if (step == sql::Step::done) {
        return Status(Errc::corruption, "no offset row for " + std::string(key) + " shard " +
                                            std::to_string(shard.value));
    }
    return StoredOffset{ShardOffset(from_column(select->column_int(0))),
                        UnixMs{select->column_int(1)}};
}

Status advance_offset(sql::Connection& db,
                      std::string_view key,
                      ShardId shard,
                      ShardOffset expected,
                      const StoredOffset& next) {
    QRPAY_ASSERT(next.offset > expected, "an offset only moves forward");
    auto update = db.prepare(
        "UPDATE projection_offsets SET last_offset = ?, last_written_at_unix_ms = ? "
        "WHERE projection = ? AND shard = ? AND last_offset = ?");
    if (!update.ok()) {
        return update.status();
    }
    update->bind_int(1, to_column(next.offset.value));
    update->bind_int(2, next.written_at.value);
    update->bind_text(3, key);
    update->bind_int(4, shard.value);
    update->bind_int(5, to_column(expected.value));
    if (Status done = update->run("advance offset"); !done.ok()) {
        return done;
    }
    if (db.changes() != 1) {
        return {Errc::conflict, "offset of " + std::string(key) + " shard " +
                                    std::to_string(shard.value) + " moved under us"};
    }
    return {};
}

Result<std::uint64_t> ensure_generation(sql::Connection& db, std::string_view key) {
    auto insert = db.prepare(
        "INSERT INTO projection_generations (projection, generation) VALUES (?, 1) "
        "ON CONFLICT (projection) DO NOTHING");
    if (!insert.ok()) {
        return insert.status();
    }
    insert->bind_text(1, key);
    if (Status done = insert->run("insert generation"); !done.ok()) {
        return done;
    }
    auto select = db.prepare("SELECT generation FROM projection_generations WHERE projection = ?");
    if (!select.ok()) {
        return select.status();
    }
    select->bind_text(1, key);
    if (select->step() != sql::Step::row) {
        return select->error("load generation");
    }
    return from_column(select->column_int(0));
}

}  // namespace qrpay::projection
