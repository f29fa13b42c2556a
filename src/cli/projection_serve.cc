#include "cli/projection_serve.h"

#include <cstdio>

#include "base/log.h"
#include "domain/token/token.h"

namespace qrpay::cli {
namespace {

std::string seconds_text(std::int64_t milliseconds) {
    char text[32];
    std::snprintf(text, sizeof text, "%lld.%03lld", static_cast<long long>(milliseconds / 1000),
                  static_cast<long long>(milliseconds % 1000));
    return text;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string label(const std::string& projection) { return "projection=\"" + projection + "\""; }

void render_lag(std::string& out, const projection::EngineStats& stats) {
    const char* name = "qrpay_projection_lag_seconds";
    family(out, name, "histogram",
           "Time from an event's journal write (written_at) to its read-model commit.");
    std::uint64_t cumulative = 0;
    const auto& bounds = projection::LagHistogram::bucket_bounds_ms;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += stats.lag.counts[i];
        out += std::string(name) + "_bucket{" + label(stats.name) + ",le=\"" +
               seconds_text(bounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += std::string(name) + "_bucket{" + label(stats.name) + ",le=\"+Inf\"} " +
           std::to_string(stats.lag.count) + "\n";
    out += std::string(name) + "_sum{" + label(stats.name) + "} " + seconds_text(stats.lag.sum_ms) +
           "\n";
    out += std::string(name) + "_count{" + label(stats.name) + "} " +
           std::to_string(stats.lag.count) + "\n";
    family(out, "qrpay_projection_lag_max_seconds", "gauge", "Largest lag seen since start.");
    out += "qrpay_projection_lag_max_seconds{" + label(stats.name) + "} " +
           seconds_text(stats.lag.max_ms) + "\n";
}

void render_counter(std::string& out,
                    const char* name,
                    const char* type,
                    const char* help,
                    const std::string& projection,
                    std::uint64_t value) {
    family(out, name, type, help);
    out += std::string(name) + "{" + label(projection) + "} " + std::to_string(value) + "\n";
}

// One sample per stopped shard, naming the event it stopped at.
void render_stopped(std::string& out, const projection::EngineStats& stats) {
    family(out, "qrpay_projection_shard_stopped", "gauge",
           "1 for each shard whose projection is stopped at an event (retrying).");
    for (std::size_t shard = 0; shard < stats.shards.size(); ++shard) {
        const auto& failure = stats.shards[shard].failure;
        if (!failure) {
            continue;
        }
        out += "qrpay_projection_shard_stopped{" + label(stats.name) + ",shard=\"" +
               std::to_string(shard) + "\",offset=\"" + std::to_string(failure->offset.value) +
               "\",persistence_id=\"" + domain::loggable_persistence_id(failure->persistence_id) +
               "\",seq=\"" + std::to_string(failure->seq.value) + "\"} 1\n";
    }
}

}  // namespace

std::string read_model_path(const std::string& data_dir) { return data_dir + "/readmodel.sqlite3"; }

std::string read_model_location(const std::string& data_dir, const std::string& read_model) {
    return read_model.empty() ? read_model_path(data_dir) : read_model;
}

std::string loggable_location(const std::string& location) {
    const std::size_t scheme_end = location.find("://");
    const std::size_t at = location.find('@');
    if (scheme_end == std::string::npos || at == std::string::npos || at < scheme_end) {
        return location;
    }
    return location.substr(0, scheme_end + 3) + location.substr(at + 1);
}

Result<std::unique_ptr<QuerySide>> QuerySide::open(const std::string& location,
                                                   std::uint32_t shard_count,
                                                   journal::Journal& journal,
                                                   const Clock& clock,
                                                   const QueryConfig& config,
                                                   std::function<bool(ShardId shard)> projects) {
    auto faults = projection::parse_fault_points(config.projection_fault);
    if (!faults.ok()) {
        return faults.status();
    }
    auto zone = projection::TimeZone::load(config.business_time_zone);
    if (!zone.ok()) {
        return zone.status();
    }
    auto store = projection::Store::open({.path = location});
    if (!store.ok()) {
        return store.status();
    }
    std::unique_ptr<QuerySide> side(new QuerySide());
    side->store_ = std::move(store).value();
    side->projection_ =
        std::make_unique<projection::payments::PaymentsProjection>(std::move(zone).value());
    side->engine_ = std::make_unique<projection::Engine>(
        journal, *side->store_, *side->projection_, clock,
        projection::EngineOptions{.shard_count = shard_count,
                                  .faults = *faults,
                                  .loggable_id = domain::loggable_persistence_id,
                                  .projects = std::move(projects)});
    if (Status opened = side->engine_->open(); !opened.ok()) {
        return opened;
    }
    if (faults->any()) {
        QRPAY_LOG_WARN("projection fault points are on: %s", config.projection_fault.c_str());
    }
    QRPAY_LOG_INFO("read model in %s, business time zone %s", loggable_location(location).c_str(),
                   config.business_time_zone.c_str());
    return side;
}

std::string QuerySide::metrics() const {
    projection::EngineStats stats = engine_->stats();
    std::string out;
    render_lag(out, stats);
    render_counter(out, "qrpay_projection_events_applied_total", "counter",
                   "Events applied to the read model.", stats.name, stats.events_applied);
    render_counter(out, "qrpay_projection_transactions_total", "counter",
                   "Read-model transactions committed.", stats.name, stats.transactions_committed);
    render_counter(out, "qrpay_projection_apply_failures_total", "counter",
                   "Failed attempts to move a shard's projection past an event.", stats.name,
                   stats.apply_failures);
    render_counter(out, "qrpay_projection_store_failures_total", "counter",
                   "Read-model transactions that failed as a whole.", stats.name,
                   stats.store_failures);
    std::uint64_t behind = 0;
    std::uint64_t stopped = 0;
    for (const auto& shard : stats.shards) {
        behind += shard.durable > shard.applied ? shard.durable.value - shard.applied.value : 0;
        stopped += shard.failure ? 1 : 0;
    }
    render_counter(out, "qrpay_projection_events_behind", "gauge",
                   "Events durable in the journal and not yet applied.", stats.name, behind);
    render_counter(out, "qrpay_projection_shards_stopped", "gauge",
                   "Shards whose projection is stopped at an event.", stats.name, stopped);
    render_stopped(out, stats);
    return out;
}

std::string QuerySide::stop_reason() const {
    if (engine_->healthy()) {
        return "";
    }
    projection::EngineStats stats = engine_->stats();
    // Unauthenticated: where it stopped; the log has the message.
    std::string text = "projection " + stats.name + " is stopped";
    for (std::size_t shard = 0; shard < stats.shards.size(); ++shard) {
        if (const auto& failure = stats.shards[shard].failure) {
            text += "\nshard " + std::to_string(shard) + " at offset " +
                    std::to_string(failure->offset.value) + " (" +
                    (failure->persistence_id.empty()
                         ? std::string("no event")
                         : domain::loggable_persistence_id(failure->persistence_id)) +
                    " seq " + std::to_string(failure->seq.value) + "); see the log";
        }
    }
    return text;
}

}  // namespace qrpay::cli
