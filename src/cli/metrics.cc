#include "cli/metrics.h"

namespace qrpay::cli {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const char* name, std::string_view entity_type, std::uint64_t value) {
    out += std::string(name) + "{entity_type=\"" + std::string(entity_type) + "\"} " +
           std::to_string(value) + "\n";
}

template <class Host>
runtime::EntityHostStats stats_of(const Host* host) {
    return host->stats();
}

}  // namespace

std::string render_metrics(const MetricsSources& sources) {
    struct Row {
        std::string_view type;
        runtime::EntityHostStats stats;
    };
    const Row rows[] = {
        {domain::Token::type_name, stats_of(sources.tokens)},
        {domain::Transaction::type_name, stats_of(sources.transactions)},
        {api::IdempotencyKey::type_name, stats_of(sources.keys)},
    };
    std::string out;
    family(out, "qrpay_entities_active", "gauge", "Entities in memory.");
    for (const auto& row : rows) {
        sample(out, "qrpay_entities_active", row.type, row.stats.active_entities);
    }
    family(out, "qrpay_commands_total", "counter", "Commands and wake-ups handled.");
    for (const auto& row : rows) {
        sample(out, "qrpay_commands_total", row.type, row.stats.commands);
    }
    family(out, "qrpay_events_persisted_total", "counter", "Events made durable.");
    for (const auto& row : rows) {
        sample(out, "qrpay_events_persisted_total", row.type, row.stats.events_persisted);
    }
    family(out, "qrpay_recoveries_total", "counter", "Entities recovered from the journal.");
    for (const auto& row : rows) {
        sample(out, "qrpay_recoveries_total", row.type, row.stats.recoveries);
    }
    family(out, "qrpay_passivations_total", "counter", "Idle entities unloaded.");
    for (const auto& row : rows) {
        sample(out, "qrpay_passivations_total", row.type, row.stats.passivations);
    }
    return out;
}

}  // namespace qrpay::cli
