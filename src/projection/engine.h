#pragma once
// Engine: feeds one projection from the journal, shard by shard (the talk's read-model updater;
// DESIGN §5.6). Knows shards, offsets and transactions; no entity type and no payment word.
//
// Per shard it keeps a cursor: the last applied shard offset, stored in the read model's file
// (store.h). A round reads each wanted shard's events after its cursor, in offset order, and
// applies them in ONE transaction on the store together with the new offsets, so a crash keeps
// both or neither (exactly-once effect). Each shard's part sits in its own savepoint: a shard
// whose event fails to apply stops at that event (nothing of it is kept, its earlier events
// are), is retried with a backoff that doubles from retry_backoff_first to retry_backoff_max,
// and never moves past it; the other shards go on. Its failure (offset, persistence id,
// sequence number, message) shows in stats(), in healthy() and in the log.
//
// Never skipping: events are applied only as a contiguous run from cursor + 1. A read that
// returns a later offset without the next one (a lower offset whose commit has not finished)
// stops the shard before the hole and retries; the stored offset is compared inside the write
// transaction, so another writer of the same file (a rebuild's swap) never causes an event to
// be applied twice.
//
// Wake-ups: on_commit() (the journal's commit listener) marks a shard wanted and wakes the
// worker at once; every poll_interval every shard is read anyway, as a fallback.
//
// Time: waits, the poll interval, the round spacing and retry backoffs read the injected
// Clock's monotonic time, and lags its wall time. The worker waits on real time and is woken
// when the clock jumps (ManualClock::advance()), so tests drive it by advancing the clock.
//
// Threads: start() runs one worker thread, joined by stop(). on_commit(), stats(), as_of() and
// healthy() may be called from any thread; catch_up() runs rounds on the caller's thread
// instead (rebuilds and tests) and must not overlap start().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/secret.h"
#include "base/status.h"
#include "base/strong_types.h"
#include "journal/journal.h"
#include "projection/fault_points.h"
#include "projection/lag_histogram.h"
#include "projection/projection.h"
#include "projection/store.h"

