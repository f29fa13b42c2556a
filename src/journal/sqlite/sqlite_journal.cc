// The SQLite journal: a WriteQueue in front of one writer thread that runs GroupCommitter, and
// a ReadPool for reads. Schema and format: sqlite_schema.cc.

#include "journal/sqlite/sqlite_journal.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "journal/sqlite/checkpointer.h"
#include "journal/sqlite/group_commit.h"
#include "journal/sqlite/key_claims.h"
#include "journal/sqlite/sqlite_schema.h"
#include "journal/validation.h"
#include "journal/write_queue.h"
#include "journal/writer_front.h"
#include "sqlite/connection.h"
#include "sqlite/read_pool.h"
#include "sqlite/transaction.h"

namespace qrpay::journal {

namespace {

using qrpay::sqlite::Connection;
using qrpay::sqlite::from_column;
using qrpay::sqlite::ReadPool;
using qrpay::sqlite::Statement;
using qrpay::sqlite::Step;
using qrpay::sqlite::to_column;
using sqlite::GroupCommitter;
using sqlite::GroupOutcome;

constexpr const char* sql_read_events =
    "SELECT seq, type, payload, written_at_unix_ms FROM events "
    "WHERE persistence_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3";
constexpr const char* sql_read_shard =
    "SELECT shard_offset, persistence_id, seq, type, payload, written_at_unix_ms FROM events "
    "WHERE shard = ?1 AND shard_offset >= ?2 ORDER BY shard_offset LIMIT ?3";
constexpr const char* sql_load_snapshot =
    "SELECT seq, payload FROM snapshots WHERE persistence_id = ?1";
constexpr const char* sql_pending_wakeups =
    "SELECT persistence_id, wake_at_unix_ms FROM wakeups WHERE shard = ?1 "
    "ORDER BY wake_at_unix_ms, persistence_id";

std::int64_t limit_of(std::size_t max_count) {
    return to_column(std::min<std::uint64_t>(max_count, stored_number_max));
}

class SqliteJournal final : public Journal {
public:
    SqliteJournal(const SqliteJournalOptions& options,
                  std::unique_ptr<Connection> writer,
                  std::unique_ptr<Connection> checkpoint_connection);
    // Commits every write already queued and answers it, then joins the writer thread.
    ~SqliteJournal() override;
    SqliteJournal(const SqliteJournal&) = delete;
    SqliteJournal& operator=(const SqliteJournal&) = delete;
    SqliteJournal(SqliteJournal&&) = delete;
    SqliteJournal& operator=(SqliteJournal&&) = delete;

    Status start();  // starts the writer thread; unavailable when the OS refuses one
    [[nodiscard]] SqliteJournalStats stats() const;

    void append(AppendRequest request, AppendCallback done) override;
    Result<std::vector<StoredEvent>> read_events(const std::string& persistence_id,
                                                 SequenceNr from,
                                                 std::size_t max_count) override;
    Result<SequenceNr> highest_seq(const std::string& persistence_id) override;
    Result<std::vector<ShardEvent>> read_shard(ShardId shard,
                                               ShardOffset from,
                                               std::size_t max_count) override;
    // One read transaction for all: one lock and one page-cache check for the whole round.
    Result<std::vector<std::vector<ShardEvent>>> read_shards(
        const std::vector<ShardRead>& reads) override;
    Status save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) override;
    Result<std::optional<Snapshot>> load_snapshot(const std::string& persistence_id) override;
    Result<std::optional<KeyClaim>> find_key_claim(const std::string& key, UnixMs now) override;
    Result<std::size_t> key_claim_count() override;
    Status claim_shard(ShardId shard, FencingToken token) override;
    Result<FencingToken> current_fencing(ShardId shard) override;
    Result<std::vector<WakeEntry>> pending_wakeups(ShardId shard) override;
    void set_commit_listener(CommitListener listener) override;

private:
    static Result<std::vector<ShardEvent>> query_shard(Connection& connection,
                                                       ShardId shard,
                                                       ShardOffset from,
                                                       std::size_t max_count);
    void run_writer();
    void report(std::vector<PendingWrite>& group, GroupOutcome& outcome);
    // Writer thread: forgets expired key claims once claim_sweep_interval of written_at time
    // has passed since the last sweep, `group` telling how far written_at has come.
    void sweep_claims(const std::vector<PendingWrite>& group);

