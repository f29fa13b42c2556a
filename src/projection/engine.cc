#include "projection/engine.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <thread>
#include <utility>

#include "base/assert.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "sql/connection.h"

namespace qrpay::projection {

using TimePoint = std::chrono::steady_clock::time_point;  // of the injected Clock

// One shard's part of a round: what was read, and what became of it.
struct Engine::Batch {
    ShardId shard;
    ShardOffset from;                         // the cursor when planned; events from from + 1
    std::vector<journal::ShardEvent> events;  // contiguous from from + 1
    bool more = false;                        // the read was full: read again at once
    bool caught_up = false;                   // the read found everything there was
    std::optional<ShardFailure> failure;      // read, gap or apply failure
    Errc apply_failure_code = Errc::ok;       // an apply failure's code
    std::optional<StoredOffset> reload;       // the stored offset was not `from`
    std::size_t applied = 0;                  // events kept in the transaction
};

namespace {

constexpr const char* savepoint_sql = "SAVEPOINT shard_batch";
constexpr const char* release_sql = "RELEASE shard_batch";
constexpr const char* rollback_to_sql = "ROLLBACK TO shard_batch";
// Rounds in a row run again at once after the store aborted one of their statements to break a
// deadlock with another writer (Errc::aborted); past it, the shards fail and back off as for
// any other failure.
constexpr std::uint32_t aborted_rounds_in_a_row_max = 8;

unsigned long long ull(std::uint64_t value) { return static_cast<unsigned long long>(value); }

}  // namespace

Engine::Engine(journal::Journal& journal,
               Store& store,
               const Projection& projection,
               const Clock& clock,
               EngineOptions options)
    : journal_(journal),
      store_(store),
      projection_(projection),
      clock_(clock),
      options_(std::move(options)),
      name_(projection.name()),
      key_(options_.rebuild ? rebuild_key(projection.name()) : std::string(projection.name())) {
    QRPAY_ASSERT(options_.shard_count >= 1, "a projection needs a shard");
    QRPAY_ASSERT(options_.shard_batch_events_max >= 1 && options_.round_events_max >= 1,
                 "projection batches hold at least one event");
    QRPAY_ASSERT(options_.retry_backoff_first.count() > 0 &&
                     options_.retry_backoff_first <= options_.retry_backoff_max,
                 "0 < retry_backoff_first <= retry_backoff_max");
    QRPAY_ASSERT(options_.poll_interval.count() > 0, "the fallback poll needs an interval");
}

Engine::~Engine() { stop(); }

// The tables first, then the offsets, in two transactions: another node's engine may be
// writing rows and offsets meanwhile, and a transaction holding both a table lock (from
// CREATE INDEX IF NOT EXISTS) and waiting on its offset rows would deadlock with it. A failed
// attempt (a deadlock PostgreSQL broke all the same) is tried again, a few times.
Status Engine::open() {
    auto db = store_.open_writer();
    if (!db.ok()) {
        return db.status();
    }
    db_ = std::move(db).value();
    constexpr int attempts_max = 5;
    std::vector<StoredOffset> offsets;
    Status prepared;
    for (int attempt = 1; attempt <= attempts_max; ++attempt) {
        prepared = prepare_tables_and_offsets(offsets);
        if (prepared.ok()) {
            break;
        }
        QRPAY_LOG_WARN("projection %s: opening its tables failed (attempt %d of %d): %s",
                       name_.c_str(), attempt, attempts_max, prepared.to_string().c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
    }
    if (!prepared.ok()) {
        return prepared;
    }
    std::lock_guard lock(mutex_);
    cursors_.assign(options_.shard_count, Cursor{});
    for (std::size_t shard = 0; shard < cursors_.size(); ++shard) {
        cursors_[shard].applied = offsets[shard].offset;
        cursors_[shard].applied_written_at = offsets[shard].written_at;
        cursors_[shard].durable = offsets[shard].offset;
    }
    return {};
}

Status Engine::prepare_tables_and_offsets(std::vector<StoredOffset>& offsets) {
    Status created = sql::in_transaction(*db_, sql::Begin::immediate, [&]() -> Status {
        auto generation = ensure_generation(*db_, key_);
        if (!generation.ok()) {
            return generation.status();
        }
        tables_ = TableSet{options_.rebuild ? std::string(rebuild_table_suffix) : std::string(),
                           "_g" + std::to_string(*generation)};
        return projection_.create_tables(*db_, tables_);
    });
    if (!created.ok()) {
        return created;
    }
    return sql::in_transaction(*db_, sql::Begin::immediate, [&]() -> Status {
        if (Status ensured = ensure_offsets(*db_, key_, options_.shard_count); !ensured.ok()) {
            return ensured;
        }
        auto loaded = load_offsets(*db_, key_, options_.shard_count);
        if (!loaded.ok()) {
            return loaded.status();
        }
        offsets = std::move(loaded).value();
        return {};
    });
}

void Engine::start() {
    QRPAY_ASSERT(db_ != nullptr, "Engine::start() before a successful open()");
    QRPAY_ASSERT(!worker_.joinable(), "Engine started twice");
    clock_.add_listener(*this);
    worker_ = std::thread([this] {
        set_current_thread_name("proj-" + name_);
        run_worker();
    });
    QRPAY_LOG_INFO("projection %s: started over %u shards", name_.c_str(), options_.shard_count);
}

void Engine::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_ready_.notify_all();
    if (worker_.joinable()) {
        worker_.join();
        clock_.remove_listener(*this);
    }
}

void Engine::on_commit(ShardId shard, ShardOffset durable) {
    {
        std::lock_guard lock(mutex_);
        if (shard.value >= cursors_.size()) {
            return;  // before open(): its first round reads every shard anyway
        }
        Cursor& cursor = cursors_[shard.value];
        cursor.durable = std::max(cursor.durable, durable);
        if (cursor.durable <= cursor.applied) {
            return;
        }
        cursor.wanted = true;
    }
    work_ready_.notify_one();
}

void Engine::run_worker() {
    auto next_poll = clock_.monotonic_now() + options_.poll_interval;
    TimePoint last_round{};
    while (wait_for_work(next_poll) &&
           wait_until_or_stop(last_round + options_.round_interval_min)) {
        last_round = clock_.monotonic_now();
        (void)run_round(false);
    }
}

// The lock orders this after the worker's look at the clock: either the worker saw the new
// time, or it is waiting and this wakes it.
void Engine::on_clock_advanced() {
    { std::lock_guard lock(mutex_); }
    work_ready_.notify_all();
}

// Until the clock reaches `until`; false on stop. Waits take durations: the injected clock's
// epoch need not be steady_clock's, and a clock that jumps wakes the worker (on_clock_advanced).
bool Engine::wait_until_or_stop(TimePoint until) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (stopping_) {
            return false;
        }
        auto now = clock_.monotonic_now();
        if (now >= until) {
            return true;
        }
        work_ready_.wait_for(lock, until - now);
    }
}

