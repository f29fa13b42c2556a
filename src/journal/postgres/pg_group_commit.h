#pragma once
// Group commit on PostgreSQL: the writer thread applies a group of writes in one transaction,
// with two round trips and one WAL flush for the whole group.
//
//   1. One pipeline: BEGIN; lock each touched shard's row (SELECT ... FOR UPDATE, in shard
//      order so that two writers never deadlock); lock each claimed key's row; read the
//      highest seq of the entities the HighestSeqCache cannot vouch for, 16 per statement.
//   2. In memory, in queue order: each write is accepted or refused on its own conditions
//      (fenced, sequence_conflict, key_taken), exactly as the locked rows and the earlier
//      writes of the group say; accepted appends get their shard offsets.
//   3. One pipeline: the rows of every accepted write (events as multi-row INSERTs of up to
//      16 rows, in power-of-two sizes, so few statement texts are prepared), each touched
//      shard's new last offset and fencing token, COMMIT.
//
// A statement that fails in step 3 (a constraint no check foresaw: another writer of the same
// database got there first) aborts the transaction; the group then runs again one write per
// transaction, so one failure never fails its neighbours. A connection lost in step 1 leaves
// nothing stored (unreachable); lost in step 3, the COMMIT may or may not have happened
// (unknown_outcome for every accepted write).

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "journal/highest_seq_cache.h"
#include "journal/write_queue.h"
#include "postgres/connection.h"

namespace qrpay::journal::postgres {

// A shard's highest offset after a commit.
struct ShardTip {
    ShardId shard;
    ShardOffset offset;
};

struct GroupOutcome {
    std::vector<Status> statuses;   // statuses[i] answers group[i]
    std::vector<ShardTip> durable;  // each appended shard's highest offset, once committed
    std::size_t commits = 0;        // transactions committed (more than one when isolated)
    std::size_t appends_stored = 0;
    std::size_t fenced = 0;  // appends refused for a stale fencing token
    bool retried_isolated = false;
    bool connection_lost = false;  // the caller replaces the connection
};

class GroupCommitter {
public:
    GroupCommitter(std::size_t seq_cache_entries_max, std::chrono::milliseconds key_retention)
        : cache_(seq_cache_entries_max), key_retention_(key_retention) {}

    // REQUIRES: group not empty; `db` connected, no transaction open. Writer thread only.
    GroupOutcome commit(qrpay::postgres::Connection& db, std::span<const PendingWrite> group);

private:
    struct ShardState {
        FencingToken fencing;
        ShardOffset last_offset;
        bool changed = false;  // to be written back before COMMIT
    };
    struct EntityState {
        SequenceNr highest;
        WakeupRow wakeup = WakeupRow::unknown;
    };
    struct KeyHolder {
        std::string persistence_id;  // "" when nobody holds the key
        UnixMs claimed_at;
    };
    enum class PassEnd { committed, aborted, lost };
    struct Pass {
        GroupOutcome outcome;
        PassEnd end = PassEnd::committed;
        std::vector<bool> accepted;
    };

    Pass run_pass(qrpay::postgres::Connection& db, std::span<const PendingWrite> writes);
    Status read_locked_state(qrpay::postgres::Connection& db, std::span<const PendingWrite> writes);
    Status decide(qrpay::postgres::Connection& db,
                  const PendingWrite& write,
                  qrpay::postgres::Connection::Pipeline& batch);
    Status decide_append(qrpay::postgres::Connection& db,
                         const AppendRequest& request,
                         qrpay::postgres::Connection::Pipeline& batch);
    Result<EntityState> entity_state(qrpay::postgres::Connection& db,
                                     const AppendRequest& request,
                                     const ShardState& shard);
    Status check_keys(const AppendRequest& request) const;
    void stage_keys(const AppendRequest& request, qrpay::postgres::Connection::Pipeline& batch);
    GroupOutcome isolate(qrpay::postgres::Connection& db, std::span<const PendingWrite> group);

    // The current pass's view, as its transaction sees it after the writes decided so far.
    std::map<ShardId, ShardState> shards_;
    std::unordered_map<std::string, EntityState> entities_;
    std::unordered_map<std::string, KeyHolder> keys_;
    // Shards whose row is known to exist: no INSERT ... ON CONFLICT DO NOTHING before the lock.
    std::unordered_set<ShardId> shard_rows_known_;

    HighestSeqCache cache_;
    const std::chrono::milliseconds key_retention_;
};

}  // namespace qrpay::journal::postgres
