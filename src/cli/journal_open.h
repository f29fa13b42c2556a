#pragma once
// Which journal a command opens: the SQLite file of its data directory (the default), or a
// PostgreSQL database named by --journal URL. Also what each kind reports to /metrics and
// /readyz, so that serve never asks which kind it has.

#include <chrono>
#include <memory>
#include <string>

#include "base/status.h"
#include "journal/journal.h"

namespace CLI {
class App;
}  // namespace CLI

namespace qrpay::cli {

struct JournalChoice {
    std::string url;       // empty: SQLite in data_dir; else a postgresql:// URL
    std::string data_dir;  // for SQLite
    // PostgreSQL only: how long to keep trying while no server answers (each failure logged
    // with its reason); a stop signal (SIGINT, SIGTERM) ends the wait at once.
    std::chrono::milliseconds connect_wait{std::chrono::minutes(5)};
};

// True for a libpq URL ("postgresql://" or "postgres://").
bool is_postgres_url(const std::string& url);

// unavailable when PostgreSQL did not answer within connect_wait or a stop signal came first
// (REQUIRES: SIGINT and SIGTERM blocked in the caller, as serve does), else the journal's own
// open error.
Result<std::unique_ptr<journal::Journal>> open_journal(const JournalChoice& choice);

// The journal's counters in the Prometheus text format.
std::string journal_metrics(const journal::Journal& journal, const JournalChoice& choice);

// Why the journal cannot take writes now ("" when it can): PostgreSQL's writer disconnected.
std::string journal_not_ready_reason(const journal::Journal& journal, const JournalChoice& choice);

// `qrpay db migrate --journal URL`: creates or upgrades the PostgreSQL journal's schema.
struct DbConfig {
    std::string journal_url;
};
void add_db(CLI::App& root, DbConfig& config);
int run_db(const DbConfig& config);

}  // namespace qrpay::cli
