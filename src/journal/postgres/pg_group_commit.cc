#include "journal/postgres/pg_group_commit.h"

#include <algorithm>
#include <bit>
#include <utility>
#include <variant>

#include "base/assert.h"
#include "base/log.h"

namespace qrpay::journal::postgres {

namespace {

using qrpay::postgres::Connection;
using qrpay::postgres::Params;
using qrpay::postgres::Rows;

constexpr const char* sql_begin = "BEGIN";
constexpr const char* sql_commit = "COMMIT";
constexpr const char* sql_ensure_shard =
    "INSERT INTO shard_state (shard, fencing_token, last_offset) VALUES ($1, 0, 0) "
    "ON CONFLICT (shard) DO NOTHING";
// Several shards' rows at once ("(shards) ORDER BY ..." closes it). Rows are locked in the
// order they are returned, after the sort: in shard order.
constexpr const char* sql_lock_shards_head =
    "SELECT shard, fencing_token, last_offset FROM shard_state WHERE shard IN (";
constexpr const char* sql_lock_shards_tail = ") ORDER BY shard FOR UPDATE";
// The highest seqs of several entities at once ("(ids) AS v(id)" closes it), each a backward
// step on the primary key.
constexpr const char* sql_highest_seqs_head =
    "SELECT v.id, (SELECT coalesce(max(seq), 0) FROM events WHERE persistence_id = v.id) "
    "FROM (VALUES ";
constexpr const char* sql_highest_seqs_tail = ") AS v(id)";
constexpr const char* sql_lock_key =
    "SELECT persistence_id, claimed_at_unix_ms FROM claimed_keys WHERE key = $1 FOR UPDATE";
// Events go in multi-row INSERTs, and the highest seqs the cache cannot vouch for are read
// several per statement: PostgreSQL's cost per statement (executor start and end, the CHECK
// constraints read back from the catalog, a result sent back) is then paid once per
// rows_per_statement_max rows, not per row. Single-row statements held the journal to about
// half the rate (bench/pg_journal_bench.cc; docs/benchmarks.md, "PostgreSQL journal").
constexpr const char* sql_insert_events_head =
    "INSERT INTO events (persistence_id, seq, shard, shard_offset, type, payload, "
    "written_at_unix_ms) VALUES ";
constexpr int event_columns = 7;
constexpr const char* sql_copy_events =
    "COPY events (persistence_id, seq, shard, shard_offset, type, payload, written_at_unix_ms) "
    "FROM STDIN (FORMAT binary)";
// Rows per statement at most. A pass's rows go in statements of the largest powers of two that
// fit, so the connection prepares at most 5 texts of each kind (1, 2, 4, 8, 16 rows); 16 rows
// keep a text (which a failed statement's message repeats) under 600 bytes and gained as much
// as 256 rows in the raw benchmark.
constexpr std::size_t rows_per_statement_max = 16;
// Shards per statement at most when their rows are locked or written: a group touches every
// shard of a busy node (64 by default), in one statement each way.
constexpr std::size_t shards_per_statement_max = 64;
constexpr const char* sql_set_wakeup =
    "INSERT INTO wakeups (persistence_id, shard, wake_at_unix_ms) VALUES ($1, $2, $3) "
    "ON CONFLICT (persistence_id) DO UPDATE SET shard = excluded.shard, "
    "wake_at_unix_ms = excluded.wake_at_unix_ms";
constexpr const char* sql_clear_wakeup = "DELETE FROM wakeups WHERE persistence_id = $1";
// Reached only for a key nobody holds, or whose claim by another entity expired.
constexpr const char* sql_store_claim =
    "INSERT INTO claimed_keys (key, persistence_id, claimed_at_unix_ms) VALUES ($1, $2, $3) "
    "ON CONFLICT (key) DO UPDATE SET persistence_id = excluded.persistence_id, "
    "claimed_at_unix_ms = excluded.claimed_at_unix_ms";
constexpr const char* sql_store_snapshot =
    "INSERT INTO snapshots (persistence_id, seq, payload) VALUES ($1, $2, $3) "
    "ON CONFLICT (persistence_id) DO UPDATE SET seq = excluded.seq, payload = excluded.payload "
    "WHERE snapshots.seq < excluded.seq";
// Several shards' new fencing tokens and last offsets at once ("(shard, token, offset) ...").
constexpr const char* sql_store_shards_head =
    "UPDATE shard_state AS s SET fencing_token = v.token, last_offset = v.last_offset "
    "FROM (VALUES ";
constexpr const char* sql_store_shards_tail =
    ") AS v(shard, token, last_offset) WHERE s.shard = v.shard";
constexpr int shard_columns = 3;

std::int64_t column(std::uint64_t value) { return static_cast<std::int64_t>(value); }

Status journal_lost(const Status& cause) {
    return {Errc::unreachable, "journal unavailable: " + cause.message()};
}

// The row count of the next statement when `rows` rows are still to go.
std::size_t statement_rows(std::size_t rows, std::size_t max = rows_per_statement_max) {
    return std::bit_floor(std::min(rows, max));
}

// `head` + "($1, ..., $n), ($n+1, ...)" + `tail` for 1, 2, 4 ... max_rows rows of `columns`
// parameters: [rows] is the text for `rows` rows.
std::vector<std::string> texts_by_rows(const char* head,
                                       int columns,
                                       const char* tail,
                                       std::size_t max_rows = rows_per_statement_max) {
    std::vector<std::string> texts(max_rows + 1);
    for (std::size_t rows = 1; rows <= max_rows; rows *= 2) {
        std::string& sql = texts[rows];
        sql = head;
        int param = 0;
        for (std::size_t row = 0; row < rows; ++row) {
            sql += row == 0 ? "(" : ", (";
            for (int column = 0; column < columns; ++column) {
                sql += (column == 0 ? "$" : ", $") + std::to_string(++param);
            }
            sql += ")";
        }
        sql += tail;
    }
    return texts;
}

const std::string& insert_events_sql(std::size_t rows) {
    static const std::vector<std::string> texts =
        texts_by_rows(sql_insert_events_head, event_columns, "");
    QRPAY_ASSERT(rows == statement_rows(rows), "a statement's row count is no power of two");
    return texts[rows];
}

const std::string& highest_seqs_sql(std::size_t rows) {
    static const std::vector<std::string> texts =
        texts_by_rows(sql_highest_seqs_head, 1, sql_highest_seqs_tail);
    QRPAY_ASSERT(rows == statement_rows(rows), "a statement's row count is no power of two");
    return texts[rows];
}

const std::string& lock_shards_sql(std::size_t rows) {
    static const std::vector<std::string> texts =
        texts_by_rows(sql_lock_shards_head, 1, sql_lock_shards_tail, shards_per_statement_max);
    QRPAY_ASSERT(rows == statement_rows(rows, shards_per_statement_max),
                 "a statement's row count is no power of two");
    return texts[rows];
}

const std::string& store_shards_sql(std::size_t rows) {
    static const std::vector<std::string> texts = texts_by_rows(
        sql_store_shards_head, shard_columns, sql_store_shards_tail, shards_per_statement_max);
    QRPAY_ASSERT(rows == statement_rows(rows, shards_per_statement_max),
                 "a statement's row count is no power of two");
    return texts[rows];
}

// Queues the locks of `shards`' rows, in shard order; each answer has rows (shard, fencing
// token, last offset).
void add_shard_locks(std::span<const ShardId> shards, Connection::Pipeline& reads) {
    while (!shards.empty()) {
        const std::size_t size = statement_rows(shards.size(), shards_per_statement_max);
        Params params;
        for (ShardId shard : shards.first(size)) {
            params.add_int(column(shard.value));
        }
        reads.add(lock_shards_sql(size), std::move(params));
        shards = shards.subspan(size);
    }
}

// Queues the reads of the highest seqs of `ids`; each answer has rows (id, highest seq).
void add_highest_seq_reads(std::span<const std::string_view> ids, Connection::Pipeline& reads) {
    while (!ids.empty()) {
        const std::size_t size = statement_rows(ids.size());
        Params params;
        for (std::string_view id : ids.first(size)) {
            params.add_text(id);
        }
        reads.add(highest_seqs_sql(size), std::move(params));
        ids = ids.subspan(size);
    }
}

// A pipeline's first failure: the connection lost, or the first statement that failed.
Status first_failure(const Result<std::vector<Result<Rows>>>& answers) {
    if (!answers.ok()) {
        return answers.status();
    }
    for (const Result<Rows>& answer : *answers) {
        if (!answer.ok()) {
            return answer.status();
        }
    }
    return {};
}

std::size_t events_in(std::span<const PendingWrite> writes) {
    std::size_t events = 0;
    for (const PendingWrite& write : writes) {
        if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
            events += append->events.size();
        }
    }
    return events;
}

// Queues `rows` as INSERTs.
void add_event_inserts(std::span<const EventRow> rows, Connection::Pipeline& batch) {
    while (!rows.empty()) {
        const std::size_t size = statement_rows(rows.size());
        Params params;
        for (const EventRow& row : rows.first(size)) {
            params.add_text(row.request->persistence_id)
                .add_int(column(row.seq.value))
                .add_int(column(row.request->shard.value))
                .add_int(column(row.offset.value))
                .add_text(row.event->type)
                .add_bytes(row.event->payload)
                .add_int(row.request->written_at.value);
        }
        batch.add(insert_events_sql(size), std::move(params));
        rows = rows.subspan(size);
    }
}

// What the stored rows say of an entity's wakeups row, given its highest stored seq. An entity
// without events has none: that row is only ever written together with events, and events are
// never deleted (as the SQLite journal reasons). So a first append deletes no wakeups row.
WakeupRow wakeup_row_of(SequenceNr highest) {
    return highest == SequenceNr(0) ? WakeupRow::absent : WakeupRow::unknown;
}

bool is_refusal(const Status& status) {
    return status.code() == Errc::fenced || status.code() == Errc::sequence_conflict ||
           status.code() == Errc::key_taken;
}

// The shards a group's appends and claims touch, in order: rows are locked in this order by
// every writer, so two writers of one database never wait for each other in a cycle.
std::vector<ShardId> touched_shards(std::span<const PendingWrite> writes) {
    // A group has up to thousands of writes, a node tens or hundreds of shards: ids below
    // dense_ids are marked in a bitmap (linear), any others sorted in.
    constexpr std::uint32_t dense_ids = 4096;
    std::vector<bool> touched(dense_ids);
    std::vector<ShardId> shards;
    const auto touch = [&](ShardId shard) {
        if (shard.value >= dense_ids) {
            shards.push_back(shard);
        } else {
            touched[shard.value] = true;
        }
    };
    for (const PendingWrite& write : writes) {
        if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
            touch(append->shard);
        } else if (const auto* claim = std::get_if<ClaimOp>(&write.op)) {
            touch(claim->shard);
        }
    }
    for (std::uint32_t shard = 0; shard < dense_ids; ++shard) {
        if (touched[shard]) {
            shards.emplace_back(shard);
        }
    }
    std::sort(shards.begin(), shards.end());
    shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
    return shards;
}

}  // namespace