// Waits until a shard is wanted and not backing off, or stop; false on stop. Every
// poll_interval, every shard becomes wanted (the fallback for a missed wake-up).
bool Engine::wait_for_work(TimePoint& next_poll) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (stopping_) {
            return false;
        }
        auto now = clock_.monotonic_now();
        if (now >= next_poll) {
            for (Cursor& cursor : cursors_) {
                cursor.wanted = true;
            }
            next_poll = now + options_.poll_interval;
        }
        if (has_ready_work(now)) {
            return true;
        }
        auto wake = next_poll;
        for (const Cursor& cursor : cursors_) {
            if (cursor.wanted && cursor.retry_at > now) {
                wake = std::min(wake, cursor.retry_at);
            }
        }
        work_ready_.wait_for(lock, wake - now);
    }
}

bool Engine::has_ready_work(TimePoint now) const {
    return std::any_of(cursors_.begin(), cursors_.end(), [now](const Cursor& cursor) {
        return cursor.wanted && cursor.retry_at <= now;
    });
}

Status Engine::catch_up(std::size_t rounds_max) {
    QRPAY_ASSERT(db_ != nullptr, "Engine::catch_up() before a successful open()");
    QRPAY_ASSERT(!worker_.joinable(), "Engine::catch_up() while the worker runs");
    {
        std::lock_guard lock(mutex_);
        for (Cursor& cursor : cursors_) {
            cursor.wanted = true;
        }
    }
    for (std::size_t round = 0; round < rounds_max; ++round) {
        RoundResult result = run_round(true);
        if (result.shards_failed > 0) {
            return result.first_failure;
        }
        std::lock_guard lock(mutex_);
        if (std::none_of(cursors_.begin(), cursors_.end(),
                         [](const Cursor& cursor) { return cursor.wanted; })) {
            return {};
        }
    }
    return {Errc::timeout, "projection " + name_ + " did not catch up within " +
                               std::to_string(rounds_max) + " rounds"};
}

