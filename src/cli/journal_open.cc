#include "cli/journal_open.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <utility>

#include "base/log.h"
#include "journal/postgres/pg_journal.h"
#include "journal/postgres/pg_schema.h"
#include "journal/sqlite/sqlite_journal.h"
#include "postgres/connection.h"

namespace qrpay::cli {

namespace {

constexpr std::chrono::milliseconds connect_retry_interval{1'000};

// Sleeps up to `wait`; true when SIGINT or SIGTERM came meanwhile (it is consumed: the caller
// stops).
bool stop_signal_within(std::chrono::milliseconds wait) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    const timespec timeout{.tv_sec = static_cast<time_t>(wait.count() / 1000),
                           .tv_nsec = static_cast<long>((wait.count() % 1000) * 1'000'000)};
    return sigtimedwait(&signals, nullptr, &timeout) > 0;
}

Result<std::unique_ptr<journal::Journal>> open_postgres(const JournalChoice& choice) {
    const auto deadline = std::chrono::steady_clock::now() + choice.connect_wait;
    for (;;) {
        auto journal = journal::open_pg_journal({.url = choice.url});
        if (journal.ok() || journal.status().code() != Errc::unavailable) {
            return journal;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return Status(Errc::unavailable, "PostgreSQL did not answer within " +
                                                 std::to_string(choice.connect_wait.count()) +
                                                 " ms: " + journal.status().message());
        }
        QRPAY_LOG_WARN("journal: waiting for PostgreSQL (retrying every %lld ms): %s",
                       static_cast<long long>(connect_retry_interval.count()),
                       journal.status().message().c_str());
        if (stop_signal_within(connect_retry_interval)) {
            return Status(Errc::unavailable, "stopped while waiting for PostgreSQL");
        }
    }
}

void append_counters(std::string& out,
                     std::initializer_list<std::pair<const char*, std::uint64_t>> counters) {
    for (const auto& [name, value] : counters) {
        out += std::string("# TYPE ") + name + " counter\n" + name + " " + std::to_string(value) +
               "\n";
    }
}

}  // namespace

bool is_postgres_url(const std::string& url) {
    return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

Result<std::unique_ptr<journal::Journal>> open_journal(const JournalChoice& choice) {
    if (choice.url.empty()) {
        return journal::open_sqlite_journal({.path = choice.data_dir + "/journal.sqlite3"});
    }
    if (!is_postgres_url(choice.url)) {
        return Status(Errc::invalid_argument,
                      "--journal takes a postgresql:// URL (or nothing, for SQLite in the data "
                      "directory)");
    }
    return open_postgres(choice);
}

// Group commit made visible: appends_committed / commits is the mean group size.
std::string journal_metrics(const journal::Journal& journal, const JournalChoice& choice) {
    std::string out;
    if (choice.url.empty()) {
        const journal::SqliteJournalStats stats = journal::sqlite_journal_stats(journal);
        append_counters(
            out, {
                     {"qrpay_journal_commits_total", stats.commits},
                     {"qrpay_journal_appends_committed_total", stats.appends_committed},
                     {"qrpay_journal_writes_refused_total", stats.writes_refused},
                     {"qrpay_journal_groups_failed_total", stats.groups_failed},
                     {"qrpay_journal_groups_retried_isolated_total", stats.groups_retried_isolated},
                     {"qrpay_journal_checkpoints_total", stats.checkpoints},
                     {"qrpay_journal_checkpoint_failures_total", stats.checkpoint_failures},
                     {"qrpay_journal_key_claims_forgotten_total", stats.claims_forgotten},
                 });
        return out;
    }
    const journal::PgJournalStats stats = journal::pg_journal_stats(journal);
    append_counters(
        out, {
                 {"qrpay_journal_commits_total", stats.commits},
                 {"qrpay_journal_appends_committed_total", stats.appends_committed},
                 {"qrpay_journal_writes_refused_total", stats.writes_refused},
                 {"qrpay_journal_fenced_appends_total", stats.fenced_appends},
                 {"qrpay_journal_groups_failed_total", stats.groups_failed},
                 {"qrpay_journal_groups_retried_isolated_total", stats.groups_retried_isolated},
                 {"qrpay_journal_reconnects_total", stats.reconnects},
                 {"qrpay_journal_key_claims_forgotten_total", stats.claims_forgotten},
             });
    out += "# TYPE qrpay_journal_connected gauge\nqrpay_journal_connected " +
           std::string(stats.writer_connected ? "1" : "0") + "\n";
    return out;
}

std::string journal_not_ready_reason(const journal::Journal& journal, const JournalChoice& choice) {
    if (choice.url.empty() || journal::pg_journal_stats(journal).writer_connected) {
        return "";
    }
    return "journal_unavailable: the journal writer has no connection to PostgreSQL (see the "
           "log); it reconnects by itself";
}

void add_db(CLI::App& root, DbConfig& config) {
    CLI::App* db = root.add_subcommand("db", "the PostgreSQL journal's schema");
    CLI::App* migrate = db->add_subcommand(
        "migrate", "create the journal's schema in an empty database, or upgrade an older one");
    migrate->add_option("--journal", config.journal_url, "postgresql:// URL of the journal")
        ->required();
    db->require_subcommand(1);
}

int run_db(const DbConfig& config) {
    if (!is_postgres_url(config.journal_url)) {
        std::fprintf(stderr, "qrpay db migrate: --journal takes a postgresql:// URL\n");
        return 2;
    }
    auto connection = postgres::Connection::open(config.journal_url);
    if (!connection.ok()) {
        std::fprintf(stderr, "qrpay db migrate: %s\n", connection.status().to_string().c_str());
        return 1;
    }
    auto before = journal::postgres::stored_schema_version(**connection);
    Status migrated = before.ok() ? journal::postgres::ensure_schema(
                                        **connection, journal::postgres::SchemaChange::migrate)
                                  : before.status();
    if (!migrated.ok()) {
        std::fprintf(stderr, "qrpay db migrate: %s\n", migrated.to_string().c_str());
        return 1;
    }
    std::printf("journal schema at version %lld (was %lld)\n",
                static_cast<long long>(journal::postgres::schema_version),
                static_cast<long long>(*before));
    return 0;
}

}  // namespace qrpay::cli
