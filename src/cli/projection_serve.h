#pragma once
// The query side of `qrpay serve` (issue 5): the read-model store (a SQLite file in the data
// directory, or PostgreSQL), the
// payments projection and the engine that feeds it, their metrics and their readiness.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "http/server.h"
#include "journal/journal.h"
#include "projection/engine.h"
#include "projection/payments/payments_projection.h"
#include "projection/store.h"
#include "projection/time_zone.h"

namespace qrpay::cli {

struct QueryConfig {
    // Where the read models live: a postgresql:// URL, or empty for the data directory's
    // SQLite file (serve makes it the journal's URL when the journal is in PostgreSQL).
    std::string read_model;
    std::string business_time_zone{projection::default_business_time_zone};
    std::string projection_fault;           // fault points (projection/fault_points.h); tests only
    std::size_t sse_subscribers_max = 512;  // half the default connection limit
};

// The read models' file inside a data directory.
std::string read_model_path(const std::string& data_dir);
// `read_model` when set, else read_model_path(data_dir).
std::string read_model_location(const std::string& data_dir, const std::string& read_model);
// A location fit for a log: a URL without its user and password.
std::string loggable_location(const std::string& location);

class QuerySide {
public:
    // Opens the read models at `location` (read_model_location()) and the payments
    // projection's engine (not started), which projects the shards `projects` takes (empty:
    // all; a cluster node: those it serves). REQUIRES: journal and clock outlive the QuerySide.
    static Result<std::unique_ptr<QuerySide>> open(
        const std::string& location,
        std::uint32_t shard_count,
        journal::Journal& journal,
        const Clock& clock,
        const QueryConfig& config,
        std::function<bool(ShardId shard)> projects = {});

    projection::Engine& engine() { return *engine_; }
    projection::Store& store() { return *store_; }
    [[nodiscard]] const projection::TimeZone& business_zone() const {
        return projection_->business_zone();
    }

    // Prometheus text of the engine: lag histogram, events, failures, stopped shards.
    [[nodiscard]] std::string metrics() const;
    // Why the read model is behind for good, while a shard's projection is stopped at an
    // event: which shard, offset and event (for /readyz); "" while it is healthy.
    [[nodiscard]] std::string stop_reason() const;

private:
    QuerySide() = default;

    std::unique_ptr<projection::Store> store_;
    std::unique_ptr<projection::payments::PaymentsProjection> projection_;
    std::unique_ptr<projection::Engine> engine_;
};

}  // namespace qrpay::cli