GroupOutcome GroupCommitter::commit(Connection& db, std::span<const PendingWrite> group) {
    QRPAY_ASSERT(!group.empty(), "commit of an empty group");
    Pass pass = run_pass(db, group, Trust::new_entities);
    if (pass.end != PassEnd::aborted) {
        return std::move(pass.outcome);
    }
    GroupOutcome outcome = isolate(db, group);
    outcome.retried_isolated = true;
    return outcome;
}

// One transaction per write, so that the write a constraint refused fails alone. A write
// refused twice in a row by a constraint (a competing writer keeps winning) fails with
// io_error; its entity recovers from the journal.
GroupOutcome GroupCommitter::isolate(Connection& db, std::span<const PendingWrite> group) {
    GroupOutcome outcome;
    std::map<ShardId, ShardOffset> durable;
    for (std::size_t i = 0; i < group.size(); ++i) {
        Pass pass = run_pass(db, group.subspan(i, 1), Trust::stored_rows_only);
        if (pass.end == PassEnd::aborted) {
            // The locked rows now show the winner.
            pass = run_pass(db, group.subspan(i, 1), Trust::stored_rows_only);
        }
        Status status = std::move(pass.outcome.statuses.front());
        if (pass.end == PassEnd::aborted && !is_refusal(status)) {
            QRPAY_LOG_WARN("journal writer: a write failed twice alone: %s",
                           status.to_string().c_str());
            status = Status(Errc::io_error, "journal write failed: " + status.message());
        }
        outcome.statuses.push_back(std::move(status));
        outcome.commits += pass.outcome.commits;
        outcome.appends_stored += pass.outcome.appends_stored;
        outcome.fenced += pass.outcome.fenced;
        for (const ShardTip& tip : pass.outcome.durable) {
            durable[tip.shard] = std::max(durable[tip.shard], tip.offset);
        }
        if (pass.end == PassEnd::lost) {
            outcome.connection_lost = true;
            for (std::size_t rest = i + 1; rest < group.size(); ++rest) {
                outcome.statuses.emplace_back(Errc::unreachable,
                                              "journal unavailable: connection lost");
            }
            break;
        }
    }
    for (const auto& [shard, offset] : durable) {
        outcome.durable.push_back({shard, offset});
    }
    return outcome;
}

