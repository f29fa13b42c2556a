#include "projection/rebuild.h"

#include <string>

#include "base/assert.h"
#include "base/log.h"
#include "projection/engine.h"
#include "sql/connection.h"

namespace qrpay::projection {

Rebuilder::Rebuilder(journal::Journal& journal,
                     Store& store,
                     const Projection& projection,
                     const Clock& clock,
                     RebuildOptions options)
    : journal_(journal), store_(store), projection_(projection), clock_(clock), options_(options) {
    const std::string_view name = projection_.name();
    QRPAY_ASSERT(!name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") ==
                                      std::string_view::npos,
                 "projection names are snake_case (they are spliced into SQL)");
}

Status Rebuilder::prepare() {
    auto db = store_.open_writer();
    if (!db.ok()) {
        return db.status();
    }
    sql::Connection& writer = **db;
    const std::string name(projection_.name());
    const std::string key = rebuild_key(name);
    return sql::in_transaction(writer, sql::Begin::immediate, [&]() -> Status {
        for (const std::string& table : projection_.table_names()) {
            Status dropped = writer.run_script("DROP TABLE IF EXISTS " + table +
                                               std::string(rebuild_table_suffix));
            if (!dropped.ok()) {
                return dropped;
            }
        }
        auto live_generation = ensure_generation(writer, name);
        if (!live_generation.ok()) {
            return live_generation.status();
        }
        for (const char* sql : {"DELETE FROM projection_offsets WHERE projection = ?",
                                "DELETE FROM projection_generations WHERE projection = ?"}) {
            auto deleted = writer.prepare(sql);
            if (!deleted.ok()) {
                return deleted.status();
            }
            deleted->bind_text(1, key);
            if (Status done = deleted->run("clear rebuild"); !done.ok()) {
                return done;
            }
        }
        auto insert = writer.prepare(
            "INSERT INTO projection_generations (projection, generation) VALUES (?, ?)");
        if (!insert.ok()) {
            return insert.status();
        }
        insert->bind_text(1, key);
        insert->bind_int(2, static_cast<std::int64_t>(*live_generation + 1));
        return insert->run("insert rebuild generation");
    });
}

Status Rebuilder::catch_up() {
    Engine engine(journal_, store_, projection_, clock_,
                  {.shard_count = options_.shard_count, .rebuild = true});
    if (Status opened = engine.open(); !opened.ok()) {
        return opened;
    }
    Status caught_up = engine.catch_up(options_.catch_up_rounds_max);
    EngineStats stats = engine.stats();
    QRPAY_LOG_INFO("rebuild of %s: %llu events applied into the fresh tables",
                   engine.name().c_str(), static_cast<unsigned long long>(stats.events_applied));
    return caught_up;
}

Status Rebuilder::swap() {
    for (std::size_t attempt = 0; attempt < options_.swap_tries_max; ++attempt) {
        bool swapped = false;
        if (Status tried = try_swap(swapped); !tried.ok()) {
            return tried;
        }
        if (swapped) {
            QRPAY_LOG_INFO("rebuild of %s: the rebuilt tables replaced the live ones",
                           std::string(projection_.name()).c_str());
            return {};
        }
        // The live engine got ahead of the rebuild in between: catch up again, then retry.
        if (Status caught_up = catch_up(); !caught_up.ok()) {
            return caught_up;
        }
    }
    return {Errc::timeout, "the rebuild could not catch up with the live projection"};
}

// One attempt: `swapped` stays false (and nothing changes) when a live offset is ahead.
Status Rebuilder::try_swap(bool& swapped) {
    auto db = store_.open_writer();
    if (!db.ok()) {
        return db.status();
    }
    sql::Connection& writer = **db;
    const std::string name(projection_.name());
    const std::string key = rebuild_key(name);
    return sql::in_transaction(writer, sql::Begin::immediate, [&]() -> Status {
        auto rebuilt = load_offsets(writer, key, options_.shard_count);
        if (!rebuilt.ok()) {
            return rebuilt.status();
        }
        if (Status ensured = ensure_offsets(writer, name, options_.shard_count); !ensured.ok()) {
            return ensured;
        }
        auto live = load_offsets(writer, name, options_.shard_count);
        if (!live.ok()) {
            return live.status();
        }
        for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
            if ((*rebuilt)[shard].offset < (*live)[shard].offset) {
                return {};  // rolled into a plain COMMIT of nothing; swapped stays false
            }
        }
        std::string script;
        for (const std::string& table : projection_.table_names()) {
            script += "DROP TABLE IF EXISTS " + table + ";\nALTER TABLE " + table +
                      std::string(rebuild_table_suffix) + " RENAME TO " + table + ";\n";
        }
        script += "DELETE FROM projection_offsets WHERE projection = '" + name + "';\n" +
                  "UPDATE projection_offsets SET projection = '" + name + "' WHERE projection = '" +
                  key + "';\n" + "DELETE FROM projection_generations WHERE projection = '" + name +
                  "';\n" + "UPDATE projection_generations SET projection = '" + name +
                  "' WHERE projection = '" + key + "';\n";
        if (Status done = writer.run_script(script); !done.ok()) {
            return done;
        }
        swapped = true;
        return {};
    });
}

Status Rebuilder::run() {
    if (Status prepared = prepare(); !prepared.ok()) {
        return prepared;
    }
    if (Status caught_up = catch_up(); !caught_up.ok()) {
        return caught_up;
    }
    return swap();
}

}  // namespace qrpay::projection