    const std::chrono::milliseconds key_retention_;
    const std::chrono::milliseconds claim_sweep_interval_;
    const std::size_t claims_forgotten_per_sweep_;

    // Used by the writer thread only, once start() ran.
    std::unique_ptr<Connection> writer_connection_;
    GroupCommitter committer_;
    UnixMs claims_swept_at_;  // the newest written_at at the last sweep

    WriterFront front_;  // thread-safe: the queue, the listener
    ReadPool readers_;   // thread-safe
    // Woken by the writer after each commit; outlives the writer thread (joined first).
    sqlite::Checkpointer checkpointer_;

    // Written by the writer thread, read by sqlite_journal_stats() on any thread.
    std::atomic<std::uint64_t> commits_{0};
    std::atomic<std::uint64_t> appends_committed_{0};
    std::atomic<std::uint64_t> writes_refused_{0};
    std::atomic<std::uint64_t> groups_failed_{0};
    std::atomic<std::uint64_t> groups_retried_isolated_{0};
    std::atomic<std::uint64_t> claims_forgotten_{0};

    std::thread writer_;  // started by start(), joined by the destructor
};

SqliteJournal::SqliteJournal(const SqliteJournalOptions& options,
                             std::unique_ptr<Connection> writer,
                             std::unique_ptr<Connection> checkpoint_connection)
    : key_retention_(options.key_retention),
      claim_sweep_interval_(options.claim_sweep_interval),
      claims_forgotten_per_sweep_(options.claims_forgotten_per_sweep),
      writer_connection_(std::move(writer)),
      committer_(*writer_connection_, options.seq_cache_entries_max, options.key_retention),
      front_({.queued_writes_max = options.queued_writes_max,
              .queued_bytes_max = options.queued_bytes_max,
              .group_events_max = options.group_events_max,
              .group_bytes_max = options.group_bytes_max,
              .group_wait = {.wait_max = options.group_wait_max,
                             .commit_share_percent = options.group_wait_commit_share_percent}}),
      readers_({.path = options.path,
                .connections_max = options.read_connections_max,
                .wait_max = options.read_wait_max,
                .lock_wait_max = options.lock_wait_max}),
      checkpointer_(std::move(checkpoint_connection), options.checkpoint_interval_min) {}

SqliteJournal::~SqliteJournal() {
    front_.queue().close();
    if (writer_.joinable()) {
        writer_.join();
    }
}

Status SqliteJournal::start() {
    QRPAY_ASSERT(!writer_.joinable(), "journal writer started twice");
    if (Status started = checkpointer_.start(); !started.ok()) {
        return started;
    }
    try {
        writer_ = std::thread([this] {
            set_current_thread_name("journal-writer");
            run_writer();
        });
    } catch (const std::system_error& error) {
        return {Errc::unavailable, std::string("cannot start the journal writer: ") + error.what()};
    }
    return {};
}

SqliteJournalStats SqliteJournal::stats() const {
    sqlite::CheckpointerStats checkpoints = checkpointer_.stats();
    return {.commits = commits_.load(),
            .appends_committed = appends_committed_.load(),
            .writes_refused = writes_refused_.load(),
            .groups_failed = groups_failed_.load(),
            .groups_retried_isolated = groups_retried_isolated_.load(),
            .checkpoints = checkpoints.checkpoints,
            .checkpoint_failures = checkpoints.failures,
            .claims_forgotten = claims_forgotten_.load(),
            .checkpoint_cpu_us = checkpoints.cpu_us};
}

void SqliteJournal::run_writer() {
    for (std::vector<PendingWrite> group = front_.queue().take_group(); !group.empty();
         group = front_.queue().take_group()) {
        const auto begun = std::chrono::steady_clock::now();
        GroupOutcome outcome = committer_.commit(group);
        front_.queue().committed(std::chrono::steady_clock::now() - begun, group.size());
        QRPAY_ASSERT(outcome.statuses.size() == group.size(), "a write of the group unanswered");
        report(group, outcome);
        sweep_claims(group);
    }
}

void SqliteJournal::sweep_claims(const std::vector<PendingWrite>& group) {
    UnixMs newest = claims_swept_at_;
    for (const PendingWrite& write : group) {
        if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
            newest = std::max(newest, append->written_at);
        }
    }
    if (newest.value - claims_swept_at_.value < claim_sweep_interval_.count()) {
        return;
    }
    claims_swept_at_ = newest;
    UnixMs claimed_before{newest.value - key_retention_.count()};
    std::size_t forgotten = 0;
    Status swept = qrpay::sqlite::in_transaction(
        *writer_connection_, qrpay::sqlite::Begin::immediate, [&]() -> Status {
            Result<std::size_t> deleted = sqlite::forget_claims(*writer_connection_, claimed_before,
                                                                claims_forgotten_per_sweep_);
            if (!deleted.ok()) {
                return deleted.status();
            }
            forgotten = *deleted;
            return {};
        });
    if (!swept.ok()) {  // the claims stay until the next sweep; nothing else depends on it
        QRPAY_LOG_WARN("journal writer: forgetting expired key claims failed: %s",
                       swept.to_string().c_str());
        return;
    }
    claims_forgotten_ += forgotten;
}

