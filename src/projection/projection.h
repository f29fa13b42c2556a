#pragma once
// Projection: what a read model declares so that the engine can feed it (the talk's read-model
// updater). The engine knows shards, offsets and transactions; a projection knows its tables
// and what an event means for them. Nothing here names an entity type.
//
// A projection's tables exist in table sets: the live one under their base names, and a
// rebuild set beside it (base name + "_rebuild") that `qrpay projection rebuild` fills from
// the journal and then renames over the live one (rebuild.h).
//
// Thread safety: a Projection is immutable after construction; its methods are const and are
// called by one engine thread at a time per connection.

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "journal/journal.h"
#include "sql/connection.h"

namespace qrpay::projection {

// Names of one set of a projection's tables.
struct TableSet {
    std::string table_suffix;  // "" for the live tables, "_rebuild" for a rebuild
    std::string index_suffix;  // "_g<generation>": index names stay unique across renames

    // `base` + table_suffix.
    [[nodiscard]] std::string table(std::string_view base) const {
        return std::string(base) + table_suffix;
    }
    [[nodiscard]] std::string index(std::string_view base) const {
        return std::string(base) + index_suffix;
    }
};

inline constexpr std::string_view rebuild_table_suffix = "_rebuild";

class Projection {
public:
    virtual ~Projection() = default;

    // Stable, snake_case: keys the stored offsets and names the projection on the command line
    // and in metrics.
    [[nodiscard]] virtual std::string_view name() const = 0;
    // Base names of every table it owns (a rebuild drops and renames exactly these).
    [[nodiscard]] virtual std::vector<std::string> table_names() const = 0;
    // Creates the tables and indexes of `tables` when missing. Runs inside a transaction.
    virtual Status create_tables(sql::Connection& db, const TableSet& tables) const = 0;
    // Applies one event inside the engine's open transaction. Events come in shard-offset
    // order, so each entity's events come in sequence order, each exactly once. An error
    // stops the event's shard at this event (nothing of the event is kept) until a retry
    // succeeds; an event the projection does not care about returns ok and changes nothing.
    virtual Status apply(sql::Connection& db,
                         const TableSet& tables,
                         const journal::ShardEvent& event) const = 0;
};

}  // namespace qrpay::projection
