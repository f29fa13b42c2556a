// The PostgreSQL journal: a WriteQueue in front of one writer thread that runs the
// GroupCommitter on its own connection, and a Pool of connections for reads. Schema:
// pg_schema.cc.

#include "journal/postgres/pg_journal.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "journal/postgres/pg_group_commit.h"
#include "journal/validation.h"
#include "journal/write_queue.h"
#include "journal/writer_front.h"
#include "postgres/connection.h"
#include "postgres/pool.h"

namespace qrpay::journal {

namespace {

using qrpay::postgres::Connection;
using qrpay::postgres::Params;
using qrpay::postgres::Pool;
using qrpay::postgres::Rows;

constexpr const char* sql_read_events =
    "SELECT seq, type, payload, written_at_unix_ms FROM events "
    "WHERE persistence_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3";
constexpr const char* sql_highest_seq =
    "SELECT coalesce(max(seq), 0) FROM events WHERE persistence_id = $1";
constexpr const char* sql_read_shard =
    "SELECT shard_offset, persistence_id, seq, type, payload, written_at_unix_ms FROM events "
    "WHERE shard = $1 AND shard_offset >= $2 ORDER BY shard_offset LIMIT $3";
constexpr const char* sql_load_snapshot =
    "SELECT seq, payload FROM snapshots WHERE persistence_id = $1";
constexpr const char* sql_find_claim =
    "SELECT persistence_id, claimed_at_unix_ms FROM claimed_keys WHERE key = $1";
constexpr const char* sql_count_claims = "SELECT count(*) FROM claimed_keys";
constexpr const char* sql_current_fencing =
    "SELECT fencing_token FROM shard_state WHERE shard = $1";
constexpr const char* sql_pending_wakeups =
    "SELECT persistence_id, wake_at_unix_ms FROM wakeups WHERE shard = $1 "
    "ORDER BY wake_at_unix_ms, persistence_id";
constexpr const char* sql_forget_claims =
    "DELETE FROM claimed_keys WHERE key IN (SELECT key FROM claimed_keys "
    "WHERE claimed_at_unix_ms < $1 ORDER BY claimed_at_unix_ms LIMIT $2)";

std::uint64_t unsigned_of(std::int64_t value) { return static_cast<std::uint64_t>(value); }

std::int64_t limit_of(std::size_t max_count) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(max_count, stored_number_max));
}

Params shard_read_params(ShardId shard, ShardOffset from, std::size_t max_count) {
    return Params()
        .add_int(static_cast<std::int64_t>(shard.value))
        .add_int(static_cast<std::int64_t>(from.value))
        .add_int(limit_of(max_count));
}

Result<std::vector<ShardEvent>> shard_events(const Rows& rows) {
    std::vector<ShardEvent> events;
    events.reserve(static_cast<std::size_t>(rows.count()));
    for (int row = 0; row < rows.count(); ++row) {
        ShardOffset offset(unsigned_of(rows.int_at(row, 0)));
        QRPAY_ASSERT(events.empty() || offset == events.back().offset.next(),
                     "stored shard offsets have a gap");
        events.push_back({offset, rows.bytes_at(row, 1),
                          SequenceNr(unsigned_of(rows.int_at(row, 2))), rows.bytes_at(row, 3),
                          rows.bytes_at(row, 4), UnixMs{rows.int_at(row, 5)}});
    }
    return events;
}

class PgJournal final : public Journal {
public:
    PgJournal(const PgJournalOptions& options, std::unique_ptr<Connection> writer);
    ~PgJournal() override;  // answers every queued write, then joins the writer
    PgJournal(const PgJournal&) = delete;
    PgJournal& operator=(const PgJournal&) = delete;
    PgJournal(PgJournal&&) = delete;
    PgJournal& operator=(PgJournal&&) = delete;

    Status start();
    [[nodiscard]] PgJournalStats stats() const;

    void append(AppendRequest request, AppendCallback done) override;
    Result<std::vector<StoredEvent>> read_events(const std::string& persistence_id,
                                                 SequenceNr from,
                                                 std::size_t max_count) override;
    Result<SequenceNr> highest_seq(const std::string& persistence_id) override;
    Result<std::vector<ShardEvent>> read_shard(ShardId shard,
                                               ShardOffset from,
                                               std::size_t max_count) override;
    // One round trip for every read (a pipeline), on one connection.
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
    // A read on a pooled connection: `read` gets the connection and returns a Result.
    template <class Read>
    auto with_reader(Read read) -> decltype(read(std::declval<Connection&>()));