// Counts the group, tells the commit listener, then answers every write of the group.
void SqliteJournal::report(std::vector<PendingWrite>& group, GroupOutcome& outcome) {
    std::uint64_t refused = 0;
    for (const Status& status : outcome.statuses) {
        if (status.code() == Errc::sequence_conflict || status.code() == Errc::fenced ||
            status.code() == Errc::key_taken) {
            ++refused;
        }
    }
    writes_refused_ += refused;
    if (outcome.committed) {
        ++commits_;
    } else {
        ++groups_failed_;
    }
    appends_committed_ += outcome.appends_stored;
    if (outcome.retried_isolated) {
        ++groups_retried_isolated_;
    }
    const CommitListener listener = front_.commit_listener();
    if (listener) {
        for (const sqlite::ShardTip& tip : outcome.durable) {
            listener(tip.shard, tip.offset);
        }
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
        group[i].done(std::move(outcome.statuses[i]));
    }
    if (outcome.committed) {
        checkpointer_.wake();
    }
}

void SqliteJournal::append(AppendRequest request, AppendCallback done) {
    front_.append(std::move(request), std::move(done));
}

Status SqliteJournal::save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) {
    return front_.save_snapshot(persistence_id, snapshot, writer_.get_id());
}

Status SqliteJournal::claim_shard(ShardId shard, FencingToken token) {
    return front_.claim_shard(shard, token, writer_.get_id());
}

void SqliteJournal::set_commit_listener(CommitListener listener) {
    front_.set_commit_listener(std::move(listener));
}

Result<std::vector<StoredEvent>> SqliteJournal::read_events(const std::string& persistence_id,
                                                            SequenceNr from,
                                                            std::size_t max_count) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    std::vector<StoredEvent> events;
    if (max_count == 0 || from.value > stored_number_max) {
        return events;
    }
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    Result<Statement> query = lease.value()->prepare(sql_read_events);
    if (!query.ok()) {
        return query.status();
    }
    query->bind_text_borrowed(1, persistence_id);
    query->bind_int(2, to_column(from.value));
    query->bind_int(3, limit_of(max_count));
    for (Step step = query->step(); step != Step::done; step = query->step()) {
        if (step == Step::error) {
            return query->error("read events");
        }
        SequenceNr seq(from_column(query->column_int(0)));
        QRPAY_ASSERT(events.empty() || seq == events.back().seq.next(), "stored seq has a gap");
        events.push_back(
            {seq, query->column_text(1), query->column_blob(2), UnixMs{query->column_int(3)}});
    }
    return events;
}

