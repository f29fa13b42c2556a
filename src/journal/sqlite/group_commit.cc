#include "journal/sqlite/group_commit.h"

#include <string>
#include <utility>

#include "base/assert.h"
#include "base/log.h"
#include "journal/sqlite/sqlite_schema.h"
#include "sqlite/connection.h"
#include "sqlite/transaction.h"

namespace qrpay::journal::sqlite {

namespace {

using qrpay::sqlite::Connection;
using qrpay::sqlite::from_column;
using qrpay::sqlite::Statement;
using qrpay::sqlite::Step;
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
    "INSERT INTO wakeups (persistence_id, shard, wake_at_unix_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (persistence_id) DO UPDATE SET shard = excluded.shard, "
    "wake_at_unix_ms = excluded.wake_at_unix_ms";
constexpr const char* sql_delete_wakeup = "DELETE FROM wakeups WHERE persistence_id = ?1";
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
    return status.code() == Errc::sequence_conflict || status.code() == Errc::fenced;
}

void fail_all(GroupOutcome& outcome, const Status& status) {
    for (Status& each : outcome.statuses) {
        each = status;
    }
    outcome.durable.clear();
    outcome.appends_stored = 0;
}

}  // namespace

GroupOutcome GroupCommitter::commit(const std::vector<PendingWrite>& group) {
    QRPAY_ASSERT(!group.empty(), "commit of an empty group");
    QRPAY_ASSERT(!db_.in_transaction(), "commit with a transaction already open");
    GroupOutcome outcome;
    outcome.statuses.resize(group.size());
    shards_.clear();
    if (Status begun = qrpay::sqlite::begin(db_, qrpay::sqlite::Begin::immediate); !begun.ok()) {
        abandon_transaction();
        fail_all(outcome, begun);
        return outcome;
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
        std::optional<ShardTip> tip;
        Status applied = apply_in_savepoint(group[i].op, tip);
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
    if (Status stored = store_last_offsets(); !stored.ok()) {
        abandon_transaction();
        fail_all(outcome, {Errc::io_error, "group rolled back: " + stored.message()});
        return outcome;
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
        return outcome;
    }
    outcome.committed = true;
    return outcome;
}

// Runs one write inside a savepoint. On any failure the write is undone alone; when even that
// fails the whole transaction is rolled back, so nothing half-applied can ever commit. The
// write's change to its shard's cached state reaches shards_ only once the savepoint is released.
Status GroupCommitter::apply_in_savepoint(const WriteOp& op, std::optional<ShardTip>& tip) {
    if (Status opened = db_.run(sql_savepoint); !opened.ok()) {
        abandon_transaction();
        return opened;
    }
    std::optional<ShardChange> change;
    Status applied = apply(op, tip, change);
    if (applied.ok()) {
        Status released = db_.run(sql_release);
        if (released.ok()) {
            if (change) {
                shards_.insert_or_assign(change->shard, change->state);
            }
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

Status GroupCommitter::apply(const WriteOp& op,
                             std::optional<ShardTip>& tip,
                             std::optional<ShardChange>& change) {
    if (const auto* append = std::get_if<AppendRequest>(&op)) {
        return apply_append(*append, tip, change);
    }
    if (const auto* claim = std::get_if<ClaimOp>(&op)) {
        return apply_claim(*claim, change);
    }
    return apply_snapshot(std::get<SnapshotOp>(op));
}

// The shard's new last offset goes to `change` (and to shard_state at the end of the group).
Status GroupCommitter::apply_append(const AppendRequest& request,
                                    std::optional<ShardTip>& tip,
                                    std::optional<ShardChange>& change) {
    ShardState shard;
    if (Status checked = check_append(request, shard); !checked.ok()) {
        return checked;
    }
    if (Status inserted = insert_events(request, shard.last_offset); !inserted.ok()) {
        return inserted;
    }
    if (Status woken = store_wakeup(request); !woken.ok()) {
        return woken;
    }
    ShardOffset new_last(shard.last_offset.value + request.events.size());
    change =
        ShardChange{request.shard,
                    {.fencing = shard.fencing, .last_offset = new_last, .last_offset_dirty = true}};
    tip = ShardTip{request.shard, new_last};
    return {};
}

// ok when the request carries the shard's token and the entity's highest seq; then `shard`
// holds the shard's state before this append.
Status GroupCommitter::check_append(const AppendRequest& request, ShardState& shard) {
    Result<ShardState> state = shard_state(request.shard);
    if (!state.ok()) {
        return state.status();
    }
    if (state->fencing != request.fencing) {
        return {Errc::fenced, "shard " + std::to_string(request.shard.value) + " has token " +
                                  std::to_string(state->fencing.value)};
    }
    Result<SequenceNr> highest = read_highest_seq(db_, request.persistence_id);
    if (!highest.ok()) {
        return highest.status();
    }
    if (*highest != request.expected_seq) {
        return {Errc::sequence_conflict, "expected " + std::to_string(request.expected_seq.value) +
                                             ", highest " + std::to_string(highest->value)};
    }
    shard = *state;
    return {};
}

Status GroupCommitter::insert_events(const AppendRequest& request, ShardOffset last_offset) {
    SequenceNr seq = request.expected_seq;
    ShardOffset offset = last_offset;
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

Status GroupCommitter::store_wakeup(const AppendRequest& request) {
    if (!request.wake_at) {
        Result<Statement> erase = db_.prepare(sql_delete_wakeup);
        if (erase.ok()) {
            erase->bind_text_borrowed(1, request.persistence_id);
        }
        return run_statement(erase, "delete wakeup");
    }
    Result<Statement> upsert = db_.prepare(sql_store_wakeup);
    if (upsert.ok()) {
        upsert->bind_text_borrowed(1, request.persistence_id);
        upsert->bind_int(2, request.shard.value);
        upsert->bind_int(3, request.wake_at->value);
    }
    return run_statement(upsert, "store wakeup");
}

// The new token goes to shard_state now and to `change`; the cached last offset is kept.
Status GroupCommitter::apply_claim(const ClaimOp& claim, std::optional<ShardChange>& change) {
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
        change = ShardChange{claim.shard,
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

// Rolls back whatever is open. The writer cannot go on with a transaction it cannot end.
void GroupCommitter::abandon_transaction() {
    if (Status rolled_back = qrpay::sqlite::rollback(db_); !rolled_back.ok()) {
        QRPAY_LOG_ERROR("journal writer: %s", rolled_back.to_string().c_str());
    }
    QRPAY_ASSERT(!db_.in_transaction(), "ROLLBACK failed; the writer cannot continue");
}

}  // namespace qrpay::journal::sqlite