    void run_writer();
    bool writer_connected();  // connects when it may (reconnect_interval)
    void look_after_idle_connection();
    void report(std::span<PendingWrite> group, postgres::GroupOutcome& outcome);
    void sweep_claims(std::span<const PendingWrite> group);

    const PgJournalOptions options_;

    // Writer thread only, once start() ran.
    std::unique_ptr<Connection> writer_db_;
    std::chrono::steady_clock::time_point last_connect_attempt_{};
    postgres::GroupCommitter committer_;
    UnixMs claims_swept_at_{0};

    WriterFront front_;  // thread-safe: the queue, the listener
    Pool readers_;       // thread-safe

    // Written by the writer thread, read by pg_journal_stats() on any thread.
    std::atomic<std::uint64_t> commits_{0};
    std::atomic<std::uint64_t> appends_committed_{0};
    std::atomic<std::uint64_t> writes_refused_{0};
    std::atomic<std::uint64_t> fenced_appends_{0};
    std::atomic<std::uint64_t> groups_failed_{0};
    std::atomic<std::uint64_t> groups_retried_isolated_{0};
    std::atomic<std::uint64_t> reconnects_{0};
    std::atomic<std::uint64_t> claims_forgotten_{0};
    std::atomic<bool> writer_up_{true};

    std::thread writer_;
};

PgJournal::PgJournal(const PgJournalOptions& options, std::unique_ptr<Connection> writer)
    : options_(options),
      writer_db_(std::move(writer)),
      committer_(options.seq_cache_entries_max, options.key_retention, options.copy_events_min),
      front_({.queued_writes_max = options.queued_writes_max,
              .queued_bytes_max = options.queued_bytes_max,
              .group_events_max = options.group_events_max,
              .group_bytes_max = options.group_bytes_max,
              .group_wait = {.wait_max = options.group_wait_max,
                             .commit_share_percent = options.group_wait_commit_share_percent}}),
      readers_({.url = options.url,
                .connect = {.connect_timeout = options.connect_timeout},
                .connections_max = options.read_connections_max,
                .wait_max = options.read_wait_max}) {}

PgJournal::~PgJournal() {
    front_.queue().close();
    if (writer_.joinable()) {
        writer_.join();
    }
}

Status PgJournal::start() {
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

PgJournalStats PgJournal::stats() const {
    return {.commits = commits_.load(),
            .appends_committed = appends_committed_.load(),
            .writes_refused = writes_refused_.load(),
            .fenced_appends = fenced_appends_.load(),
            .groups_failed = groups_failed_.load(),
            .groups_retried_isolated = groups_retried_isolated_.load(),
            .reconnects = reconnects_.load(),
            .claims_forgotten = claims_forgotten_.load(),
            .writer_connected = writer_up_.load()};
}

bool PgJournal::writer_connected() {
    if (writer_db_ != nullptr && !writer_db_->broken()) {
        return true;
    }
    writer_db_.reset();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_connect_attempt_ < options_.reconnect_interval) {
        return false;
    }
    last_connect_attempt_ = now;
    Result<std::unique_ptr<Connection>> opened =
        Connection::open(options_.url, {.connect_timeout = options_.connect_timeout});
    if (!opened.ok()) {
        QRPAY_LOG_WARN("journal writer: %s", opened.status().to_string().c_str());
        return false;
    }
    writer_db_ = std::move(opened).value();
    ++reconnects_;
    QRPAY_LOG_INFO("journal writer: connected to PostgreSQL again");
    return true;
}

// While no write comes, the writer still keeps writer_connected true to the facts: it asks a
// connected server whether it is still there, and connects again to a lost one. Otherwise an
// idle node would stay ready with PostgreSQL gone, and, once a failed write made it not ready,
// stay so after PostgreSQL is back, since a balancer sends no writes to a node that is not
// ready.
void PgJournal::look_after_idle_connection() {
    if (writer_connected()) {
        if (Status alive = writer_db_->run("SELECT 1"); !alive.ok() && writer_db_->broken()) {
            QRPAY_LOG_WARN("journal writer: lost PostgreSQL while idle: %s",
                           alive.to_string().c_str());
            writer_db_.reset();
        }
    }
    writer_up_ = writer_db_ != nullptr;
}

