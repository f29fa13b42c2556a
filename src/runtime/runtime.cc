#include "runtime/runtime.h"

#include <algorithm>
#include <thread>

#include "base/assert.h"
#include "base/hash.h"
#include "base/log.h"
#include "runtime/executor.h"
#include "runtime/journal_io.h"

namespace qrpay::runtime {

namespace {

// How often a hand-off looks again at an executor whose entities of the shard are busy.
constexpr std::chrono::milliseconds drain_poll_interval{2};

}  // namespace

Runtime::Runtime(journal::Journal& journal, const Clock& clock, RuntimeOptions options)
    : journal_(journal), clock_(clock), options_(options), shards_(options.shard_count) {
    if (options_.executor_count == 0) {
        options_.executor_count = std::max(1U, std::thread::hardware_concurrency());
    }
    QRPAY_ASSERT(options_.shard_count > 0, "at least one shard");
    QRPAY_ASSERT(options_.snapshot_every_events > 0, "snapshot interval must be positive");
    QRPAY_ASSERT(options_.resume_backoff_first.count() > 0 &&
                     options_.resume_backoff_first <= options_.resume_backoff_max,
                 "0 < resume_backoff_first <= resume_backoff_max");
    executors_.reserve(options_.executor_count);
    for (std::uint32_t i = 0; i < options_.executor_count; ++i) {
        executors_.push_back(std::make_unique<Executor>(options_.mailbox_depth_max, clock_));
    }
    // JournalIo asserts the relations between its bounds.
    journal_io_ = std::make_unique<JournalIo>(
        JournalIoOptions{.threads = options_.recovery_threads,
                         .recoveries_in_flight_max = options_.recoveries_in_flight_max,
                         .recovery_queue_depth_max = options_.recovery_queue_depth_max,
                         .snapshot_queue_depth_max = options_.snapshot_queue_depth_max});
}

Runtime::~Runtime() { stop(); }

Status Runtime::start() {
    for (std::uint32_t shard = 0; shard < options_.shard_count && options_.claim_every_shard;
         ++shard) {
        auto current = journal_.current_fencing(ShardId(shard));
        if (!current.ok()) {
            return current.status();
        }
        FencingToken next = current->next();
        Status claimed = journal_.claim_shard(ShardId(shard), next);
        if (!claimed.ok()) {
            return claimed;
        }
        shards_[shard].token.store(next.value);
        shards_[shard].state.store(ShardState::serving);
    }
    journal_io_->start("journal-io");
    for (std::size_t i = 0; i < executors_.size(); ++i) {
        executors_[i]->start("executor-" + std::to_string(i));
    }
    QRPAY_LOG_INFO("runtime started: %u executors, %u shards claimed", options_.executor_count,
                   options_.claim_every_shard ? options_.shard_count : 0U);
    return {};
}

void Runtime::stop() {
    // Appends and journal-I/O jobs in flight report to an executor: let them land before the
    // executors stop, and wait once more for any that the last queued tasks started, so that
    // no journal callback can reach this object after it is gone.
    wait_for_appends();
    journal_io_->drain();
    for (auto& executor : executors_) {
        executor->stop();
    }
    wait_for_appends();
    journal_io_->stop();
}

void Runtime::wait_for_appends() {
    constexpr auto appends_wait_max = std::chrono::seconds(30);
    std::unique_lock lock(appends_mutex_);
    bool drained =
        appends_done_.wait_for(lock, appends_wait_max, [this] { return appends_in_flight_ == 0; });
    QRPAY_ASSERT(drained, "the journal answers every append it accepted");
}

void Runtime::append(journal::AppendRequest request, std::function<void(const Status&)> done) {
    {
        std::lock_guard lock(appends_mutex_);
        ++appends_in_flight_;
    }
    std::string pid = request.persistence_id;
    journal_.append(std::move(request),
                    [this, pid = std::move(pid), done = std::move(done)](Status status) {
                        record_append_outcome(status);
                        post_admitted(pid, [done, status = std::move(status)] { done(status); });
                        std::lock_guard lock(appends_mutex_);
                        if (--appends_in_flight_ == 0) {
                            appends_done_.notify_all();
                        }
                    });
}

namespace {

// Reads what a recovery needs on a journal-I/O thread. Everything after the snapshot is held
// in memory until the executor applies it; snapshots every snapshot_every_events keep that
// short.
Result<RecoveryRead> read_recovery(journal::Journal& journal, const std::string& pid) {
    RecoveryRead read;
    auto snapshot = journal.load_snapshot(pid);
    if (!snapshot.ok()) {
        return snapshot.status();
    }
    read.snapshot = std::move(*snapshot);
    SequenceNr next = read.snapshot ? read.snapshot->seq.next() : SequenceNr(1);
    constexpr std::size_t replay_batch_max = 256;
    for (;;) {
        auto events = journal.read_events(pid, next, replay_batch_max);
        if (!events.ok()) {
            return events.status();
        }
        for (auto& stored : *events) {
            QRPAY_ASSERT(stored.seq == next, "replayed events are contiguous");
            next = stored.seq.next();
            read.events.push_back(std::move(stored));
        }
        if (events->size() < replay_batch_max) {
            return read;
        }
    }
}

}  // namespace

Status Runtime::read_for_recovery(const std::string& persistence_id,
                                  std::function<void(Result<RecoveryRead>)> done) {
    return journal_io_->submit_recovery(
        [this, pid = persistence_id, done = std::move(done)]() mutable {
            auto read = std::make_shared<Result<RecoveryRead>>(read_recovery(journal_, pid));
            post_admitted(pid, [done = std::move(done), read] { done(std::move(*read)); });
        });
}

// Snapshots take the pool rather than the journal's asynchronous path: that path is append
// only, a snapshot has no caller waiting for it, and a pool thread keeps every backend's
// save_snapshot() as it is. The same bounded pool keeps the I/O threads few.
Status Runtime::save_snapshot(const std::string& persistence_id,
                              journal::Snapshot snapshot,
                              std::function<void(const Status&)> done) {
    return journal_io_->submit_snapshot([this, pid = persistence_id, snapshot = std::move(snapshot),
                                         done = std::move(done)]() mutable {
        Status saved = journal_.save_snapshot(pid, snapshot);
        post_admitted(pid, [done = std::move(done), saved = std::move(saved)] { done(saved); });
    });
}

std::size_t Runtime::recoveries_admitted() const { return journal_io_->recoveries_admitted(); }

std::int64_t Runtime::monotonic_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.monotonic_now().time_since_epoch())
        .count();
}

