#pragma once
// Group commit: the writer thread applies a group of writes in one transaction with one sync.

#include <chrono>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/strong_types.h"
#include "journal/highest_seq_cache.h"
#include "journal/write_queue.h"

namespace qrpay::sqlite {
class Connection;
}  // namespace qrpay::sqlite

namespace qrpay::journal::sqlite {

// A shard's highest offset after an append.
struct ShardTip {
    ShardId shard;
    ShardOffset offset;
};

struct GroupOutcome {
    std::vector<Status> statuses;   // statuses[i] answers group[i]
    std::vector<ShardTip> durable;  // each touched shard's highest offset, once committed
    bool committed = false;
    std::size_t appends_stored = 0;  // appends in the committed transaction
    // True when a write failed unexpectedly on the direct pass and the group ran again with
    // a savepoint per write.
    bool retried_isolated = false;
};

class GroupCommitter {
public:
    // REQUIRES: `connection` is the writer connection and outlives this object; only the
    // writer thread calls commit(). `seq_cache_entries_max` bounds the HighestSeqCache;
    // `key_retention` is how long a key claim holds (journal.h).
    GroupCommitter(qrpay::sqlite::Connection& connection,
                   std::size_t seq_cache_entries_max,
                   std::chrono::milliseconds key_retention)
        : db_(connection), cache_(seq_cache_entries_max), key_retention_(key_retention) {}

    // Applies every write of `group` in one transaction, then stores each touched shard's last
    // offset once and commits once; when that store fails the whole group rolls back. A write
    // refused on its own conditions (sequence_conflict, fenced, key_taken) or failing alone leaves
    // the others in place. A write reports io_error when the transaction surely rolled back,
    // unknown_outcome when COMMIT failed after SQLite began to write it.
    //
    // Two passes keep that promise cheaply. The direct pass writes each append without a
    // savepoint, its refusals decided before anything of it is written: a SELECT of the
    // highest seq runs only when the HighestSeqCache cannot vouch for expected_seq (and not
    // for an entity's first append, whose INSERT of seq 1 fails alone when the entity
    // exists). A write that then fails anyway (I/O, a constraint on a later event, anything
    // unexpected) cannot be undone alone, so the direct pass rolls back and the whole group
    // runs again on the isolated pass, each write inside its own savepoint and every refusal
    // decided by SQL. Claims and snapshots get their savepoint on both passes. The cache
    // learns a group's appends only once its COMMIT succeeded, and forgets them all when
    // COMMIT failed.
    // REQUIRES: group not empty; no transaction open.
    GroupOutcome commit(const std::vector<PendingWrite>& group);

private:
    enum class Pass { direct, isolated };

    // A shard's row as the open transaction sees it.
    struct ShardState {
        FencingToken fencing;
        ShardOffset last_offset;
        // True when appends of this group moved last_offset past the value stored in
        // shard_state; commit() writes it there once, before COMMIT.
        bool last_offset_dirty = false;
    };
    struct ShardChange {
        ShardId shard;
        ShardState state;
    };
    // What a write changes in the pass's in-memory state (shards_, the staged tips of
    // cache_), kept aside until the write is in place (its savepoint released), so a write
    // refused or undone changes nothing.
    struct WriteEffect {
        std::optional<ShardChange> shard;
        EntitySlot* slot = nullptr;       // appends: the entity's slot; null when the cache is full
        std::optional<EntityTip> entity;  // appends: the entity after this write
    };

    // nullopt: the direct pass met a failure it cannot pin on one write and rolled back.
    std::optional<GroupOutcome> run_pass(const std::vector<PendingWrite>& group, Pass pass);
    void finish_pass(GroupOutcome& outcome);
    void look_up_slots(const std::vector<PendingWrite>& group);
    Status apply_write(const WriteOp& op,
                       Pass pass,
                       EntitySlot* slot,
                       std::optional<ShardTip>& tip);
    Status apply_in_savepoint(const WriteOp& op, EntitySlot* slot, std::optional<ShardTip>& tip);
    Status apply(const WriteOp& op, std::optional<ShardTip>& tip, WriteEffect& effect);
    Status append_isolated(const AppendRequest& request,
                           std::optional<ShardTip>& tip,
                           WriteEffect& effect);
    Status append_direct(const AppendRequest& request,
                         std::optional<ShardTip>& tip,
                         WriteEffect& effect);
    Status finish_append(const AppendRequest& request,
                         const ShardState& shard,
                         WakeupRow wakeup,
                         std::optional<ShardTip>& tip,
                         WriteEffect& effect);
    Status check_highest_seq(const AppendRequest& request);
    static std::optional<EntityTip> known_tip(const EntitySlot* slot,
                                              const AppendRequest& request,
                                              const ShardState& shard);
    Status insert_events(const AppendRequest& request,
                         ShardOffset last_offset,
                         std::size_t& inserted);
    Status store_last_offsets();
    Status store_wakeup(const AppendRequest& request, WakeupRow wakeup);
    Status apply_claim(const ClaimOp& claim, WriteEffect& effect);
    Status apply_snapshot(const SnapshotOp& snapshot);
    Result<ShardState> shard_state(ShardId shard);
    Result<ShardState> fenced_shard(const AppendRequest& request);
    void take_effect(const WriteEffect& effect);
    void abandon_transaction();

    qrpay::sqlite::Connection& db_;
    // Every shard a write of the current group has read, as the transaction sees it after the
    // last write in place: read from shard_state on first use, then updated by each append and
    // claim; last_offset is written back once, by store_last_offsets(). Valid only between
    // BEGIN and the end of one pass; emptied when each pass begins. Writer thread only.
    std::unordered_map<ShardId, ShardState> shards_;
    // What committed groups left for the appends of later groups (committed tips), and what
    // this pass appended (staged tips, published only once COMMIT succeeded). Writer thread
    // only.
    HighestSeqCache cache_;
    // slots_[i]: the slot of the pass's write i when it is an append (look_up_slots()).
    std::vector<EntitySlot*> slots_;
    const std::chrono::milliseconds key_retention_;
};

}  // namespace qrpay::journal::sqlite
