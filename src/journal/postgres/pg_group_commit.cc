#include "journal/postgres/pg_group_commit.h"

#include <algorithm>
#include <bit>
#include <set>
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
constexpr const char* sql_lock_shard =
    "SELECT fencing_token, last_offset FROM shard_state WHERE shard = $1 FOR UPDATE";
constexpr const char* sql_highest_seq =
    "SELECT coalesce(max(seq), 0) FROM events WHERE persistence_id = $1";
// The highest seqs of several entities at once ("(ids) AS v(id)" closes it), each a backward
// step on the primary key as sql_highest_seq's.
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
// Rows per statement at most. A pass's rows go in statements of the largest powers of two that
// fit, so the connection prepares at most 5 texts of each kind (1, 2, 4, 8, 16 rows); 16 rows
// keep a text (which a failed statement's message repeats) under 600 bytes and gained as much
// as 256 rows in the raw benchmark.
constexpr std::size_t rows_per_statement_max = 16;
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
constexpr const char* sql_store_shard =
    "UPDATE shard_state SET fencing_token = $2, last_offset = $3 WHERE shard = $1";

std::int64_t column(std::uint64_t value) { return static_cast<std::int64_t>(value); }

Status journal_lost(const Status& cause) {
    return {Errc::unreachable, "journal unavailable: " + cause.message()};
}

// One event row of an accepted append, with its seq and shard offset.
struct EventRow {
    const AppendRequest* request;
    const EventData* event;
    SequenceNr seq;
    ShardOffset offset;
};

// The row count of the next statement when `rows` rows are still to go.
std::size_t statement_rows(std::size_t rows) {
    return std::bit_floor(std::min(rows, rows_per_statement_max));
}

// `head` + "($1, ..., $n), ($n+1, ...)" + `tail` for 1, 2, 4 ... rows_per_statement_max rows
// of `columns` parameters: [rows] is the text for `rows` rows.
std::vector<std::string> texts_by_rows(const char* head, int columns, const char* tail) {
    std::vector<std::string> texts(rows_per_statement_max + 1);
    for (std::size_t rows = 1; rows <= rows_per_statement_max; rows *= 2) {
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
std::set<ShardId> touched_shards(std::span<const PendingWrite> writes) {
    std::set<ShardId> shards;
    for (const PendingWrite& write : writes) {
        if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
            shards.insert(append->shard);
        } else if (const auto* claim = std::get_if<ClaimOp>(&write.op)) {
            shards.insert(claim->shard);
        }
    }
    return shards;
}

}  // namespace