GroupCommitter::Pass GroupCommitter::run_pass(Connection& db,
                                              std::span<const PendingWrite> writes,
                                              Trust trust) {
    Pass pass;
    pass.outcome.statuses.resize(writes.size());
    pass.accepted.resize(writes.size());
    cache_.begin_pass();
    shards_.clear();
    entities_.clear();
    keys_.clear();
    if (Status read = read_locked_state(db, writes, trust); !read.ok()) {
        end_failed_read(db, read, pass);
        return pass;
    }
    Connection::Pipeline batch(db);
    if (Status stored = decide_and_store_events(db, writes, pass, batch); !stored.ok()) {
        // Nothing is committed: the COMMIT was never sent.
        end_failed_pass(db, writes, stored, /*commit_sent=*/false, pass);
        return pass;
    }
    add_shard_stores(batch);
    batch.add(sql_commit, Params());
    if (Status committed = first_failure(batch.finish()); !committed.ok()) {
        end_failed_pass(db, writes, committed, /*commit_sent=*/true, pass);
        return pass;
    }
    cache_.publish_staged();
    pass.outcome.commits = 1;
    for (std::size_t i = 0; i < writes.size(); ++i) {
        if (pass.accepted[i] && std::holds_alternative<AppendRequest>(writes[i].op)) {
            ++pass.outcome.appends_stored;
        }
    }
    for (const auto& [shard, state] : shards_) {
        shard_rows_known_.insert(shard);
        if (state.changed) {
            pass.outcome.durable.push_back({shard, state.last_offset});
        }
    }
    return pass;
}

