#pragma once
// Which journal a command opens: the SQLite file of its data directory (the default), or a
// PostgreSQL database named by --journal URL. Also what each kind reports to /metrics and
// /readyz, so that serve never asks which kind it has.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "journal/journal.h"

namespace CLI {
class App;
}  // namespace CLI

namespace qrpay::cli {

struct JournalChoice {
    // Empty: SQLite in data_dir. Else a postgresql:// URL, or several separated by commas: one
    // PostgreSQL database per partition, shards spread over them by range (a comma inside a
    // URL, between the hosts of one server, stays part of it).
    std::string url;
    std::uint32_t shard_count = 64;  // PostgreSQL: stored in each partition, checked at start
    std::string data_dir;            // for SQLite
    // PostgreSQL only: how long to keep trying while no server answers (each failure logged
    // with its reason); a stop signal (SIGINT, SIGTERM) ends the wait at once.
    std::chrono::milliseconds connect_wait{std::chrono::minutes(5)};
    // PostgreSQL only: called with why, each time the wait goes on (serve answers /readyz with
    // it meanwhile). May be empty.
    std::function<void(const std::string& reason)> on_wait{};
};

// "URL1,URL2" -> {URL1, URL2}: a new URL starts at a comma followed by a scheme.
std::vector<std::string> split_journal_urls(const std::string& urls);

// unavailable when PostgreSQL did not answer within connect_wait or a stop signal came first
// (REQUIRES: SIGINT and SIGTERM blocked in the caller, as serve does), else the journal's own
// open error.
Result<std::unique_ptr<journal::Journal>> open_journal(const JournalChoice& choice);

// The journal's counters in the Prometheus text format.
std::string journal_metrics(const journal::Journal& journal, const JournalChoice& choice);

// Why the journal cannot take writes now ("" when it can): PostgreSQL's writer disconnected.
std::string journal_not_ready_reason(const journal::Journal& journal, const JournalChoice& choice);

// `qrpay db migrate --journal URL[,URL...]`: creates or upgrades the PostgreSQL journal's
// schema in each database.
struct DbConfig {
    std::string journal_url;
};
void add_db(CLI::App& root, DbConfig& config);
int run_db(const DbConfig& config);

}  // namespace qrpay::cli
