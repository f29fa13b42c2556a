#include "cli/journal_open.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <utility>

#include "base/hash.h"
#include "base/log.h"
#include "journal/partitioned_journal.h"
#include "journal/postgres/pg_journal.h"
#include "journal/postgres/pg_schema.h"
#include "journal/sqlite/sqlite_journal.h"
#include "postgres/connection.h"
#include "sql/connection.h"

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

// Each partition's database must say it is that partition of that many, over that many
// shards (checked at open, on the journal's own connection).
Result<std::unique_ptr<journal::Journal>> open_postgres(
    const JournalChoice& choice,
    const std::string& url,
    const journal::postgres::PartitionMap& map) {
    const auto deadline = std::chrono::steady_clock::now() + choice.connect_wait;
    for (;;) {
        auto journal = journal::open_pg_journal({.url = url, .partition_map = map});
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
        if (choice.on_wait) {
            choice.on_wait(journal.status().message());
        }
        if (stop_signal_within(connect_retry_interval)) {
            return Status(Errc::unavailable, "stopped while waiting for PostgreSQL");
        }
    }
}

Result<std::unique_ptr<journal::Journal>> open_partitions(const JournalChoice& choice) {
    const std::vector<std::string> urls = split_journal_urls(choice.url);
    if (urls.size() > choice.shard_count) {
        return Status(Errc::invalid_argument, "more journal partitions than shards");
    }
    std::vector<std::unique_ptr<journal::Journal>> partitions;
    for (std::size_t i = 0; i < urls.size(); ++i) {
        if (!sql::is_postgres_url(urls[i])) {
            return Status(Errc::invalid_argument,
                          "--journal takes postgresql:// URLs (or nothing, for SQLite in the "
                          "data directory)");
        }
        const journal::postgres::PartitionMap map{.index = static_cast<std::uint32_t>(i),
                                                  .count = static_cast<std::uint32_t>(urls.size()),
                                                  .shard_count = choice.shard_count};
        auto journal = open_postgres(choice, urls[i], map);
        if (!journal.ok()) {
            return journal.status();
        }
        partitions.push_back(std::move(journal).value());
    }
    if (partitions.size() == 1) {
        return std::move(partitions.front());
    }
    const std::uint32_t shard_count = choice.shard_count;
    return journal::make_partitioned_journal(
        std::move(partitions), shard_count, [shard_count](const std::string& persistence_id) {
            return shard_of(persistence_id, shard_count);  // the runtime's own function
        });
}

void append_counters(std::string& out,
                     std::initializer_list<std::pair<const char*, std::uint64_t>> counters) {
    for (const auto& [name, value] : counters) {
        out += std::string("# TYPE ") + name + " counter\n" + name + " " + std::to_string(value) +
               "\n";
    }
}

}  // namespace

std::vector<std::string> split_journal_urls(const std::string& urls) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t comma = urls.find(','); comma != std::string::npos;
         comma = urls.find(',', comma + 1)) {
        if (sql::is_postgres_url(urls.substr(comma + 1))) {
            out.push_back(urls.substr(start, comma - start));
            start = comma + 1;
        }
    }
    out.push_back(urls.substr(start));
    return out;
}

Result<std::unique_ptr<journal::Journal>> open_journal(const JournalChoice& choice) {
    if (choice.url.empty()) {
        return journal::open_sqlite_journal({.path = choice.data_dir + "/journal.sqlite3"});
    }
    if (!sql::is_postgres_url(choice.url)) {
        return Status(Errc::invalid_argument,
                      "--journal takes a postgresql:// URL (or nothing, for SQLite in the data "
                      "directory)");
    }
    return open_partitions(choice);
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
    journal::PgJournalStats stats;
    std::size_t connected = 0;
    for (const journal::Journal* partition : journal::partitions_of(journal)) {
        const journal::PgJournalStats each = journal::pg_journal_stats(*partition);
        stats.commits += each.commits;
        stats.appends_committed += each.appends_committed;
        stats.writes_refused += each.writes_refused;
        stats.fenced_appends += each.fenced_appends;
        stats.groups_failed += each.groups_failed;
        stats.groups_retried_isolated += each.groups_retried_isolated;
        stats.reconnects += each.reconnects;
        stats.claims_forgotten += each.claims_forgotten;
        connected += each.writer_connected ? 1 : 0;
    }
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
    // The partitions whose writer is connected now (1 with a single database).
    out += "# TYPE qrpay_journal_connected gauge\nqrpay_journal_connected " +
           std::to_string(connected) + "\n";
    return out;
}

std::string journal_not_ready_reason(const journal::Journal& journal, const JournalChoice& choice) {
    if (choice.url.empty()) {
        return "";
    }
    const std::vector<const journal::Journal*> partitions = journal::partitions_of(journal);
    for (std::size_t i = 0; i < partitions.size(); ++i) {
        if (!journal::pg_journal_stats(*partitions[i]).writer_connected) {
            return "journal_unavailable: the journal writer" +
                   (partitions.size() > 1 ? " of partition " + std::to_string(i) : "") +
                   " has no connection to PostgreSQL (see the log); it reconnects by itself";
        }
    }
    return "";
}

void add_db(CLI::App& root, DbConfig& config) {
    CLI::App* db = root.add_subcommand("db", "the PostgreSQL journal's schema");
    CLI::App* migrate = db->add_subcommand(
        "migrate", "create the journal's schema in an empty database, or upgrade an older one");
    migrate->add_option("--journal", config.journal_url, "postgresql:// URL of the journal")
        ->required();
    db->require_subcommand(1);
}

namespace {

int migrate_one(const std::string& url) {
    if (!sql::is_postgres_url(url)) {
        std::fprintf(stderr, "qrpay db migrate: --journal takes postgresql:// URLs\n");
        return 2;
    }
    auto connection = postgres::Connection::open(url);
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

}  // namespace

int run_db(const DbConfig& config) {
    for (const std::string& url : split_journal_urls(config.journal_url)) {
        if (int code = migrate_one(url); code != 0) {
            return code;
        }
    }
    return 0;
}

}  // namespace qrpay::cli