// Step 2 and 3: each write decided in queue order (the rows of an accepted one other than its
// events queued on `batch`), and the accepted appends' events stored. With a COPY, each
// append's events are streamed as it is decided, so PostgreSQL stores the first while the rest
// are decided; without, they are queued on `batch` as INSERTs.
Status GroupCommitter::decide_and_store_events(Connection& db,
                                               std::span<const PendingWrite> writes,
                                               Pass& pass,
                                               Connection::Pipeline& batch) {
    std::optional<Connection::CopyIn> copy;
    if (events_in(writes) >= copy_events_min_) {
        copy.emplace(db, sql_copy_events);
    }
    std::vector<EventRow> rows;
    for (std::size_t i = 0; i < writes.size(); ++i) {
        Status decided = decide(writes[i], slots_[i], batch);
        pass.accepted[i] = decided.ok();
        if (decided.code() == Errc::fenced) {
            ++pass.outcome.fenced;
        }
        pass.outcome.statuses[i] = std::move(decided);
        const auto* append = std::get_if<AppendRequest>(&writes[i].op);
        if (append != nullptr && pass.accepted[i]) {
            add_event_rows(*append, copy ? &*copy : nullptr, rows);
        }
    }
    if (copy) {
        return finish_copy(*copy);
    }
    add_event_inserts(rows, batch);
    return {};
}

// A pass whose step 1 failed: every write fails with `failure`.
void GroupCommitter::end_failed_read(Connection& db, const Status& failure, Pass& pass) {
    const bool lost = db.broken();
    for (Status& status : pass.outcome.statuses) {
        status = lost ? journal_lost(failure) : failure;
    }
    pass.end = lost ? PassEnd::lost : PassEnd::aborted;
    pass.outcome.connection_lost = lost;
    if (!lost) {
        (void)db.run_script("ROLLBACK");
    }
}

