#include "journal/sqlite/group_commit.h"

#include <string>
#include <utility>

#include "base/assert.h"
#include "base/log.h"
#include "journal/sqlite/key_claims.h"
#include "journal/sqlite/sqlite_schema.h"
#include "sqlite/connection.h"
#include "sqlite/transaction.h"

namespace qrpay::journal::sqlite {

namespace {

using qrpay::sqlite::Statement;
using qrpay::sqlite::to_column;

constexpr const char* sql_savepoint = "SAVEPOINT write";
constexpr const char* sql_release = "RELEASE write";
constexpr const char* sql_rollback_to = "ROLLBACK TO write";
constexpr const char* sql_insert_event =
    "INSERT INTO events (persistence_id, seq, shard, shard_offset, type, payload, "
    "written_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* sql_store_last_offset =
    "INSERT INTO shard_state (shard, fencing_token, last_offset) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (shard) DO UPDATE SET last_offset = excluded.last_offset";
constexpr const char* sql_store_fencing =
    "INSERT INTO shard_state (shard, fencing_token, last_offset) VALUES (?1, ?2, 0) "
    "ON CONFLICT (shard) DO UPDATE SET fencing_token = excluded.fencing_token";
constexpr const char* sql_store_wakeup =
    "INSERT INTO wakeups (shard, persistence_id, wake_at_unix_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (shard, persistence_id) DO UPDATE SET "
    "wake_at_unix_ms = excluded.wake_at_unix_ms";
constexpr const char* sql_delete_wakeup =
    "DELETE FROM wakeups WHERE shard = ?1 AND persistence_id = ?2";
constexpr const char* sql_store_snapshot =
    "INSERT INTO snapshots (persistence_id, seq, payload) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (persistence_id) DO UPDATE SET seq = excluded.seq, payload = excluded.payload "
    "WHERE excluded.seq > snapshots.seq";

Status run_statement(Result<Statement>& statement, const char* what) {
    if (!statement.ok()) {
        return statement.status();
    }
    return statement->run(what);
}

void record_tip(std::vector<ShardTip>& tips, ShardTip tip) {
    for (ShardTip& known : tips) {
        if (known.shard == tip.shard) {
            QRPAY_ASSERT(known.offset < tip.offset, "shard offsets went backwards in a group");
            known.offset = tip.offset;
            return;
        }
    }
    tips.push_back(tip);
}

bool is_refusal(const Status& status) {
    return status.code() == Errc::sequence_conflict || status.code() == Errc::fenced ||
           status.code() == Errc::key_taken;
}

void fail_all(GroupOutcome& outcome, const Status& status) {
    for (Status& each : outcome.statuses) {
        each = status;
    }
    outcome.durable.clear();
    outcome.appends_stored = 0;
}

Status check_fencing(const AppendRequest& request, FencingToken current) {
    if (current != request.fencing) {
        return {Errc::fenced, "shard " + std::to_string(request.shard.value) + " has token " +
                                  std::to_string(current.value)};
    }
    return {};
}

}  // namespace

GroupOutcome GroupCommitter::commit(const std::vector<PendingWrite>& group) {
    QRPAY_ASSERT(!group.empty(), "commit of an empty group");
    QRPAY_ASSERT(!db_.in_transaction(), "commit with a transaction already open");
    std::optional<GroupOutcome> outcome = run_pass(group, Pass::direct);
    if (!outcome) {
        outcome = run_pass(group, Pass::isolated);
        QRPAY_ASSERT(outcome.has_value(), "the isolated pass gave up on a group");
        outcome->retried_isolated = true;
    }
    QRPAY_ASSERT(!db_.in_transaction(), "a group left its transaction open");
    return std::move(*outcome);
}

std::optional<GroupOutcome> GroupCommitter::run_pass(const std::vector<PendingWrite>& group,
                                                     Pass pass) {
    GroupOutcome outcome;
    outcome.statuses.resize(group.size());
    shards_.clear();
    look_up_slots(group);
    if (Status begun = qrpay::sqlite::begin(db_, qrpay::sqlite::Begin::immediate); !begun.ok()) {
        abandon_transaction();
        fail_all(outcome, begun);
        return outcome;
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
        std::optional<ShardTip> tip;
        Status applied = apply_write(group[i].op, pass, slots_[i], tip);
        // A direct append that failed, other than refused, may be partly in place, and no
        // savepoint can take it out alone.
        const bool partly_in_place = pass == Pass::direct && !applied.ok() &&
                                     !is_refusal(applied) &&
                                     std::holds_alternative<AppendRequest>(group[i].op);
        if (partly_in_place || (pass == Pass::direct && !db_.in_transaction())) {
            abandon_transaction();
            return std::nullopt;
        }
        if (!db_.in_transaction()) {  // SQLite rolled the whole transaction back
            fail_all(outcome, {Errc::io_error, "group rolled back: " + applied.message()});
            return outcome;
        }
        if (tip) {
            record_tip(outcome.durable, *tip);
            ++outcome.appends_stored;
        }
        outcome.statuses[i] = std::move(applied);
    }
    finish_pass(outcome);
    return outcome;
}

// Stores the shards' last offsets and commits; then the cache learns what became durable, or
// forgets every entity the group appended to when COMMIT failed (unknown_outcome: maybe stored).
void GroupCommitter::finish_pass(GroupOutcome& outcome) {
    if (Status stored = store_last_offsets(); !stored.ok()) {
        abandon_transaction();
        fail_all(outcome, {Errc::io_error, "group rolled back: " + stored.message()});
        return;
    }
    if (Status committed = qrpay::sqlite::commit(db_); !committed.ok()) {
        // io_error: surely rolled back; unknown_outcome: may or may not have reached the disk.
        abandon_transaction();
        for (Status& status : outcome.statuses) {
            if (status.ok()) {
                status = {committed.code(), "commit failed: " + committed.message()};
            }
        }
        outcome.durable.clear();
        outcome.appends_stored = 0;
        cache_.forget_staged();
        return;
    }
    outcome.committed = true;
    cache_.publish_staged();
}

// Starts the cache's pass and finds each append's slot, all before the first write: lookups
// in one loop overlap their cache misses, where lookups between SQLite statements each wait
// for theirs (this halves what the cache costs the writer).
void GroupCommitter::look_up_slots(const std::vector<PendingWrite>& group) {
    cache_.begin_pass();
    slots_.clear();
    for (const PendingWrite& write : group) {
        const auto* append = std::get_if<AppendRequest>(&write.op);
        slots_.push_back(append == nullptr ? nullptr : cache_.slot(append->persistence_id));
    }
}

Status GroupCommitter::apply_write(const WriteOp& op,
                                   Pass pass,
                                   EntitySlot* slot,
                                   std::optional<ShardTip>& tip) {
    const auto* append = std::get_if<AppendRequest>(&op);
    if (pass == Pass::isolated || append == nullptr) {
        return apply_in_savepoint(op, slot, tip);
    }
    WriteEffect effect;
    effect.slot = slot;
    Status applied = append_direct(*append, tip, effect);
    if (applied.ok()) {
        take_effect(effect);
    } else {
        tip.reset();
    }
    return applied;
}

// Runs one write inside a savepoint. On any failure the write is undone alone; when even that
// fails the whole transaction is rolled back, so nothing half-applied can ever commit. The
// write's effect reaches shards_ and cache_ only once the savepoint is released.
Status GroupCommitter::apply_in_savepoint(const WriteOp& op,
                                          EntitySlot* slot,
                                          std::optional<ShardTip>& tip) {
    if (Status opened = db_.run(sql_savepoint); !opened.ok()) {
        abandon_transaction();
        return opened;
    }
    WriteEffect effect;
    effect.slot = slot;
    Status applied = apply(op, tip, effect);
    if (applied.ok()) {
        Status released = db_.run(sql_release);
        if (released.ok()) {
            take_effect(effect);
            return applied;
        }
        applied = std::move(released);
    }
    tip.reset();
    if (db_.in_transaction()) {
        Status undone = db_.run(sql_rollback_to);  // keeps the savepoint; RELEASE drops it
        Status released = undone.ok() ? db_.run(sql_release) : undone;
        if (!released.ok()) {
            abandon_transaction();
        }
    }
    QRPAY_ASSERT(is_refusal(applied) || applied.code() == Errc::io_error,
                 "a write failed with an unexpected code");
    return applied;
}

Status GroupCommitter::apply(const WriteOp& op, std::optional<ShardTip>& tip, WriteEffect& effect) {
    if (const auto* append = std::get_if<AppendRequest>(&op)) {
        return append_isolated(*append, tip, effect);
    }
    if (const auto* claim = std::get_if<ClaimOp>(&op)) {
        return apply_claim(*claim, effect);
    }
    return apply_snapshot(std::get<SnapshotOp>(op));
}

// The state of the request's shard, or fenced when the request carries another token.
Result<GroupCommitter::ShardState> GroupCommitter::fenced_shard(const AppendRequest& request) {
    Result<ShardState> shard = shard_state(request.shard);
    if (!shard.ok()) {
        return shard.status();
    }
    if (Status fenced = check_fencing(request, shard->fencing); !fenced.ok()) {
        return fenced;
    }
    return shard;
}

// The isolated pass's append, inside its savepoint: SQL decides every refusal and the wakeups
// row is always written or deleted. It trusts nothing the direct pass may have got wrong.
Status GroupCommitter::append_isolated(const AppendRequest& request,
                                       std::optional<ShardTip>& tip,
                                       WriteEffect& effect) {
    Result<ShardState> shard = fenced_shard(request);
    if (!shard.ok()) {
        return shard.status();
    }
    if (Status checked = check_highest_seq(request); !checked.ok()) {
        return checked;
    }
    if (Status free = check_key_claims(db_, request, key_retention_); !free.ok()) {
        return free;
    }
    std::size_t inserted = 0;
    if (Status stored = insert_events(request, shard->last_offset, inserted); !stored.ok()) {
        return stored;
    }
    return finish_append(request, *shard, WakeupRow::unknown, tip, effect);
}

// The direct pass's append, without a savepoint. Memory may say yes, never no: a refusal is
// always SQL's word (a SELECT, run only when no tip vouches for expected_seq). An entity's first
// append needs no SELECT either: inserting seq 1 fails on the primary key exactly when the
// entity exists, and that failing INSERT undoes itself (SQLite's default ABORT). Any other
// failure returns io_error with the transaction possibly holding part of the write; the caller
// then abandons the pass.
Status GroupCommitter::append_direct(const AppendRequest& request,
                                     std::optional<ShardTip>& tip,
                                     WriteEffect& effect) {
    Result<ShardState> shard = fenced_shard(request);
    if (!shard.ok()) {
        return shard.status();
    }
    const std::optional<EntityTip> known = known_tip(effect.slot, request, *shard);
    const bool vouched = known && known->highest_seq == request.expected_seq;
    const bool first_append = request.expected_seq == SequenceNr(0);
    if (!vouched && !(first_append && !known)) {
        if (Status checked = check_highest_seq(request); !checked.ok()) {
            return checked;
        }
    }
    if (Status free = check_key_claims(db_, request, key_retention_); !free.ok()) {
        return free;
    }
    std::size_t inserted = 0;
    Status stored = insert_events(request, shard->last_offset, inserted);
    if (!stored.ok() && inserted == 0 && db_.in_transaction()) {
        // Nothing of the request is in place. Most likely the entity is further on than
        // memory said (another writer, or an existing entity's "first" append): SQL decides.
        Status checked = check_highest_seq(request);
        return checked.ok() ? stored : checked;
    }
    if (!stored.ok()) {
        return stored;
    }
    // An entity without events has no wakeups row: that row is only ever written together
    // with events, and events are never deleted.
    WakeupRow wakeup = first_append ? WakeupRow::absent
                       : vouched    ? known->wakeup
                                    : WakeupRow::unknown;
    return finish_append(request, *shard, wakeup, tip, effect);
}

// After the events are inserted: the wakeups row, then what the append changes in memory.
// `wakeup` is what is known of the entity's wakeups row before this append.
Status GroupCommitter::finish_append(const AppendRequest& request,
                                     const ShardState& shard,
                                     WakeupRow wakeup,
                                     std::optional<ShardTip>& tip,
                                     WriteEffect& effect) {
    if (Status claimed = store_key_claims(db_, request); !claimed.ok()) {
        return claimed;
    }
    if (Status woken = store_wakeup(request, wakeup); !woken.ok()) {
        return woken;
    }
    const std::uint64_t event_count = request.events.size();
    ShardOffset new_last(shard.last_offset.value + event_count);
    effect.shard =
        ShardChange{request.shard,
                    {.fencing = shard.fencing, .last_offset = new_last, .last_offset_dirty = true}};
    effect.entity = EntityTip{
        .highest_seq = SequenceNr(request.expected_seq.value + event_count),
        .fencing = shard.fencing,
        .shard = request.shard,
        .wakeup = request.wake_at ? WakeupRow::present : WakeupRow::absent,
    };
    tip = ShardTip{request.shard, new_last};
    return {};
}

// ok when the entity's highest stored seq, as the open transaction sees it, is expected_seq.
// A refused entity is forgotten by the cache, which may have been behind another writer.
Status GroupCommitter::check_highest_seq(const AppendRequest& request) {
    Result<SequenceNr> highest = read_highest_seq(db_, request.persistence_id);
    if (!highest.ok()) {
        return highest.status();
    }
    if (*highest != request.expected_seq) {
        cache_.forget(request.persistence_id);
        return {Errc::sequence_conflict, "expected " + std::to_string(request.expected_seq.value) +
                                             ", highest " + std::to_string(highest->value)};
    }
    return {};
}

// What memory holds of the entity: its tip after this pass's own appends (exact), or else the
// cache's tip when it was written under the shard's current token. REQUIRES: `shard` is the
// request's shard and its token is the request's.
std::optional<EntityTip> GroupCommitter::known_tip(const EntitySlot* slot,
                                                   const AppendRequest& request,
                                                   const ShardState& shard) {
    if (slot == nullptr) {
        return std::nullopt;
    }
    if (slot->staged) {
        return slot->staged;
    }
    const std::optional<EntityTip>& committed = slot->committed;
    if (committed && (committed->shard != request.shard || committed->fencing != shard.fencing)) {
        return std::nullopt;  // the shard was claimed since, maybe by another writer
    }
    return committed;
}

// Inserts the events one by one; `inserted` counts those in place when a later one failed.
Status GroupCommitter::insert_events(const AppendRequest& request,
                                     ShardOffset last_offset,
                                     std::size_t& inserted) {
    SequenceNr seq = request.expected_seq;
    ShardOffset offset = last_offset;
    inserted = 0;
    for (const EventData& event : request.events) {
        seq = seq.next();
        offset = offset.next();
        Result<Statement> insert = db_.prepare(sql_insert_event);
        if (insert.ok()) {
            insert->bind_text_borrowed(1, request.persistence_id);
            insert->bind_int(2, to_column(seq.value));
            insert->bind_int(3, request.shard.value);
            insert->bind_int(4, to_column(offset.value));
            insert->bind_text_borrowed(5, event.type);
            insert->bind_blob_borrowed(6, event.payload);
            insert->bind_int(7, request.written_at.value);
        }
        if (Status ran = run_statement(insert, "insert event"); !ran.ok()) {
            return ran;
        }
        ++inserted;
    }
    QRPAY_ASSERT(seq.value == request.expected_seq.value + request.events.size(),
                 "inserted events do not continue the sequence");
    return {};
}

// Writes to shard_state, once per group, the last offset of every shard that appends of the
// group moved. REQUIRES: the group's transaction is open and no savepoint is.
Status GroupCommitter::store_last_offsets() {
    for (const auto& [shard, state] : shards_) {
        if (!state.last_offset_dirty) {
            continue;
        }
        Result<Statement> upsert = db_.prepare(sql_store_last_offset);
        if (upsert.ok()) {
            upsert->bind_int(1, shard.value);
            upsert->bind_int(2, to_column(state.fencing.value));
            upsert->bind_int(3, to_column(state.last_offset.value));
        }
        if (Status stored = run_statement(upsert, "store shard last_offset"); !stored.ok()) {
            return stored;
        }
    }
    return {};
}

// Without a wake_at the entity's row goes, unless it is known that there is none.
Status GroupCommitter::store_wakeup(const AppendRequest& request, WakeupRow wakeup) {
    if (!request.wake_at) {
        if (wakeup == WakeupRow::absent) {
            return {};
        }
        Result<Statement> erase = db_.prepare(sql_delete_wakeup);
        if (erase.ok()) {
            erase->bind_int(1, request.shard.value);
            erase->bind_text_borrowed(2, request.persistence_id);
        }
        return run_statement(erase, "delete wakeup");
    }
    Result<Statement> upsert = db_.prepare(sql_store_wakeup);
    if (upsert.ok()) {
        upsert->bind_int(1, request.shard.value);
        upsert->bind_text_borrowed(2, request.persistence_id);
        upsert->bind_int(3, request.wake_at->value);
    }
    return run_statement(upsert, "store wakeup");
}

// The new token goes to shard_state now and to `effect`; the cached last offset is kept. The
// cache's tips of the shard's entities stop counting, as they carry the old token.
Status GroupCommitter::apply_claim(const ClaimOp& claim, WriteEffect& effect) {
    Result<ShardState> shard = shard_state(claim.shard);
    if (!shard.ok()) {
        return shard.status();
    }
    if (shard->fencing >= claim.token) {
        return {Errc::fenced, "shard " + std::to_string(claim.shard.value) + " already has token " +
                                  std::to_string(shard->fencing.value)};
    }
    Result<Statement> upsert = db_.prepare(sql_store_fencing);
    if (upsert.ok()) {
        upsert->bind_int(1, claim.shard.value);
        upsert->bind_int(2, to_column(claim.token.value));
    }
    Status stored = run_statement(upsert, "store fencing token");
    if (stored.ok()) {
        effect.shard = ShardChange{claim.shard,
                                   {.fencing = claim.token,
                                    .last_offset = shard->last_offset,
                                    .last_offset_dirty = shard->last_offset_dirty}};
    }
    return stored;
}

Status GroupCommitter::apply_snapshot(const SnapshotOp& snapshot) {
    Result<Statement> upsert = db_.prepare(sql_store_snapshot);
    if (upsert.ok()) {
        upsert->bind_text_borrowed(1, snapshot.persistence_id);
        upsert->bind_int(2, to_column(snapshot.snapshot.seq.value));
        upsert->bind_blob_borrowed(3, snapshot.snapshot.payload);
    }
    return run_statement(upsert, "store snapshot");
}

// The shard's state as the open transaction sees it: from shards_, or read from shard_state on
// the group's first use of the shard and remembered. A read inside a savepoint that is later
// undone is still right: it ran before that savepoint's own writes.
Result<GroupCommitter::ShardState> GroupCommitter::shard_state(ShardId shard) {
    if (auto known = shards_.find(shard); known != shards_.end()) {
        return known->second;
    }
    Result<ShardRow> row = read_shard_row(db_, shard);
    if (!row.ok()) {
        return row.status();
    }
    ShardState state{.fencing = row->fencing, .last_offset = row->last_offset};
    shards_.emplace(shard, state);
    return state;
}

void GroupCommitter::take_effect(const WriteEffect& effect) {
    if (effect.shard) {
        shards_.insert_or_assign(effect.shard->shard, effect.shard->state);
    }
    if (effect.entity && effect.slot != nullptr) {
        cache_.stage(*effect.slot, *effect.entity);
    }
}

// Rolls back whatever is open. The writer cannot go on with a transaction it cannot end.
void GroupCommitter::abandon_transaction() {
    if (Status rolled_back = qrpay::sqlite::rollback(db_); !rolled_back.ok()) {
        QRPAY_LOG_ERROR("journal writer: %s", rolled_back.to_string().c_str());
    }
    QRPAY_ASSERT(!db_.in_transaction(), "ROLLBACK failed; the writer cannot continue");
}

}  // namespace qrpay::journal::sqlite