Engine::RoundResult Engine::run_round(bool ignore_backoff) {
    std::vector<Batch> batches = plan_round(ignore_backoff);
    std::size_t read_total = read_batches(batches);
    Status written;
    if (read_total > 0) {
        written = write_batches(batches);
    }
    return finish_round(batches, written);
}

// The wanted shards not backing off, starting one shard further each round for fairness.
std::vector<Engine::Batch> Engine::plan_round(bool ignore_backoff) {
    std::vector<Batch> plan;
    auto now = clock_.monotonic_now();
    std::lock_guard lock(mutex_);
    const std::size_t count = cursors_.size();
    for (std::size_t i = 0; i < count; ++i) {
        std::size_t shard = (next_first_shard_ + i) % count;
        Cursor& cursor = cursors_[shard];
        if (!projects(shard)) {
            cursor.wanted = false;  // wanted again by a commit or the poll once it is ours
            continue;
        }
        if (!cursor.wanted || (!ignore_backoff && cursor.retry_at > now)) {
            continue;
        }
        cursor.wanted = false;
        Batch batch;
        batch.shard = ShardId(static_cast<std::uint32_t>(shard));
        batch.from = cursor.applied;
        plan.push_back(std::move(batch));
    }
    next_first_shard_ = static_cast<std::uint32_t>((next_first_shard_ + 1) % count);
    return plan;
}

// Reads every batch's events after its cursor in one journal read. Each shard may read an
// equal share of round_events_max (at most shard_batch_events_max); a shard with more left
// stays wanted for the next round. Returns the events read.
std::size_t Engine::read_batches(std::vector<Batch>& batches) {
    if (batches.empty()) {
        return 0;
    }
    const std::size_t share = std::clamp<std::size_t>(options_.round_events_max / batches.size(), 1,
                                                      options_.shard_batch_events_max);
    std::vector<journal::ShardRead> reads;
    reads.reserve(batches.size());
    for (const Batch& batch : batches) {
        reads.push_back({.shard = batch.shard, .from = batch.from.next(), .max_count = share});
    }
    auto answers = journal_.read_shards(reads);
    std::size_t read_total = 0;
    for (std::size_t i = 0; i < batches.size(); ++i) {
        if (!answers.ok()) {
            batches[i].failure =
                ShardFailure{.offset = batches[i].from.next(),
                             .persistence_id = {},
                             .seq = {},
                             .message = "journal read: " + answers.status().to_string(),
                             .attempts = 0};
            continue;
        }
        take_events(batches[i], std::move((*answers)[i]), share);
        read_total += batches[i].events.size();
    }
    return read_total;
}

// Keeps of `events` (up to count_max after the batch's cursor) the contiguous run that starts
// right after the cursor: a later offset without the next one is a hole, never skipped.
void Engine::take_events(Batch& batch,
                         std::vector<journal::ShardEvent> events,
                         std::size_t count_max) {
    batch.more = events.size() >= count_max;
    batch.caught_up = !batch.more;
    std::size_t contiguous = 0;
    while (contiguous < events.size() &&
           events[contiguous].offset.value == batch.from.value + 1 + contiguous) {
        ++contiguous;
    }
    if (contiguous < events.size()) {
        ShardOffset missing(batch.from.value + 1 + contiguous);
        batch.failure =
            ShardFailure{.offset = missing,
                         .persistence_id = {},
                         .seq = {},
                         .message = "offset " + std::to_string(events[contiguous].offset.value) +
                                    " is readable but " + std::to_string(missing.value) +
                                    " is not yet: waiting for it",
                         .attempts = 0};
        batch.more = false;
        batch.caught_up = false;
        events.resize(contiguous);
    }
    batch.events = std::move(events);
}