// Queues the new fencing token and last offset of every shard the pass changed.
void GroupCommitter::add_shard_stores(Connection::Pipeline& batch) const {
    std::vector<std::pair<ShardId, const ShardState*>> changed;
    for (const auto& [shard, state] : shards_) {
        if (state.changed) {
            changed.emplace_back(shard, &state);
        }
    }
    std::span<const std::pair<ShardId, const ShardState*>> rest(changed);
    while (!rest.empty()) {
        const std::size_t size = statement_rows(rest.size(), shards_per_statement_max);
        Params params;
        for (const auto& [shard, state] : rest.first(size)) {
            params.add_int(column(shard.value))
                .add_int(column(state->fencing.value))
                .add_int(column(state->last_offset.value));
        }
        batch.add(store_shards_sql(size), std::move(params));
        rest = rest.subspan(size);
    }
}

// A pass whose transaction failed after step 1: lost with the connection, or aborted (rolled
// back here). Its accepted writes fail with `failure`; unknown_outcome when the connection was
// lost with the COMMIT sent, unreachable when it was lost before.
void GroupCommitter::end_failed_pass(Connection& db,
                                     std::span<const PendingWrite> writes,
                                     const Status& failure,
                                     bool commit_sent,
                                     Pass& pass) {
    cache_.forget_staged();
    const bool lost = db.broken();
    pass.end = lost ? PassEnd::lost : PassEnd::aborted;
    pass.outcome.connection_lost = lost;
    if (!lost) {
        (void)db.run_script("ROLLBACK");
    }
    Status answer = failure;
    if (lost) {
        answer = commit_sent ? Status(Errc::unknown_outcome,
                                      "journal connection lost at commit: " + failure.message())
                             : journal_lost(failure);
    }
    for (std::size_t i = 0; i < writes.size(); ++i) {
        if (pass.accepted[i]) {
            pass.outcome.statuses[i] = answer;
        }
    }
}

// The append's events at the next offsets of its shard: onto `copy`, or into `rows` without.
void GroupCommitter::add_event_rows(const AppendRequest& append,
                                    Connection::CopyIn* copy,
                                    std::vector<EventRow>& rows) {
    ShardState& shard = shards_.at(append.shard);
    SequenceNr seq = append.expected_seq;
    for (const EventData& event : append.events) {
        seq = seq.next();
        shard.last_offset = shard.last_offset.next();
        if (copy == nullptr) {
            rows.push_back({&append, &event, seq, shard.last_offset});
            continue;
        }
        copy->begin_row(event_columns);
        copy->add_bytes(append.persistence_id);
        copy->add_int(column(seq.value));
        copy->add_int(column(append.shard.value));
        copy->add_int(column(shard.last_offset.value));
        copy->add_bytes(event.type);
        copy->add_bytes(event.payload);
        copy->add_int(append.written_at.value);
        ++rows_copied_;
    }
}

// Ends step 3's COPY; every row it was given must be stored.
Status GroupCommitter::finish_copy(Connection::CopyIn& copy) {
    Result<std::int64_t> copied = copy.finish();
    const std::size_t expected = std::exchange(rows_copied_, 0);
    if (!copied.ok()) {
        return copied.status();
    }
    QRPAY_ASSERT(static_cast<std::size_t>(*copied) == expected, "a COPY stored other rows");
    return {};
}