void Runtime::record_append_outcome(const Status& status) {
    if (status.ok()) {
        last_good_append_ms_.store(monotonic_ms());
    } else if (status.code() == Errc::io_error || status.code() == Errc::unknown_outcome) {
        last_failed_append_ms_.store(monotonic_ms());
    }
}

bool Runtime::writes_failing(std::chrono::milliseconds window) const {
    std::int64_t failed = last_failed_append_ms_.load();
    return failed != 0 && failed >= last_good_append_ms_.load() &&
           monotonic_ms() - failed < window.count();
}

ShardId Runtime::shard_of(const std::string& persistence_id) const {
    return qrpay::shard_of(persistence_id, options_.shard_count);
}

FencingToken Runtime::fencing_of(ShardId shard) const {
    QRPAY_ASSERT(shard.value < shards_.size(), "shard out of range");
    return FencingToken(shards_[shard.value].token.load());
}

bool Runtime::serves(ShardId shard) const {
    QRPAY_ASSERT(shard.value < shards_.size(), "shard out of range");
    return shards_[shard.value].state.load() == ShardState::serving;
}

void Runtime::add_shard_listener(ShardListener listener) {
    shard_listeners_.push_back(std::move(listener));
}

void Runtime::add_forwarded_entry(std::string_view type_name, ForwardedEntry deliver) {
    forwarded_entries_.emplace_back(std::string(type_name), std::move(deliver));
}

void Runtime::deliver_forwarded(ForwardedCommand command, ForwardDone done) const {
    for (const auto& [type_name, deliver] : forwarded_entries_) {
        if (type_name == command.type_name) {
            deliver(std::move(command), std::move(done));
            return;
        }
    }
    done(Status(Errc::invalid_argument, "no entity type \"" + command.type_name + "\" here"));
}