Status Engine::write_batches(std::vector<Batch>& batches) {
    if (db_->broken()) {
        // The store (PostgreSQL) dropped the connection: a new one, or this round fails and
        // the next one tries again.
        auto reopened = store_.open_writer();
        if (!reopened.ok()) {
            return reopened.status();
        }
        db_ = std::move(reopened).value();
    }
    return sql::in_transaction(*db_, sql::Begin::immediate, [&]() -> Status {
        for (Batch& batch : batches) {
            if (batch.events.empty()) {
                continue;
            }
            if (Status written = write_batch(batch); !written.ok()) {
                return written;
            }
        }
        maybe_crash(batches);
        return {};
    });
}

// One shard's events and new offset, in a savepoint of the round's transaction. The stored
// offset is checked first: when another writer moved it, nothing is applied and the cursor
// reloads. An event that fails rolls the savepoint back and the events before it are applied
// again, so the shard keeps exactly those.
Status Engine::write_batch(Batch& batch) {
    if (Status saved = db_->run(savepoint_sql); !saved.ok()) {
        return saved;
    }
    auto stored = load_offset(*db_, key_, batch.shard);
    if (!stored.ok()) {
        return stored.status();
    }
    if (stored->offset != batch.from) {
        batch.reload = *stored;
        return db_->run(release_sql);
    }
    std::size_t count = batch.events.size();
    for (;;) {
        std::size_t done = apply_events(batch, count);
        if (done == count) {
            break;
        }
        if (Status rolled = db_->run(rollback_to_sql); !rolled.ok()) {
            return rolled;
        }
        if (batch.apply_failure_code == Errc::aborted &&
            aborted_rounds_in_a_row_ < aborted_rounds_in_a_row_max) {
            // Another writer (a node projecting other shards into the same daily totals) held
            // a row this batch needed while it waited for one this round's transaction holds;
            // the store aborted this statement to break the deadlock. The whole round rolls
            // back, which releases every row it held, and runs again at once (finish_round).
            return {Errc::aborted, batch.failure->message};
        }
        QRPAY_ASSERT(done < count, "a failed apply keeps fewer events");
        count = done;
    }
    if (count > 0) {
        const journal::ShardEvent& last = batch.events[count - 1];
        Status advanced = advance_offset(*db_, key_, batch.shard, batch.from,
                                         {.offset = last.offset, .written_at = last.written_at});
        if (!advanced.ok()) {
            return advanced;
        }
    }
    batch.applied = count;
    return db_->run(release_sql);
}

// Applies the first `count` events; the index of the first that failed (its failure is
// recorded in the batch), or `count`.
std::size_t Engine::apply_events(Batch& batch, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        const journal::ShardEvent& event = batch.events[i];
        QRPAY_ASSERT(event.offset.value == batch.from.value + 1 + i, "events applied in order");
        Status applied = !options_.faults.fail_apply_type.empty() &&
                                 event.type == options_.faults.fail_apply_type
                             ? Status(Errc::io_error, "fault point fail_apply@" + event.type)
                             : projection_.apply(*db_, tables_, event);
        if (!applied.ok()) {
            batch.apply_failure_code = applied.code();
            batch.failure = ShardFailure{.offset = event.offset,
                                         .persistence_id = event.persistence_id,
                                         .seq = event.seq,
                                         .message = applied.to_string(),
                                         .attempts = 0};
            return i;
        }
    }
    return count;
}

