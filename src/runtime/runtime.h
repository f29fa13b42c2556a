#pragma once
// Runtime: the shared machinery every entity type runs on (no payment words here).
//
// - A fixed pool of executors (threads), sized to the machine. Every entity belongs to the
//   executor its persistence id hashes to, so commands to one entity run one at a time and
//   entity code takes no locks; different entities run in parallel.
// - The journal, the clock, the shard map (shard = stable hash of the persistence id over a
//   fixed shard count) and each shard's fencing token, all owned here.
// - A small pool of journal-I/O threads (journal_io.h): an executor never calls a blocking
//   journal method. Appends go through the journal's asynchronous path; the reads of a
//   recovery and snapshot writes run on the pool, and their results come back to the
//   entity's executor.
// - Time: every timer, backoff and measurement reads the injected Clock. Executors wait for
//   their next timer on real time and are told by the clock when it jumps (a ManualClock in
//   tests), so a test advances time instead of sleeping.
//
// Thread safety: every public method may be called from any thread after start().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/strong_types.h"
#include "journal/journal.h"
#include "runtime/forwarding.h"

namespace qrpay::runtime {

struct RuntimeOptions {
    std::uint32_t executor_count = 0;  // 0: one per hardware thread
    std::uint32_t shard_count = 64;    // fixed when the data is created
    // One node alone: start() claims every shard. A cluster node serves only the shards its
    // ownership protocol gives it (serve_shard() and the rest, below).
    bool claim_every_shard = true;
    std::size_t mailbox_depth_max = 65'536;  // queued tasks per executor before "unavailable"
    std::size_t stash_depth_max = 1'024;     // commands waiting behind a persist, per entity
    std::uint64_t snapshot_every_events = 100;
    std::chrono::milliseconds passivate_after{std::chrono::minutes(2)};
    std::size_t active_entities_max = 1'000'000;  // per runtime, before early passivation
    // After a failed write the entity recovers and resumes by itself after this backoff,
    // doubled for each further failure in a row, up to resume_backoff_max.
    std::chrono::milliseconds resume_backoff_first{50};
    std::chrono::milliseconds resume_backoff_max{5'000};
    // Journal-I/O threads (recovery reads and snapshot writes), and of them how many may read
    // for recoveries at once; more recoveries wait in a queue of recovery_queue_depth_max,
    // beyond which the command is answered unavailable. A full snapshot queue skips that
    // snapshot. REQUIRES: 0 < recoveries_in_flight_max <= recovery_threads.
    std::uint32_t recovery_threads = 2;
    std::uint32_t recoveries_in_flight_max = 2;
    std::size_t recovery_queue_depth_max = 4'096;
    std::size_t snapshot_queue_depth_max = 1'024;
};

// What a recovery read from the journal: the latest snapshot, if any, and every event after it,
// in order. The entity's executor applies it.
struct RecoveryRead {
    std::optional<journal::Snapshot> snapshot;
    std::vector<journal::StoredEvent> events;
};

class Executor;
class JournalIo;

class Runtime {
public:
    Runtime(journal::Journal& journal, const Clock& clock, RuntimeOptions options);
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;
    Runtime(Runtime&&) = delete;
    Runtime& operator=(Runtime&&) = delete;

    // Starts the executors; with claim_every_shard, first claims every shard with a fencing
    // token above the stored one (this node owns them all). Returns the journal's error if a
    // claim fails.
    Status start();
    // Stops the executors after the tasks already queued; waits for them, for the appends in
    // flight and for the journal-I/O jobs. A result that reaches an executor after it stopped
    // is dropped with it.
    void stop();

    [[nodiscard]] const RuntimeOptions& options() const { return options_; }
    journal::Journal& journal() { return journal_; }
    [[nodiscard]] const Clock& clock() const { return clock_; }

    [[nodiscard]] ShardId shard_of(const std::string& persistence_id) const;
    // The shard's token while it is served or handed off here; 0 otherwise (an append under it
    // is fenced).
    [[nodiscard]] FencingToken fencing_of(ShardId shard) const;

    // Shard ownership (a cluster node; a lone node serves every shard from start()). Commands
    // for an entity whose shard is not served here are refused at the door with not_owner.
    // Any thread, after start().
    //
    // From now on the shard's commands are taken here and appended under `token` (the
    // journal's fence is at it already); the shard listeners hear it on a journal-I/O thread
    // (they wake the shard's entities with pending work, which reads the journal).
    void serve_shard(ShardId shard, FencingToken token);
    // At once (the claim is lost): new commands are refused, the token is dropped so that what
    // is still queued is fenced, and the shard's entities leave memory as they fall idle.
    void stop_shard(ShardId shard);
    // A planned move: new commands are refused; those taken finish under the token; once no
    // entity of the shard has work in flight they leave memory and `drained` runs (on an
    // executor).
    void hand_off_shard(ShardId shard, std::function<void()> drained);
    [[nodiscard]] bool serves(ShardId shard) const;

    // What the entity hosts do for shard ownership, each on one executor's thread: whether an
    // entity of `shard` in that executor's table has work in flight (a persist, a recovery,
    // stashed commands); drop the shard's entities from that table; wake the shard's pending
    // entities (on a journal-I/O thread: it may read the journal). Register before the first
    // serve_shard, stop_shard or hand_off_shard; the listener outlives the runtime's use of it.
    struct ShardListener {
        std::function<bool(ShardId shard, std::size_t executor)> busy;
        std::function<void(ShardId shard, std::size_t executor)> evict;
        std::function<void(ShardId shard)> served;
    };
    void add_shard_listener(ShardListener listener);