void PgJournal::run_writer() {
    for (;;) {
        std::optional<std::vector<PendingWrite>> taken =
            front_.queue().take_group_within(options_.idle_check_interval);
        if (!taken) {
            look_after_idle_connection();
            continue;
        }
        std::vector<PendingWrite>& group = *taken;
        if (group.empty()) {
            return;  // closed and drained
        }
        const auto begun = std::chrono::steady_clock::now();
        postgres::GroupOutcome outcome;
        if (writer_connected()) {
            outcome = committer_.commit(*writer_db_, group);
            if (outcome.connection_lost) {
                writer_db_.reset();
            }
        } else {
            outcome.statuses.assign(
                group.size(), Status(Errc::unreachable, "journal unavailable: no connection"));
        }
        writer_up_ = writer_db_ != nullptr;
        front_.queue().committed(std::chrono::steady_clock::now() - begun, group.size());
        QRPAY_ASSERT(outcome.statuses.size() == group.size(), "a write of the group unanswered");
        report(group, outcome);
        sweep_claims(group);
    }
}

void PgJournal::sweep_claims(std::span<const PendingWrite> group) {
    UnixMs newest = claims_swept_at_;
    for (const PendingWrite& write : group) {
        if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
            newest = std::max(newest, append->written_at);
        }
    }
    if (newest.value - claims_swept_at_.value < options_.claim_sweep_interval.count() ||
        writer_db_ == nullptr) {
        return;
    }
    claims_swept_at_ = newest;
    const std::int64_t claimed_before = newest.value - options_.key_retention.count();
    Result<Rows> deleted = writer_db_->query(
        sql_forget_claims,
        Params().add_int(claimed_before).add_int(limit_of(options_.claims_forgotten_per_sweep)));
    if (!deleted.ok()) {  // the claims stay until the next sweep; nothing else depends on it
        QRPAY_LOG_WARN("journal writer: forgetting expired key claims failed: %s",
                       deleted.status().to_string().c_str());
        return;
    }
    claims_forgotten_ += static_cast<std::uint64_t>(deleted->changed());
}

void PgJournal::report(std::span<PendingWrite> group, postgres::GroupOutcome& outcome) {
    std::uint64_t refused = 0;
    bool failed = false;
    for (const Status& status : outcome.statuses) {
        const Errc code = status.code();
        refused +=
            code == Errc::sequence_conflict || code == Errc::fenced || code == Errc::key_taken;
        failed = failed || code == Errc::unreachable || code == Errc::io_error ||
                 code == Errc::unknown_outcome;
    }
    writes_refused_ += refused;
    fenced_appends_ += outcome.fenced;
    commits_ += outcome.commits;
    groups_failed_ += failed;
    groups_retried_isolated_ += outcome.retried_isolated;
    appends_committed_ += outcome.appends_stored;
    const CommitListener listener = front_.commit_listener();
    if (listener) {
        for (const postgres::ShardTip& tip : outcome.durable) {
            listener(tip.shard, tip.offset);
        }
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
        group[i].done(std::move(outcome.statuses[i]));
    }
}

void PgJournal::append(AppendRequest request, AppendCallback done) {
    front_.append(std::move(request), std::move(done));
}

Status PgJournal::save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) {
    return front_.save_snapshot(persistence_id, snapshot, writer_.get_id());
}

Status PgJournal::claim_shard(ShardId shard, FencingToken token) {
    return front_.claim_shard(shard, token, writer_.get_id());
}

void PgJournal::set_commit_listener(CommitListener listener) {
    front_.set_commit_listener(std::move(listener));
}

template <class Read>
auto PgJournal::with_reader(Read read) -> decltype(read(std::declval<Connection&>())) {
    // A pooled connection learns that the server went away (and maybe came back) only when
    // used: a read that finds its connection lost runs once more, on a new one.
    constexpr int attempts_max = 2;
    for (int attempt = 1;; ++attempt) {
        Result<Pool::Lease> lease = readers_.acquire();
        if (!lease.ok()) {  // no server answered (or, rarely, every connection stayed busy)
            return Status(Errc::unreachable, "journal unavailable: " + lease.status().message());
        }
        auto answer = read(**lease);
        if (answer.ok() || !(*lease)->broken()) {
            return answer;
        }
        if (attempt == attempts_max) {
            return Status(Errc::unreachable, "journal unavailable: " + answer.status().message());
        }
    }
}