void Runtime::serve_shard(ShardId shard, FencingToken token) {
    Shard& state = shards_.at(shard.value);
    ++state.generation;  // a drain still running for an earlier time here stops
    state.token.store(token.value);
    state.state.store(ShardState::serving);
    QRPAY_LOG_INFO("runtime: serving shard %u under token %llu", shard.value,
                   static_cast<unsigned long long>(token.value));
    // Waking the shard's pending entities reads the journal: on a journal-I/O thread, like a
    // recovery's reads, not on the caller's (the cluster's loop keeps the lease alive).
    const auto served = [this, shard] {
        for (const ShardListener& listener : shard_listeners_) {
            listener.served(shard);
        }
    };
    if (Status queued = journal_io_->submit_recovery(served); !queued.ok()) {
        QRPAY_LOG_WARN("runtime: shard %u's pending entities are woken on the caller's thread: %s",
                       shard.value, queued.to_string().c_str());
        served();
    }
}

void Runtime::stop_shard(ShardId shard) {
    Shard& state = shards_.at(shard.value);
    const std::uint64_t generation = ++state.generation;
    state.state.store(ShardState::not_served);
    state.token.store(0);
    QRPAY_LOG_INFO("runtime: shard %u stopped", shard.value);
    drain_shard(shard, generation, [] {});
}

void Runtime::hand_off_shard(ShardId shard, std::function<void()> drained) {
    Shard& state = shards_.at(shard.value);
    const std::uint64_t generation = ++state.generation;
    state.state.store(ShardState::draining);
    drain_shard(shard, generation, [this, shard, generation, drained = std::move(drained)] {
        Shard& now = shards_.at(shard.value);
        if (now.generation.load() == generation) {
            now.state.store(ShardState::not_served);
            now.token.store(0);
        }
        QRPAY_LOG_INFO("runtime: shard %u handed off", shard.value);
        drained();
    });
}

void Runtime::drain_shard(ShardId shard, std::uint64_t generation, std::function<void()> drained) {
    auto drain = std::make_shared<Drain>(Drain{shard, generation, std::move(drained)});
    executors_[0]->post_admitted([this, drain] { drain_step(drain); });
}

// On executor drain->executor: while an entity of the shard has work in flight there, look
// again a moment later; then drop the shard's entities from that executor's tables and go on
// to the next executor. Work never comes back to an executor already done, since no new
// command for the shard is taken.
void Runtime::drain_step(const std::shared_ptr<Drain>& drain) {
    if (shards_.at(drain->shard.value).generation.load() != drain->generation) {
        return;  // the shard changed hands here again
    }
    const bool busy =
        std::any_of(shard_listeners_.begin(), shard_listeners_.end(),
                    [&](const ShardListener& l) { return l.busy(drain->shard, drain->executor); });
    if (busy) {
        post_to_executor(drain->executor, clock_.monotonic_now() + drain_poll_interval,
                         [this, drain] { drain_step(drain); });
        return;
    }
    for (const ShardListener& listener : shard_listeners_) {
        listener.evict(drain->shard, drain->executor);
    }
    if (++drain->executor == executors_.size()) {
        drain->drained();
        return;
    }
    executors_[drain->executor]->post_admitted([this, drain] { drain_step(drain); });
}

std::size_t Runtime::executor_of(const std::string& persistence_id) const {
    // Executors follow shards, so a shard's entities share one thread (as they will on the
    // shard's owner in the cluster).
    return shard_of(persistence_id).value % executors_.size();
}

Status Runtime::post(const std::string& persistence_id, std::function<void()> task) {
    return executors_[executor_of(persistence_id)]->post(std::move(task));
}

void Runtime::post_admitted(const std::string& persistence_id, std::function<void()> task) {
    executors_[executor_of(persistence_id)]->post_admitted(std::move(task));
}

void Runtime::post_at(const std::string& persistence_id,
                      std::chrono::steady_clock::time_point when,
                      std::function<void()> task) {
    executors_[executor_of(persistence_id)]->post_at(when, std::move(task));
}

void Runtime::post_to_executor(std::size_t executor,
                               std::chrono::steady_clock::time_point when,
                               std::function<void()> task) {
    QRPAY_ASSERT(executor < executors_.size(), "executor index out of range");
    executors_[executor]->post_at(when, std::move(task));
}

void Runtime::add_persist_listener(PersistListener listener) {
    persist_listeners_.push_back(std::move(listener));
}

void Runtime::notify_persisted(const std::string& persistence_id, SequenceNr seq) const {
    for (const auto& listener : persist_listeners_) {
        listener(persistence_id, seq);
    }
}

}  // namespace qrpay::runtime