Result<SequenceNr> SqliteJournal::highest_seq(const std::string& persistence_id) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    return sqlite::read_highest_seq(*lease.value(), persistence_id);
}

Result<std::vector<ShardEvent>> SqliteJournal::read_shard(ShardId shard,
                                                          ShardOffset from,
                                                          std::size_t max_count) {
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    return query_shard(*lease.value(), shard, from, max_count);
}

Result<std::vector<std::vector<ShardEvent>>> SqliteJournal::read_shards(
    const std::vector<ShardRead>& reads) {
    std::vector<std::vector<ShardEvent>> answers;
    if (reads.empty()) {
        return answers;
    }
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    Connection& connection = *lease.value();
    answers.reserve(reads.size());
    Status read = qrpay::sqlite::in_transaction(connection, qrpay::sqlite::Begin::deferred, [&] {
        for (const ShardRead& each : reads) {
            Result<std::vector<ShardEvent>> events =
                query_shard(connection, each.shard, each.from, each.max_count);
            if (!events.ok()) {
                return events.status();
            }
            answers.push_back(std::move(events).value());
        }
        return Status();
    });
    if (!read.ok()) {
        return read;
    }
    return answers;
}

// The shard's events from `from` on, through `connection` (in its transaction, if open).
Result<std::vector<ShardEvent>> SqliteJournal::query_shard(Connection& connection,
                                                           ShardId shard,
                                                           ShardOffset from,
                                                           std::size_t max_count) {
    std::vector<ShardEvent> events;
    if (max_count == 0 || from.value > stored_number_max) {
        return events;
    }
    Result<Statement> query = connection.prepare(sql_read_shard);
    if (!query.ok()) {
        return query.status();
    }
    query->bind_int(1, shard.value);
    query->bind_int(2, to_column(from.value));
    query->bind_int(3, limit_of(max_count));
    for (Step step = query->step(); step != Step::done; step = query->step()) {
        if (step == Step::error) {
            return query->error("read shard");
        }
        ShardOffset offset(from_column(query->column_int(0)));
        QRPAY_ASSERT(events.empty() || offset == events.back().offset.next(),
                     "stored shard offsets have a gap");
        events.push_back({offset, query->column_text(1),
                          SequenceNr(from_column(query->column_int(2))), query->column_text(3),
                          query->column_blob(4), UnixMs{query->column_int(5)}});
    }
    return events;
}

Result<std::optional<Snapshot>> SqliteJournal::load_snapshot(const std::string& persistence_id) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    Result<Statement> query = lease.value()->prepare(sql_load_snapshot);
    if (!query.ok()) {
        return query.status();
    }
    query->bind_text_borrowed(1, persistence_id);
    Step step = query->step();
    if (step == Step::error) {
        return query->error("load snapshot");
    }
    if (step == Step::done) {
        return std::optional<Snapshot>();
    }
    return std::optional<Snapshot>(
        Snapshot{SequenceNr(from_column(query->column_int(0))), query->column_blob(1)});
}

Result<std::optional<KeyClaim>> SqliteJournal::find_key_claim(const std::string& key, UnixMs now) {
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    return sqlite::find_live_claim(*lease.value(), key, now, key_retention_);
}

Result<std::size_t> SqliteJournal::key_claim_count() {
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    return sqlite::count_claims(*lease.value());
}

Result<FencingToken> SqliteJournal::current_fencing(ShardId shard) {
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    Result<sqlite::ShardRow> row = sqlite::read_shard_row(*lease.value(), shard);
    if (!row.ok()) {
        return row.status();
    }
    return row->fencing;
}

Result<std::vector<WakeEntry>> SqliteJournal::pending_wakeups(ShardId shard) {
    Result<ReadPool::Lease> lease = readers_.acquire();
    if (!lease.ok()) {
        return lease.status();
    }
    Result<Statement> query = lease.value()->prepare(sql_pending_wakeups);
    if (!query.ok()) {
        return query.status();
    }
    query->bind_int(1, shard.value);
    std::vector<WakeEntry> wakeups;
    for (Step step = query->step(); step != Step::done; step = query->step()) {
        if (step == Step::error) {
            return query->error("read wakeups");
        }
        wakeups.push_back({query->column_text(0), UnixMs{query->column_int(1)}});
    }
    return wakeups;
}