Result<std::vector<StoredEvent>> PgJournal::read_events(const std::string& persistence_id,
                                                        SequenceNr from,
                                                        std::size_t max_count) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    if (max_count == 0 || from.value > stored_number_max) {
        return std::vector<StoredEvent>();
    }
    return with_reader([&](Connection& db) -> Result<std::vector<StoredEvent>> {
        Result<Rows> rows =
            db.query(sql_read_events, Params()
                                          .add_text(persistence_id)
                                          .add_int(static_cast<std::int64_t>(from.value))
                                          .add_int(limit_of(max_count)));
        if (!rows.ok()) {
            return rows.status();
        }
        std::vector<StoredEvent> events;
        events.reserve(static_cast<std::size_t>(rows->count()));
        for (int row = 0; row < rows->count(); ++row) {
            SequenceNr seq(unsigned_of(rows->int_at(row, 0)));
            QRPAY_ASSERT(events.empty() || seq == events.back().seq.next(), "stored seq has a gap");
            events.push_back({seq, rows->bytes_at(row, 1), rows->bytes_at(row, 2),
                              UnixMs{rows->int_at(row, 3)}});
        }
        return events;
    });
}

Result<SequenceNr> PgJournal::highest_seq(const std::string& persistence_id) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    return with_reader([&](Connection& db) -> Result<SequenceNr> {
        Result<Rows> rows = db.query(sql_highest_seq, Params().add_text(persistence_id));
        if (!rows.ok()) {
            return rows.status();
        }
        return SequenceNr(unsigned_of(rows->int_at(0, 0)));
    });
}

Result<std::vector<ShardEvent>> PgJournal::read_shard(ShardId shard,
                                                      ShardOffset from,
                                                      std::size_t max_count) {
    if (max_count == 0 || from.value > stored_number_max) {
        return std::vector<ShardEvent>();
    }
    return with_reader([&](Connection& db) -> Result<std::vector<ShardEvent>> {
        Result<Rows> rows = db.query(sql_read_shard, shard_read_params(shard, from, max_count));
        if (!rows.ok()) {
            return rows.status();
        }
        return shard_events(*rows);
    });
}

Result<std::vector<std::vector<ShardEvent>>> PgJournal::read_shards(
    const std::vector<ShardRead>& reads) {
    using Answers = std::vector<std::vector<ShardEvent>>;
    if (reads.empty()) {
        return Answers();
    }
    return with_reader([&](Connection& db) -> Result<Answers> {
        Connection::Pipeline batch(db);
        for (const ShardRead& read : reads) {
            // An empty read still takes its place, so that answer i stays read i's.
            const std::size_t count = read.from.value > stored_number_max ? 0 : read.max_count;
            batch.add(sql_read_shard, shard_read_params(read.shard, read.from, count));
        }
        Result<std::vector<Result<Rows>>> rows = batch.finish();
        if (!rows.ok()) {
            return rows.status();
        }
        Answers answers;
        answers.reserve(reads.size());
        for (const Result<Rows>& each : *rows) {
            if (!each.ok()) {
                return each.status();
            }
            Result<std::vector<ShardEvent>> events = shard_events(*each);
            answers.push_back(std::move(events).value());
        }
        return answers;
    });
}

Result<std::optional<Snapshot>> PgJournal::load_snapshot(const std::string& persistence_id) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    return with_reader([&](Connection& db) -> Result<std::optional<Snapshot>> {
        Result<Rows> rows = db.query(sql_load_snapshot, Params().add_text(persistence_id));
        if (!rows.ok()) {
            return rows.status();
        }
        if (rows->count() == 0) {
            return std::optional<Snapshot>();
        }
        return std::optional<Snapshot>(
            Snapshot{SequenceNr(unsigned_of(rows->int_at(0, 0))), rows->bytes_at(0, 1)});
    });
}