// Fault point crash_before_commit: the writes of this round are done, COMMIT is not.
void Engine::maybe_crash(const std::vector<Batch>& batches) {
    std::uint64_t at = options_.faults.crash_before_commit_at_event;
    if (at == 0) {
        return;
    }
    std::uint64_t in_round = 0;
    for (const Batch& batch : batches) {
        in_round += batch.applied;
    }
    if (in_round == 0 || events_applied_in_process_ + in_round < at) {
        return;
    }
    QRPAY_LOG_WARN(
        "fault point crash_before_commit: projection %s wrote %llu events and their "
        "offsets; killing the process before COMMIT",
        name_.c_str(), ull(in_round));
    ::kill(::getpid(), SIGKILL);
    for (;;) {
        ::pause();  // SIGKILL cannot be caught; it lands before this returns
    }
}

Engine::RoundResult Engine::finish_round(std::vector<Batch>& batches, const Status& written) {
    RoundResult result;
    UnixMs committed_at = clock_.wall_now();
    std::uint64_t applied_in_round = 0;
    {
        std::lock_guard lock(mutex_);
        bool wrote = std::any_of(batches.begin(), batches.end(),
                                 [](const Batch& batch) { return !batch.events.empty(); });
        aborted_rounds_in_a_row_ =
            written.code() == Errc::aborted ? aborted_rounds_in_a_row_ + 1 : 0;
        if (written.code() == Errc::aborted) {
            aborted_reruns_.fetch_add(1, std::memory_order_relaxed);
        } else if (wrote && written.ok()) {
            ++transactions_committed_;
        } else if (wrote) {
            ++store_failures_;
        }
        for (Batch& batch : batches) {
            finish_batch(batch, written, result);
            applied_in_round += written.ok() ? batch.applied : 0;
        }
    }
    events_applied_in_process_ += applied_in_round;
    if (!written.ok()) {
        return result;
    }
    for (const Batch& batch : batches) {
        for (std::size_t i = 0; i < batch.applied; ++i) {
            std::chrono::milliseconds lag(committed_at.value - batch.events[i].written_at.value);
            lag_.observe(lag);
            if (options_.lag_observer) {
                options_.lag_observer(lag);
            }
        }
    }
    return result;
}

void Engine::finish_batch(Batch& batch, const Status& written, RoundResult& result) {
    Cursor& cursor = cursors_[batch.shard.value];
    result.events_read += batch.events.size();
    if (written.code() == Errc::aborted) {  // nothing stored: the round runs again at once
        batch.applied = 0;
        cursor.wanted = cursor.wanted || !batch.events.empty();
        return;
    }
    if (!written.ok() && !batch.events.empty()) {
        const journal::ShardEvent& first = batch.events.front();
        batch.failure = ShardFailure{.offset = first.offset,
                                     .persistence_id = first.persistence_id,
                                     .seq = first.seq,
                                     .message = "read-model transaction: " + written.to_string(),
                                     .attempts = 0};
        batch.applied = 0;
    } else if (batch.reload) {
        QRPAY_LOG_INFO("projection %s: shard %u offset moved from %llu to %llu by another writer",
                       name_.c_str(), batch.shard.value, ull(cursor.applied.value),
                       ull(batch.reload->offset.value));
        cursor.applied = batch.reload->offset;
        cursor.applied_written_at = batch.reload->written_at;
        cursor.wanted = true;
        // A failure of an earlier round (say, its offset update lost the race to that writer)
        // that the stored offset has passed is over: those events are applied.
        if (cursor.failure && cursor.failure->offset <= batch.reload->offset) {
            cursor.failure.reset();
            cursor.retry_at = {};
        }
        return;
    }
    if (batch.applied > 0) {
        const journal::ShardEvent& last = batch.events[batch.applied - 1];
        cursor.applied = last.offset;
        cursor.applied_written_at = last.written_at;
        cursor.durable = std::max(cursor.durable, last.offset);
        events_applied_ += batch.applied;
    }
    if (batch.failure) {
        ++result.shards_failed;
        if (result.first_failure.ok()) {
            result.first_failure = Status(Errc::io_error, batch.failure->message);
        }
        record_failure(cursor, batch.shard, std::move(*batch.failure));
        return;
    }
    if (cursor.failure) {
        QRPAY_LOG_INFO("projection %s: shard %u moved past offset %llu again", name_.c_str(),
                       batch.shard.value, ull(cursor.failure->offset.value));
        cursor.failure.reset();
    }
    cursor.retry_at = {};
    cursor.wanted = cursor.wanted || batch.more;
    cursor.caught_up = cursor.caught_up || batch.caught_up;
}

