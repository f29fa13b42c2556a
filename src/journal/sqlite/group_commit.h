#pragma once
// Group commit: the writer thread applies a group of writes in one transaction with one sync.

#include <optional>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/strong_types.h"
#include "journal/sqlite/write_queue.h"

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
};

class GroupCommitter {
public:
    // REQUIRES: `connection` is the writer connection and outlives this object; only the
    // writer thread calls commit().
    explicit GroupCommitter(qrpay::sqlite::Connection& connection) : db_(connection) {}

    // Applies every write of `group` in one transaction, each inside its own savepoint: a
    // write refused on its own conditions (sequence_conflict, fenced) or failing alone leaves
    // the others in place. Then stores each touched shard's last offset once and commits once;
    // when that store fails the whole group rolls back. A write reports io_error when the
    // transaction surely rolled back, unknown_outcome when COMMIT failed after SQLite began to
    // write it.
    // REQUIRES: group not empty; no transaction open.
    GroupOutcome commit(const std::vector<PendingWrite>& group);

private:
    // A shard's row as the open transaction sees it.
    struct ShardState {
        FencingToken fencing;
        ShardOffset last_offset;
        // True when appends of this group moved last_offset past the value stored in
        // shard_state; commit() writes it there once, before COMMIT.
        bool last_offset_dirty = false;
    };
    // What a write changes in its shard's ShardState, kept aside until its savepoint is
    // released so that a write refused or undone leaves shards_ untouched.
    struct ShardChange {
        ShardId shard;
        ShardState state;
    };

    Status apply_in_savepoint(const WriteOp& op, std::optional<ShardTip>& tip);
    Status apply(const WriteOp& op,
                 std::optional<ShardTip>& tip,
                 std::optional<ShardChange>& change);
    Status apply_append(const AppendRequest& request,
                        std::optional<ShardTip>& tip,
                        std::optional<ShardChange>& change);
    Status check_append(const AppendRequest& request, ShardState& shard);
    Status insert_events(const AppendRequest& request, ShardOffset last_offset);
    Status store_last_offsets();
    Status store_wakeup(const AppendRequest& request);
    Status apply_claim(const ClaimOp& claim, std::optional<ShardChange>& change);
    Status apply_snapshot(const SnapshotOp& snapshot);
    Result<ShardState> shard_state(ShardId shard);
    void abandon_transaction();

    qrpay::sqlite::Connection& db_;
    // Every shard a write of the current group has read, as the transaction sees it after the
    // last released savepoint: read from shard_state on first use, then updated by each
    // released append and claim; last_offset is written back once, by store_last_offsets().
    // Valid only between BEGIN and the end of one commit(); emptied when each group begins.
    // Used by the writer thread only.
    std::unordered_map<ShardId, ShardState> shards_;
};

}  // namespace qrpay::journal::sqlite
