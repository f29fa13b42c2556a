#include "cli/metrics.h"

#include "journal/sqlite/sqlite_journal.h"

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

// Group commit made visible: appends_committed / commits is the mean group size.
void append_journal_metrics(std::string& out, const journal::SqliteJournalStats& stats) {
    const std::pair<const char*, std::uint64_t> counters[] = {
        {"qrpay_journal_commits_total", stats.commits},
        {"qrpay_journal_appends_committed_total", stats.appends_committed},
        {"qrpay_journal_writes_refused_total", stats.writes_refused},
        {"qrpay_journal_groups_failed_total", stats.groups_failed},
        {"qrpay_journal_groups_retried_isolated_total", stats.groups_retried_isolated},
        {"qrpay_journal_checkpoints_total", stats.checkpoints},
        {"qrpay_journal_checkpoint_failures_total", stats.checkpoint_failures},
        {"qrpay_journal_key_claims_forgotten_total", stats.claims_forgotten},
    };
    for (const auto& [name, value] : counters) {
        out += std::string("# TYPE ") + name + " counter\n" + name + " " + std::to_string(value) +
               "\n";
    }
}

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
    append_journal_metrics(out, journal::sqlite_journal_stats(*sources.journal));
    return out;
}

}  // namespace qrpay::cli
