#pragma once
// Group commit: the writer thread applies a group of writes in one transaction with one sync.

#include <optional>
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
    // the others in place. Then commits once. A write reports io_error when the transaction
    // surely rolled back, unknown_outcome when COMMIT failed after SQLite began to write it.
    // REQUIRES: group not empty; no transaction open.
    GroupOutcome commit(const std::vector<PendingWrite>& group);

private:
    Status apply_in_savepoint(const WriteOp& op, std::optional<ShardTip>& tip);
    Status apply(const WriteOp& op, std::optional<ShardTip>& tip);
    Status apply_append(const AppendRequest& request, std::optional<ShardTip>& tip);
    Status check_append(const AppendRequest& request, ShardOffset& last_offset);
    Status insert_events(const AppendRequest& request, ShardOffset last_offset);
    Status store_last_offset(ShardId shard, FencingToken fencing, ShardOffset last_offset);
    Status store_wakeup(const AppendRequest& request);
    Status apply_claim(const ClaimOp& claim);
    Status apply_snapshot(const SnapshotOp& snapshot);
    void abandon_transaction();

    qrpay::sqlite::Connection& db_;
};

}  // namespace qrpay::journal::sqlite