// Step 1: BEGIN, the locked shard rows, the locked key rows, the highest seqs the cache cannot
// vouch for, in one round trip; fills shards_, entities_ and keys_. With
// Trust::new_entities, an append that expects a new entity (seq 0) is taken at its word.
Status GroupCommitter::read_locked_state(Connection& db,
                                         std::span<const PendingWrite> writes,
                                         Trust trust) {
    Connection::Pipeline reads(db);
    reads.add(sql_begin, Params());
    ReadPlan plan;
    const std::vector<ShardId> shards = touched_shards(writes);
    for (ShardId shard : shards) {
        if (!shard_rows_known_.contains(shard)) {
            reads.add(sql_ensure_shard, Params().add_int(column(shard.value)));
        }
    }
    plan.shard_locks_at = reads.size();
    add_shard_locks(shards, reads);
    plan.shard_locks_end = reads.size();
    slots_.assign(writes.size(), nullptr);
    for (std::size_t i = 0; i < writes.size(); ++i) {
        if (const auto* append = std::get_if<AppendRequest>(&writes[i].op)) {
            slots_[i] = cache_.slot(append->persistence_id);
            plan_entity_read(*append, slots_[i], trust, plan);
            plan_key_locks(*append, plan, reads);
        }
    }
    add_highest_seq_reads(plan.unknown, reads);
    Result<std::vector<Result<Rows>>> answers = reads.finish();
    if (Status failed = first_failure(answers); !failed.ok()) {
        return failed;
    }
    take_read_answers(plan, *answers);
    QRPAY_ASSERT(shards_.size() == shards.size(), "a shard_state row is missing after its insert");
    return {};
}

// Whether step 1 reads the entity's highest seq (into plan.unknown), or takes it from the
// cache, or (Trust::new_entities) believes an append that expects a new entity.
void GroupCommitter::plan_entity_read(const AppendRequest& append,
                                      const EntitySlot* slot,
                                      Trust trust,
                                      ReadPlan& plan) {
    const EntityTip* tip = slot != nullptr && slot->committed ? &*slot->committed : nullptr;
    if (tip != nullptr && tip->shard == append.shard && tip->fencing == append.fencing) {
        return;  // the cache vouches, if the append passes its fence (entity_state())
    }
    // A tip from before the shard changed hands is read again from the rows.
    if (tip == nullptr && trust == Trust::new_entities && append.expected_seq == SequenceNr(0)) {
        entities_.emplace(append.persistence_id, EntityState{SequenceNr(0), WakeupRow::absent});
    } else if (entities_.emplace(append.persistence_id, EntityState{}).second) {
        plan.unknown.push_back(append.persistence_id);
    }
}

void GroupCommitter::plan_key_locks(const AppendRequest& append,
                                    ReadPlan& plan,
                                    Connection::Pipeline& reads) {
    for (const std::string& key : append.claimed_keys) {
        if (keys_.emplace(key, KeyHolder{}).second) {
            plan.locked_keys.push_back(key);
            reads.add(sql_lock_key, Params().add_text(key));
        }
    }
}

// Fills shards_, keys_ and entities_ from step 1's answers, in the order `plan` asked.
void GroupCommitter::take_read_answers(const ReadPlan& plan,
                                       const std::vector<Result<Rows>>& answers) {
    std::size_t at = plan.shard_locks_at;
    for (; at < plan.shard_locks_end; ++at) {
        const Rows& rows = *answers[at];
        for (int row = 0; row < rows.count(); ++row) {
            shards_[ShardId(static_cast<std::uint32_t>(rows.int_at(row, 0)))] = {
                FencingToken(static_cast<std::uint64_t>(rows.int_at(row, 1))),
                ShardOffset(static_cast<std::uint64_t>(rows.int_at(row, 2)))};
        }
    }
    for (std::string_view key : plan.locked_keys) {
        const Rows& row = *answers[at++];
        if (row.count() == 1) {
            keys_[std::string(key)] = {row.bytes_at(0, 0), UnixMs{row.int_at(0, 1)}};
        }
    }
    std::size_t read = 0;
    for (; at < answers.size(); ++at) {
        const Rows& rows = *answers[at];
        for (int row = 0; row < rows.count(); ++row, ++read) {
            const SequenceNr highest(static_cast<std::uint64_t>(rows.int_at(row, 1)));
            entities_[rows.bytes_at(row, 0)] = {highest, wakeup_row_of(highest)};
        }
    }
    QRPAY_ASSERT(read == plan.unknown.size(), "a highest seq read answered another number of rows");
}

// Step 2 for one write: accepted (its rows queued on `batch`) or refused (nothing queued).
Status GroupCommitter::decide(const PendingWrite& write,
                              EntitySlot* slot,
                              Connection::Pipeline& batch) {
    if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
        return decide_append(*append, slot, batch);
    }
    if (const auto* claim = std::get_if<ClaimOp>(&write.op)) {
        ShardState& shard = shards_.at(claim->shard);
        if (claim->token <= shard.fencing) {
            return {Errc::fenced,
                    "the shard's fencing token is already " + std::to_string(shard.fencing.value)};
        }
        shard.fencing = claim->token;
        shard.changed = true;
        return {};
    }
    const auto& snapshot = std::get<SnapshotOp>(write.op);
    batch.add(sql_store_snapshot, Params()
                                      .add_text(snapshot.persistence_id)
                                      .add_int(column(snapshot.snapshot.seq.value))
                                      .add_bytes(snapshot.snapshot.payload));
    return {};
}