namespace qrpay::projection {

struct EngineOptions {
    std::uint32_t shard_count = 64;  // the journal's; fixed when the data is created
    // false: the live tables and offsets. true: the rebuild set (rebuild.h), which must have
    // been prepared first.
    bool rebuild = false;
    std::size_t shard_batch_events_max = 512;  // events read from one shard per round
    std::size_t round_events_max = 4'096;      // events applied in one transaction, all shards
    std::chrono::milliseconds poll_interval{1'000};
    // Rounds start at least this far apart: under load one round (one read per shard, one
    // transaction) then carries every event committed meanwhile instead of one journal
    // commit's worth. Bounds the lag it adds; 0 runs a round per wake-up.
    std::chrono::milliseconds round_interval_min{5};
    std::chrono::milliseconds retry_backoff_first{100};
    std::chrono::milliseconds retry_backoff_max{10'000};
    FaultPoints faults{};  // off unless a test turns them on
    // How logs show a persistence id; the default redacts every id (base/secret.h).
    LoggableId loggable_id = redacted_persistence_id;
    // Called on the worker after each commit with every applied event's lag (benchmarks).
    std::function<void(std::chrono::milliseconds lag)> lag_observer{};
    // The shards this engine projects now (a cluster node: the shards it serves, so that each
    // shard is projected by its owner only and moves with it, resuming from its stored
    // offset); empty: every shard. Any thread; must not block. Health and as_of() speak for
    // these shards only.
    std::function<bool(ShardId shard)> projects{};
};

// Why a shard stopped.
struct ShardFailure {
    ShardOffset offset;          // the event it stopped at (or the first missing offset)
    std::string persistence_id;  // of that event; empty when none was read
    SequenceNr seq;              // of that event; 0 when none was read
    std::string message;
    std::uint64_t attempts = 0;  // failed tries at this offset so far
};

struct ShardProgress {
    ShardOffset applied;        // last applied offset (committed)
    UnixMs applied_written_at;  // that event's written_at; 0 when none
    ShardOffset durable;        // highest offset the journal reported or a read returned
    bool caught_up = false;     // since start, a read found nothing after `applied`
    std::optional<ShardFailure> failure;
};

struct EngineStats {
    std::string name;
    std::uint64_t events_applied = 0;
    std::uint64_t transactions_committed = 0;
    std::uint64_t apply_failures = 0;  // failed attempts of a shard (event, read or gap)
    std::uint64_t aborted_reruns = 0;  // rounds run again after the store broke a deadlock
    std::uint64_t store_failures = 0;  // rounds whose transaction failed as a whole
    LagHistogram::Snapshot lag;
    std::vector<ShardProgress> shards;  // indexed by shard
};

class Engine final : private Clock::Listener {
public:
    // REQUIRES: journal, store, projection and clock outlive the engine.
    Engine(journal::Journal& journal,
           Store& store,
           const Projection& projection,
           const Clock& clock,
           EngineOptions options);
    ~Engine();  // stop()
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;
    Engine(Engine&&) = delete;
    Engine& operator=(Engine&&) = delete;

    // Opens the engine's write connection, creates the table set and the offset rows when
    // missing, and loads the cursors. io_error / corruption from the store.
    Status open();
    // Starts the worker. REQUIRES: open() succeeded.
    void start();
    // Finishes the round in progress, then joins the worker. Idempotent.
    void stop();

    // The journal's commit listener: `durable` is the shard's highest durable offset. Never
    // blocks beyond a short lock; any thread.
    void on_commit(ShardId shard, ShardOffset durable);

    // Runs rounds on this thread until no shard has anything left to read, or a shard fails
    // (its failure's status). At most rounds_max rounds (then timeout). REQUIRES: open(), not
    // started.
    Status catch_up(std::size_t rounds_max);

    EngineStats stats() const;
    // True when no shard is stopped by a failure.
    bool healthy() const;
    // The time up to which the read model is complete: when every shard has caught up with
    // what the journal reported, the newest applied event's written_at; otherwise the oldest
    // newest-applied written_at among the shards still behind. nullopt when nothing is known
    // (nothing applied yet, or a shard behind that has applied nothing).
    std::optional<UnixMs> as_of() const;
    const std::string& name() const { return name_; }

private:
    struct Cursor {
        ShardOffset applied;
        UnixMs applied_written_at;
        ShardOffset durable;
        bool caught_up = false;
        bool wanted = true;
        std::optional<ShardFailure> failure;
        std::chrono::steady_clock::time_point retry_at{};  // of clock_
    };
    struct Batch;
    // open()'s work: the tables of the current generation, then the stored offsets.
    Status prepare_tables_and_offsets(std::vector<StoredOffset>& offsets);
    // Whether options_.projects takes the shard now (always without it).
    [[nodiscard]] bool projects(std::size_t shard) const;
    struct RoundResult {
        std::size_t events_read = 0;
        std::size_t shards_failed = 0;
        Status first_failure;
    };

    void run_worker();
    void on_clock_advanced() override;
    bool wait_for_work(std::chrono::steady_clock::time_point& next_poll);
    bool wait_until_or_stop(std::chrono::steady_clock::time_point until);
    bool has_ready_work(std::chrono::steady_clock::time_point now) const;  // REQUIRES: mutex_
    RoundResult run_round(bool ignore_backoff);
    std::vector<Batch> plan_round(bool ignore_backoff);
    std::size_t read_batches(std::vector<Batch>& batches);
    static void take_events(Batch& batch,
                            std::vector<journal::ShardEvent> events,
                            std::size_t count_max);
    Status write_batches(std::vector<Batch>& batches);
    Status write_batch(Batch& batch);
    std::size_t apply_events(Batch& batch, std::size_t count);
    void maybe_crash(const std::vector<Batch>& batches);
    RoundResult finish_round(std::vector<Batch>& batches, const Status& written);
    void finish_batch(Batch& batch, const Status& written, RoundResult& result);  // mutex_
    void record_failure(Cursor& cursor, ShardId shard, ShardFailure failure);  // REQUIRES: mutex_

    journal::Journal& journal_;
    Store& store_;
    const Projection& projection_;
    const Clock& clock_;
    const EngineOptions options_;
    const std::string name_;
    const std::string key_;  // offsets key: the name, or its rebuild key
    TableSet tables_;        // set by open()

    // The engine's write connection; used by one round at a time.
    std::unique_ptr<sql::Connection> db_;
    std::uint64_t events_applied_in_process_ = 0;  // by rounds; for the crash fault point
    std::uint32_t next_first_shard_ = 0;           // rounds start here, for fairness

    // Guards the fields below. Shared because the journal's thread (on_commit), readers of
    // stats and the worker all touch the cursors.
    mutable std::mutex mutex_;
    std::condition_variable work_ready_;
    std::vector<Cursor> cursors_;  // indexed by shard
    std::uint64_t events_applied_ = 0;
    std::uint64_t transactions_committed_ = 0;
    std::uint64_t apply_failures_ = 0;
    std::uint64_t store_failures_ = 0;
    std::atomic<std::uint64_t> aborted_reruns_{0};  // the worker adds; stats() reads
    std::uint32_t aborted_rounds_in_a_row_ = 0;     // worker only
    bool stopping_ = false;

    LagHistogram lag_;
    std::thread worker_;  // started by start(), joined by stop()
};

}  // namespace qrpay::projection