Status validate_options(const SqliteJournalOptions& options) {
    bool valid =
        !options.path.empty() && options.group_events_max > 0 && options.group_bytes_max > 0 &&
        options.group_wait_max.count() >= 0 && options.queued_writes_max > 0 &&
        options.queued_bytes_max > 0 && options.read_connections_max > 0 &&
        options.read_wait_max.count() >= 0 && options.lock_wait_max.count() >= 0 &&
        options.checkpoint_interval_min.count() >= 0 && options.key_retention.count() > 0 &&
        options.claim_sweep_interval.count() > 0 && options.claims_forgotten_per_sweep > 0 &&
        options.lock_wait_max <= std::chrono::hours(24) &&
        options.group_wait_commit_share_percent <= 100 && options.page_bytes >= 512 &&
        options.page_bytes <= 65536 && (options.page_bytes & (options.page_bytes - 1)) == 0 &&
        options.wal_backstop_bytes >= options.page_bytes;
    if (!valid) {
        return {Errc::invalid_argument, "SqliteJournalOptions: empty path or a zero bound"};
    }
    return {};
}

// The writer's page cache and its backstop checkpoint; the WAL's size in pages needs the
// file's page size, which an existing file may have other than options.page_bytes.
Status tune_writer(Connection& writer, const SqliteJournalOptions& options) {
    Status cached = writer.run_script("PRAGMA cache_size = -" +
                                      std::to_string(options.writer_cache_bytes / 1024) + ";");
    if (!cached.ok()) {
        return cached;
    }
    std::size_t page_bytes = 0;
    {
        Result<Statement> page_size = writer.prepare("PRAGMA page_size");
        if (!page_size.ok()) {
            return page_size.status();
        }
        if (page_size->step() != Step::row) {
            return page_size->error("read page_size");
        }
        page_bytes =
            static_cast<std::size_t>(std::max<std::int64_t>(page_size->column_int(0), 512));
    }
    const std::size_t backstop_pages =
        std::max<std::size_t>(1, options.wal_backstop_bytes / page_bytes);
    return writer.run_script("PRAGMA wal_autocheckpoint = " + std::to_string(backstop_pages) + ";");
}

}  // namespace

Result<std::unique_ptr<Journal>> open_sqlite_journal(const SqliteJournalOptions& options) {
    if (Status valid = validate_options(options); !valid.ok()) {
        return valid;
    }
    Result<std::unique_ptr<Connection>> writer = Connection::open(
        options.path, qrpay::sqlite::OpenMode::writer, options.lock_wait_max, options.page_bytes);
    if (!writer.ok()) {
        return writer.status();
    }
    if (Status tuned = tune_writer(**writer, options); !tuned.ok()) {
        return tuned;
    }
    if (Status schema = sqlite::ensure_schema(**writer); !schema.ok()) {
        return schema;
    }
    Result<std::unique_ptr<Connection>> checkpoint_connection =
        Connection::open(options.path, qrpay::sqlite::OpenMode::writer, options.lock_wait_max);
    if (!checkpoint_connection.ok()) {
        return checkpoint_connection.status();
    }
    auto journal = std::make_unique<SqliteJournal>(options, std::move(writer).value(),
                                                   std::move(checkpoint_connection).value());
    if (Status started = journal->start(); !started.ok()) {
        return started;
    }
    std::unique_ptr<Journal> opened = std::move(journal);
    return opened;
}

SqliteJournalStats sqlite_journal_stats(const Journal& journal) {
    const auto* sqlite_journal = dynamic_cast<const SqliteJournal*>(&journal);
    QRPAY_ASSERT(sqlite_journal != nullptr, "sqlite_journal_stats of another journal");
    return sqlite_journal->stats();
}

}  // namespace qrpay::journal
