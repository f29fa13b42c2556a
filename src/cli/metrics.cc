#include "cli/metrics.h"

namespace qrpay::cli {
namespace {

// One metric family: its name, type, help, and the field of EntityHostStats it shows.
struct Family {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t (*value)(const runtime::EntityHostStats&);
};

constexpr Family families[] = {
    {"qrpay_entities_active", "gauge", "Entities in memory.",
     [](const runtime::EntityHostStats& s) -> std::uint64_t { return s.active_entities; }},
    {"qrpay_commands_total", "counter", "Commands and wake-ups handled.",
     [](const runtime::EntityHostStats& s) { return s.commands; }},
    {"qrpay_events_persisted_total", "counter", "Events made durable.",
     [](const runtime::EntityHostStats& s) { return s.events_persisted; }},
    {"qrpay_recoveries_total", "counter", "Entities recovered from the journal.",
     [](const runtime::EntityHostStats& s) { return s.recoveries; }},
    {"qrpay_presumed_new_total", "counter",
     "Entities started empty without a journal read (ids just drawn at random).",
     [](const runtime::EntityHostStats& s) { return s.presumed_new; }},
    {"qrpay_presumed_new_wrong_total", "counter",
     "Of those, ids that existed after all (recovered, the command ran again).",
     [](const runtime::EntityHostStats& s) { return s.presumed_new_wrong; }},
    {"qrpay_passivations_total", "counter", "Idle entities unloaded.",
     [](const runtime::EntityHostStats& s) { return s.passivations; }},
    {"qrpay_entity_write_failures_total", "counter",
     "Appends that failed or may have (the entity then recovers and resumes by itself).",
     [](const runtime::EntityHostStats& s) { return s.write_failures; }},
    {"qrpay_entity_resumes_total", "counter",
     "Entities recovered and woken after a failed write, without a restart.",
     [](const runtime::EntityHostStats& s) { return s.resumes; }},
};

}  // namespace

std::string render_metrics(const MetricsSources& sources) {
    struct Row {
        std::string_view entity_type;
        runtime::EntityHostStats stats;
    };
    const Row rows[] = {
        {domain::Token::type_name, sources.tokens->stats()},
        {domain::Transaction::type_name, sources.transactions->stats()},
    };
    std::string out;
    for (const Family& family : families) {
        out += std::string("# HELP ") + family.name + " " + family.help + "\n# TYPE " +
               family.name + " " + family.type + "\n";
        for (const Row& row : rows) {
            out += std::string(family.name) + "{entity_type=\"" + std::string(row.entity_type) +
                   "\"} " + std::to_string(family.value(row.stats)) + "\n";
        }
    }
    return out;
}

}  // namespace qrpay::cli