Result<std::optional<KeyClaim>> PgJournal::find_key_claim(const std::string& key, UnixMs now) {
    return with_reader([&](Connection& db) -> Result<std::optional<KeyClaim>> {
        Result<Rows> rows = db.query(sql_find_claim, Params().add_text(key));
        if (!rows.ok()) {
            return rows.status();
        }
        if (rows->count() == 0) {
            return std::optional<KeyClaim>();
        }
        KeyClaim claim{rows->bytes_at(0, 0), UnixMs{rows->int_at(0, 1)}};
        if (claim.claimed_at.value + options_.key_retention.count() <= now.value) {
            return std::optional<KeyClaim>();
        }
        return std::optional<KeyClaim>(std::move(claim));
    });
}

Result<std::size_t> PgJournal::key_claim_count() {
    return with_reader([&](Connection& db) -> Result<std::size_t> {
        Result<Rows> rows = db.query(sql_count_claims);
        if (!rows.ok()) {
            return rows.status();
        }
        return static_cast<std::size_t>(rows->int_at(0, 0));
    });
}

Result<FencingToken> PgJournal::current_fencing(ShardId shard) {
    return with_reader([&](Connection& db) -> Result<FencingToken> {
        Result<Rows> rows =
            db.query(sql_current_fencing, Params().add_int(static_cast<std::int64_t>(shard.value)));
        if (!rows.ok()) {
            return rows.status();
        }
        return FencingToken(rows->count() == 0 ? 0 : unsigned_of(rows->int_at(0, 0)));
    });
}

Result<std::vector<WakeEntry>> PgJournal::pending_wakeups(ShardId shard) {
    return with_reader([&](Connection& db) -> Result<std::vector<WakeEntry>> {
        Result<Rows> rows =
            db.query(sql_pending_wakeups, Params().add_int(static_cast<std::int64_t>(shard.value)));
        if (!rows.ok()) {
            return rows.status();
        }
        std::vector<WakeEntry> wakeups;
        for (int row = 0; row < rows->count(); ++row) {
            wakeups.push_back({rows->bytes_at(row, 0), UnixMs{rows->int_at(row, 1)}});
        }
        return wakeups;
    });
}

Status validate_options(const PgJournalOptions& options) {
    const bool valid =
        !options.url.empty() && options.group_events_max > 0 && options.group_bytes_max > 0 &&
        options.group_wait_max.count() >= 0 && options.queued_writes_max > 0 &&
        options.queued_bytes_max > 0 && options.read_connections_max > 0 &&
        options.read_wait_max.count() >= 0 && options.connect_timeout.count() > 0 &&
        options.reconnect_interval.count() >= 0 && options.idle_check_interval.count() > 0 &&
        options.key_retention.count() > 0 && options.claim_sweep_interval.count() > 0 &&
        options.claims_forgotten_per_sweep > 0 && options.group_wait_commit_share_percent <= 100;
    if (!valid) {
        return {Errc::invalid_argument, "PgJournalOptions: empty url or a zero bound"};
    }
    return {};
}

}  // namespace

Result<std::unique_ptr<Journal>> open_pg_journal(const PgJournalOptions& options) {
    if (Status valid = validate_options(options); !valid.ok()) {
        return valid;
    }
    Result<std::unique_ptr<Connection>> writer =
        Connection::open(options.url, {.connect_timeout = options.connect_timeout});
    if (!writer.ok()) {
        return writer.status();
    }
    if (Status schema = postgres::ensure_schema(**writer, options.schema_change); !schema.ok()) {
        return schema;
    }
    if (options.partition_map) {
        if (Status mapped = postgres::check_partition_map(**writer, *options.partition_map);
            !mapped.ok()) {
            return mapped;
        }
    }
    auto journal = std::make_unique<PgJournal>(options, std::move(writer).value());
    if (Status started = journal->start(); !started.ok()) {
        return started;
    }
    std::unique_ptr<Journal> opened = std::move(journal);
    return opened;
}

PgJournalStats pg_journal_stats(const Journal& journal) {
    const auto* pg_journal = dynamic_cast<const PgJournal*>(&journal);
    QRPAY_ASSERT(pg_journal != nullptr, "pg_journal_stats of another journal");
    return pg_journal->stats();
}

}  // namespace qrpay::journal