Status GroupCommitter::decide_append(const AppendRequest& request,
                                     EntitySlot* slot,
                                     Connection::Pipeline& batch) {
    ShardState& shard = shards_.at(request.shard);
    if (request.fencing != shard.fencing) {
        return {Errc::fenced, "the shard's fencing token is " +
                                  std::to_string(shard.fencing.value) + ", not " +
                                  std::to_string(request.fencing.value)};
    }
    const EntityState entity = entity_state(request, slot, shard);
    if (request.expected_seq != entity.highest) {
        return {Errc::sequence_conflict, "expected seq " +
                                             std::to_string(request.expected_seq.value) +
                                             ", stored " + std::to_string(entity.highest.value)};
    }
    if (Status keys = check_keys(request); !keys.ok()) {
        return keys;
    }
    // The events' rows are queued by run_pass once every write is decided (multi-row INSERTs).
    const SequenceNr seq(request.expected_seq.value + request.events.size());
    shard.changed = true;
    if (request.wake_at) {
        batch.add(sql_set_wakeup, Params()
                                      .add_text(request.persistence_id)
                                      .add_int(column(request.shard.value))
                                      .add_int(request.wake_at->value));
    } else if (entity.wakeup != WakeupRow::absent) {
        batch.add(sql_clear_wakeup, Params().add_text(request.persistence_id));
    }
    stage_keys(request, batch);
    const EntityState after{seq, request.wake_at ? WakeupRow::present : WakeupRow::absent};
    if (slot != nullptr) {
        cache_.stage(*slot, {after.highest, shard.fencing, request.shard, after.wakeup});
    } else {
        entities_[request.persistence_id] = after;
    }
    return {};
}

// The entity as this pass sees it: an earlier write of the pass, else the stored rows (read in
// step 1) or what step 1 took at its word, else the cache's committed tip written under the
// shard's token.
GroupCommitter::EntityState GroupCommitter::entity_state(const AppendRequest& request,
                                                         const EntitySlot* slot,
                                                         const ShardState& shard) {
    if (slot != nullptr && slot->staged) {
        return EntityState{slot->staged->highest_seq, slot->staged->wakeup};
    }
    if (auto found = entities_.find(request.persistence_id); found != entities_.end()) {
        return found->second;
    }
    // Read in step 1 unless the tip was written under the append's token, which passed its
    // fence: the shard's token now.
    QRPAY_ASSERT(slot != nullptr && slot->committed && slot->committed->shard == request.shard &&
                     slot->committed->fencing == shard.fencing,
                 "an entity neither read nor vouched for by the cache");
    return EntityState{slot->committed->highest_seq, slot->committed->wakeup};
}

Status GroupCommitter::check_keys(const AppendRequest& request) const {
    for (const std::string& key : request.claimed_keys) {
        const KeyHolder& holder = keys_.at(key);
        const bool live =
            !holder.persistence_id.empty() &&
            holder.claimed_at.value + key_retention_.count() > request.written_at.value;
        if (live && holder.persistence_id != request.persistence_id) {
            return {Errc::key_taken, "a claimed key is held by another entity"};
        }
    }
    return {};
}

// A key the entity holds keeps its first claim; a free or expired one is bound to it now.
void GroupCommitter::stage_keys(const AppendRequest& request, Connection::Pipeline& batch) {
    for (const std::string& key : request.claimed_keys) {
        KeyHolder& holder = keys_.at(key);
        if (holder.persistence_id == request.persistence_id) {
            continue;
        }
        holder = {request.persistence_id, request.written_at};
        batch.add(sql_store_claim, Params()
                                       .add_text(key)
                                       .add_text(request.persistence_id)
                                       .add_int(request.written_at.value));
    }
}

}  // namespace qrpay::journal::postgres