void Engine::record_failure(Cursor& cursor, ShardId shard, ShardFailure failure) {
    ++apply_failures_;
    bool same_offset = cursor.failure && cursor.failure->offset == failure.offset;
    failure.attempts = same_offset ? cursor.failure->attempts + 1 : 1;
    auto backoff = options_.retry_backoff_first;
    for (std::uint64_t i = 1; i < failure.attempts && backoff < options_.retry_backoff_max; ++i) {
        backoff *= 2;
    }
    backoff = std::min(backoff, options_.retry_backoff_max);
    cursor.retry_at = clock_.monotonic_now() + backoff;
    cursor.wanted = true;
    // Attempts 1, 2, 4, 8...: a store that is away for a while (every shard failing, each on
    // its own backoff) logs a few lines per shard, not one per retry. stats() has every one.
    if (!std::has_single_bit(failure.attempts)) {
        cursor.failure = std::move(failure);
        return;
    }
    QRPAY_LOG_ERROR(
        "projection %s: shard %u stopped at offset %llu (%s seq %llu): %s; attempt "
        "%llu, retry in %lld ms",
        name_.c_str(), shard.value, ull(failure.offset.value),
        failure.persistence_id.empty() ? "no event"
                                       : options_.loggable_id(failure.persistence_id).c_str(),
        ull(failure.seq.value), failure.message.c_str(), ull(failure.attempts),
        static_cast<long long>(backoff.count()));
    cursor.failure = std::move(failure);
}

EngineStats Engine::stats() const {
    EngineStats out;
    out.name = name_;
    out.lag = lag_.snapshot();
    std::lock_guard lock(mutex_);
    out.events_applied = events_applied_;
    out.transactions_committed = transactions_committed_;
    out.apply_failures = apply_failures_;
    out.aborted_reruns = aborted_reruns_.load(std::memory_order_relaxed);
    out.store_failures = store_failures_;
    out.shards.reserve(cursors_.size());
    for (const Cursor& cursor : cursors_) {
        out.shards.push_back({.applied = cursor.applied,
                              .applied_written_at = cursor.applied_written_at,
                              .durable = cursor.durable,
                              .caught_up = cursor.caught_up,
                              .failure = cursor.failure});
    }
    return out;
}

bool Engine::projects(std::size_t shard) const {
    return !options_.projects || options_.projects(ShardId(static_cast<std::uint32_t>(shard)));
}

bool Engine::healthy() const {
    std::lock_guard lock(mutex_);
    for (std::size_t shard = 0; shard < cursors_.size(); ++shard) {
        if (cursors_[shard].failure.has_value() && projects(shard)) {
            return false;
        }
    }
    return true;
}

std::optional<UnixMs> Engine::as_of() const {
    std::lock_guard lock(mutex_);
    std::optional<UnixMs> newest;
    std::optional<UnixMs> oldest_behind;
    for (std::size_t shard = 0; shard < cursors_.size(); ++shard) {
        const Cursor& cursor = cursors_[shard];
        if (!projects(shard)) {
            continue;
        }
        bool applied_any = cursor.applied.value > 0;
        if (applied_any && (!newest || cursor.applied_written_at > *newest)) {
            newest = cursor.applied_written_at;
        }
        bool behind =
            !cursor.caught_up || cursor.durable > cursor.applied || cursor.failure.has_value();
        if (!behind) {
            continue;
        }
        if (!applied_any) {
            return std::nullopt;
        }
        if (!oldest_behind || cursor.applied_written_at < *oldest_behind) {
            oldest_behind = cursor.applied_written_at;
        }
    }
    return oldest_behind ? oldest_behind : newest;
}

}  // namespace qrpay::projection