    // Forwarding (forwarding.h). The forwarder takes the commands of shards not served here;
    // it outlives the runtime's use of it (set it back to null before it goes). Null (the
    // default): such commands are refused not_owner. Any thread.
    void set_forwarder(Forwarder* forwarder) { forwarder_.store(forwarder); }
    [[nodiscard]] Forwarder* forwarder() const { return forwarder_.load(); }
    // An entity host takes forwarded commands of its type here (it registers itself; before
    // start()). `deliver` delivers locally only: a shard not served here is not_owner.
    using ForwardedEntry = std::function<void(ForwardedCommand command, ForwardDone done)>;
    void add_forwarded_entry(std::string_view type_name, ForwardedEntry deliver);
    // A command another node forwarded: to the host of its type, which answers not_owner when
    // the shard is not served here (the sender then looks again); invalid_argument for a type
    // no host here has. `done` runs once, on any thread.
    void deliver_forwarded(ForwardedCommand command, ForwardDone done) const;

    // Runs `task` on the executor that owns `persistence_id`. Returns unavailable when the
    // executor's mailbox is full or the runtime is stopped; the task then never runs.
    Status post(const std::string& persistence_id, std::function<void()> task);
    // Unbounded post for the completion of work already admitted (a journal callback):
    // refusing it would lose a reply.
    void post_admitted(const std::string& persistence_id, std::function<void()> task);
    // Runs `task` on that executor at `when` (the clock's monotonic time). Cancelled by stop().
    void post_at(const std::string& persistence_id,
                 std::chrono::steady_clock::time_point when,
                 std::function<void()> task);
    // The executor index owning the id; stable while the runtime lives.
    [[nodiscard]] std::size_t executor_of(const std::string& persistence_id) const;
    [[nodiscard]] std::size_t executor_count() const { return executors_.size(); }
    // Runs `task` on executor number `executor` at `when` (housekeeping such as passivation).
    void post_to_executor(std::size_t executor,
                          std::chrono::steady_clock::time_point when,
                          std::function<void()> task);

    // Appends through the journal and runs `done` with the outcome on the executor that owns
    // request.persistence_id. stop() waits until every append in flight has reported, so no
    // journal callback can outlive the runtime.
    void append(journal::AppendRequest request, std::function<void(const Status&)> done);

    // Reads the entity's snapshot and the events after it on a journal-I/O thread, then runs
    // `done` with the result (or the journal's error) on the executor that owns the id.
    // unavailable when recoveries_in_flight_max read already and recovery_queue_depth_max
    // wait, or the runtime is stopping; `done` then never runs. Never blocks.
    Status read_for_recovery(const std::string& persistence_id,
                             std::function<void(Result<RecoveryRead>)> done);
    // Saves the snapshot on a journal-I/O thread, then runs `done` with the outcome on the
    // entity's executor. unavailable when the snapshot queue is full (`done` never runs).
    Status save_snapshot(const std::string& persistence_id,
                         journal::Snapshot snapshot,
                         std::function<void(const Status&)> done);
    // Recoveries reading or waiting to (tests, metrics).
    [[nodiscard]] std::size_t recoveries_admitted() const;

    // Called after each successful append with the entity and its new highest sequence.
    // Listeners run on the entity's executor and must not block. Register before start().
    using PersistListener = std::function<void(const std::string& persistence_id, SequenceNr)>;
    void add_persist_listener(PersistListener listener);
    void notify_persisted(const std::string& persistence_id, SequenceNr seq) const;

    // True while the journal is failing writes: the last append that reached the store failed
    // (io_error or unknown_outcome) less than `window` ago and none has succeeded since. For
    // readiness: a node whose disk is full says so instead of taking traffic it cannot keep.
    // An unreachable journal (its server gone) is not counted: nothing reached the store, and
    // such a journal tells its connection's state itself for as long as it lasts.
    [[nodiscard]] bool writes_failing(std::chrono::milliseconds window) const;

private:
    enum class ShardState : std::uint8_t { not_served, serving, draining };
    struct Shard {
        std::atomic<ShardState> state{ShardState::not_served};
        std::atomic<std::uint64_t> token{0};
        std::atomic<std::uint64_t> generation{0};  // bumped by each change of owner here
    };
    // Drops the shard's entities executor by executor, each once none of them is busy there;
    // then `drained`. Stops early when the shard changed hands here again (generation).
    struct Drain {
        ShardId shard;
        std::uint64_t generation = 0;
        std::function<void()> drained;
        std::size_t executor = 0;  // the one looked at now
    };
    void drain_shard(ShardId shard, std::uint64_t generation, std::function<void()> drained);
    void drain_step(const std::shared_ptr<Drain>& drain);

    void wait_for_appends();
    void record_append_outcome(const Status& status);
    [[nodiscard]] std::int64_t monotonic_ms() const;

    journal::Journal& journal_;
    const Clock& clock_;
    RuntimeOptions options_;
    std::vector<Shard> shards_;                   // sized in the constructor
    std::vector<ShardListener> shard_listeners_;  // written before start() only
    std::atomic<Forwarder*> forwarder_{nullptr};
    std::vector<std::pair<std::string, ForwardedEntry>> forwarded_entries_;  // likewise
    std::vector<std::unique_ptr<Executor>> executors_;
    std::unique_ptr<JournalIo> journal_io_;
    std::vector<PersistListener> persist_listeners_;  // written before start() only
    // Monotonic milliseconds (of clock_) of the last failed and last successful append; written by
    // journal threads, read by readiness probes.
    std::atomic<std::int64_t> last_failed_append_ms_{0};
    std::atomic<std::int64_t> last_good_append_ms_{0};
    std::mutex appends_mutex_;  // guards appends_in_flight_: executors and journal threads
    std::condition_variable appends_done_;
    std::size_t appends_in_flight_ = 0;
};

}  // namespace qrpay::runtime