GroupOutcome GroupCommitter::commit(Connection& db, std::span<const PendingWrite> group) {
    QRPAY_ASSERT(!group.empty(), "commit of an empty group");
    Pass pass = run_pass(db, group);
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
        Pass pass = run_pass(db, group.subspan(i, 1));
        if (pass.end == PassEnd::aborted) {
            pass = run_pass(db, group.subspan(i, 1));  // the locked rows now show the winner
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
                                              std::span<const PendingWrite> writes) {
    Pass pass;
    pass.outcome.statuses.resize(writes.size());
    cache_.begin_pass();
    shards_.clear();
    entities_.clear();
    keys_.clear();
    if (Status read = read_locked_state(db, writes); !read.ok()) {
        for (Status& status : pass.outcome.statuses) {
            status = db.broken() ? journal_lost(read) : read;
        }
        if (db.broken()) {
            pass.end = PassEnd::lost;
            pass.outcome.connection_lost = true;
        } else {
            (void)db.run_script("ROLLBACK");
            pass.end = PassEnd::aborted;
        }
        return pass;
    }
    Connection::Pipeline batch(db);
    pass.accepted.resize(writes.size());
    for (std::size_t i = 0; i < writes.size(); ++i) {
        Status decided = decide(db, writes[i], batch);
        pass.accepted[i] = decided.ok();
        if (decided.code() == Errc::fenced) {
            ++pass.outcome.fenced;
        }
        pass.outcome.statuses[i] = std::move(decided);
    }
    // The accepted appends' events, in queue order, at the next offsets of their shards.
    std::vector<EventRow> rows;
    for (std::size_t i = 0; i < writes.size(); ++i) {
        const auto* append = std::get_if<AppendRequest>(&writes[i].op);
        if (append == nullptr || !pass.accepted[i]) {
            continue;
        }
        ShardState& shard = shards_.at(append->shard);
        SequenceNr seq = append->expected_seq;
        for (const EventData& event : append->events) {
            seq = seq.next();
            shard.last_offset = shard.last_offset.next();
            rows.push_back({append, &event, seq, shard.last_offset});
        }
    }
    add_event_inserts(rows, batch);
    for (auto& [shard, state] : shards_) {
        if (state.changed) {
            batch.add(sql_store_shard, Params()
                                           .add_int(column(shard.value))
                                           .add_int(column(state.fencing.value))
                                           .add_int(column(state.last_offset.value)));
        }
    }
    batch.add(sql_commit, Params());
    Result<std::vector<Result<Rows>>> answers = batch.finish();
    std::optional<Status> failed;
    if (!answers.ok()) {
        failed = answers.status();
    } else {
        for (const Result<Rows>& answer : *answers) {
            if (!answer.ok()) {
                failed = answer.status();
                break;
            }
        }
    }
    if (failed) {
        cache_.forget_staged();
        const bool lost = db.broken();
        pass.end = lost ? PassEnd::lost : PassEnd::aborted;
        pass.outcome.connection_lost = lost;
        if (!lost) {
            (void)db.run_script("ROLLBACK");
        }
        for (std::size_t i = 0; i < writes.size(); ++i) {
            if (pass.accepted[i]) {
                pass.outcome.statuses[i] =
                    lost ? Status(Errc::unknown_outcome,
                                  "journal connection lost at commit: " + failed->message())
                         : *failed;
            }
        }
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

// Step 1: BEGIN, the locked shard rows, the locked key rows, the highest seqs the cache cannot
// vouch for, in one round trip; fills shards_, entities_ and keys_.
Status GroupCommitter::read_locked_state(Connection& db, std::span<const PendingWrite> writes) {
    Connection::Pipeline reads(db);
    reads.add(sql_begin, Params());
    const std::set<ShardId> shards = touched_shards(writes);
    for (ShardId shard : shards) {
        if (!shard_rows_known_.contains(shard)) {
            reads.add(sql_ensure_shard, Params().add_int(column(shard.value)));
        }
        reads.add(sql_lock_shard, Params().add_int(column(shard.value)));
    }
    std::vector<std::string_view> locked_keys;  // in the order of their answers
    std::vector<std::string_view> unknown;      // entities whose highest seq is read
    for (const PendingWrite& write : writes) {
        const auto* append = std::get_if<AppendRequest>(&write.op);
        if (append == nullptr) {
            continue;
        }
        EntitySlot* slot = cache_.slot(append->persistence_id);
        const bool cached = slot != nullptr && slot->committed.has_value();
        if (!cached && entities_.emplace(append->persistence_id, EntityState{}).second) {
            unknown.push_back(append->persistence_id);
        }
        for (const std::string& key : append->claimed_keys) {
            if (keys_.emplace(key, KeyHolder{}).second) {
                locked_keys.push_back(key);
                reads.add(sql_lock_key, Params().add_text(key));
            }
        }
    }
    add_highest_seq_reads(unknown, reads);
    Result<std::vector<Result<Rows>>> answers = reads.finish();
    if (!answers.ok()) {
        return answers.status();
    }
    for (const Result<Rows>& answer : *answers) {
        if (!answer.ok()) {
            return answer.status();
        }
    }
    std::size_t at = 1;  // after BEGIN
    for (ShardId shard : shards) {
        at += shard_rows_known_.contains(shard) ? 0 : 1;
        const Rows& row = *(*answers)[at++];
        QRPAY_ASSERT(row.count() == 1, "a shard_state row is missing after its insert");
        shards_[shard] = {FencingToken(static_cast<std::uint64_t>(row.int_at(0, 0))),
                          ShardOffset(static_cast<std::uint64_t>(row.int_at(0, 1)))};
    }
    for (std::string_view key : locked_keys) {
        const Rows& row = *(*answers)[at++];
        if (row.count() == 1) {
            keys_[std::string(key)] = {row.bytes_at(0, 0), UnixMs{row.int_at(0, 1)}};
        }
    }
    std::size_t read = 0;
    for (; at < answers->size(); ++at) {
        const Rows& rows = *(*answers)[at];
        for (int row = 0; row < rows.count(); ++row, ++read) {
            const SequenceNr highest(static_cast<std::uint64_t>(rows.int_at(row, 1)));
            entities_[rows.bytes_at(row, 0)] = {highest, wakeup_row_of(highest)};
        }
    }
    QRPAY_ASSERT(read == unknown.size(), "a highest seq read answered another number of rows");
    return {};
}

// Step 2 for one write: accepted (its rows queued on `batch`) or refused (nothing queued).
Status GroupCommitter::decide(Connection& db,
                              const PendingWrite& write,
                              Connection::Pipeline& batch) {
    if (const auto* append = std::get_if<AppendRequest>(&write.op)) {
        return decide_append(db, *append, batch);
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

Status GroupCommitter::decide_append(Connection& db,
                                     const AppendRequest& request,
                                     Connection::Pipeline& batch) {
    ShardState& shard = shards_.at(request.shard);
    if (request.fencing != shard.fencing) {
        return {Errc::fenced, "the shard's fencing token is " +
                                  std::to_string(shard.fencing.value) + ", not " +
                                  std::to_string(request.fencing.value)};
    }
    Result<EntityState> entity = entity_state(db, request, shard);
    if (!entity.ok()) {
        return entity.status();
    }
    if (request.expected_seq != entity->highest) {
        return {Errc::sequence_conflict, "expected seq " +
                                             std::to_string(request.expected_seq.value) +
                                             ", stored " + std::to_string(entity->highest.value)};
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
    } else if (entity->wakeup != WakeupRow::absent) {
        batch.add(sql_clear_wakeup, Params().add_text(request.persistence_id));
    }
    stage_keys(request, batch);
    const EntityState after{seq, request.wake_at ? WakeupRow::present : WakeupRow::absent};
    entities_[request.persistence_id] = after;
    if (EntitySlot* slot = cache_.slot(request.persistence_id)) {
        cache_.stage(*slot, {after.highest, shard.fencing, request.shard, after.wakeup});
    }
    return {};
}

// The entity as this pass sees it: an earlier write of the pass, else the cache's committed tip
// while the shard still has the token it was written under, else the stored rows.
Result<GroupCommitter::EntityState> GroupCommitter::entity_state(Connection& db,
                                                                 const AppendRequest& request,
                                                                 const ShardState& shard) {
    EntitySlot* slot = cache_.slot(request.persistence_id);
    if (slot != nullptr && slot->staged) {
        return EntityState{slot->staged->highest_seq, slot->staged->wakeup};
    }
    if (auto found = entities_.find(request.persistence_id); found != entities_.end()) {
        return found->second;
    }
    if (slot != nullptr && slot->committed && slot->committed->shard == request.shard &&
        slot->committed->fencing == shard.fencing) {
        return EntityState{slot->committed->highest_seq, slot->committed->wakeup};
    }
    // A tip from before the shard changed hands: the rows decide (a round trip, seldom).
    Result<Rows> highest = db.query(sql_highest_seq, Params().add_text(request.persistence_id));
    if (!highest.ok()) {
        return highest.status();
    }
    const SequenceNr stored(static_cast<std::uint64_t>(highest->int_at(0, 0)));
    const EntityState state{stored, wakeup_row_of(stored)};
    entities_[request.persistence_id] = state;
    return state;
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
