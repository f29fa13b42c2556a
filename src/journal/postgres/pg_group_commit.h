#pragma once
// Group commit on PostgreSQL: the writer thread applies a group of writes in one transaction,
// with two round trips (four when its events go by COPY) and one WAL flush for the whole group.
//
//   1. One pipeline: BEGIN; lock each touched shard's row (SELECT ... FOR UPDATE, in shard
//      order so that two writers never deadlock); lock each claimed key's row; read the
//      highest seq of the entities the HighestSeqCache cannot vouch for, 16 per statement.
//      An append that expects a new entity (seq 0) is believed without a read: new entities
//      are most appends' first (every payment makes some), and if one is wrong the primary
//      key refuses its row and the group runs again as below, where every seq is read.
//   2. In memory, in queue order: each write is accepted or refused on its own conditions
//      (fenced, sequence_conflict, key_taken), exactly as the locked rows and the earlier
//      writes of the group say; accepted appends get their shard offsets.
//   3. The events of the accepted appends: with many, one COPY streamed while the rows are
//      built (two round trips); with few, multi-row INSERTs of up to 16 rows in power-of-two
//      sizes (few statement texts to prepare) in the pipeline below.
//   4. One pipeline: the other rows of every accepted write, each touched shard's new last
//      offset and fencing token, COMMIT.
//
// A statement that fails in step 3 or 4 (a constraint no check foresaw: another writer of the same
// database got there first) aborts the transaction; the group then runs again one write per
// transaction, so one failure never fails its neighbours. A connection lost in step 1 leaves
// nothing stored (unreachable), as in step 3; lost in step 4, the COMMIT may or may not have
// happened (unknown_outcome for every accepted write).

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

// One event row of an accepted append, with its seq and shard offset.
struct EventRow {
    const AppendRequest* request;
    const EventData* event;
    SequenceNr seq;
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
    // A pass with at least `copy_events_min` events stores them with one COPY, fewer with
    // multi-row INSERTs (two round trips fewer, cheaper for a few rows).
    GroupCommitter(std::size_t seq_cache_entries_max,
                   std::chrono::milliseconds key_retention,
                   std::size_t copy_events_min)
        : cache_(seq_cache_entries_max),
          key_retention_(key_retention),
          copy_events_min_(copy_events_min) {}

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

    // Whether a pass believes an append that expects a new entity without reading its rows.
    enum class Trust { new_entities, stored_rows_only };
    Pass run_pass(qrpay::postgres::Connection& db,
                  std::span<const PendingWrite> writes,
                  Trust trust);
    // What step 1 asked, in the order its answers come back.
    struct ReadPlan {
        std::size_t shard_locks_at = 0;  // the answers [at, end) lock the shard rows
        std::size_t shard_locks_end = 0;
        std::vector<std::string_view> locked_keys;  // one answer each, after the shards
        std::vector<std::string_view> unknown;      // entities whose highest seq is read
    };
    Status read_locked_state(qrpay::postgres::Connection& db,
                             std::span<const PendingWrite> writes,
                             Trust trust);
    void plan_entity_read(const AppendRequest& append,
                          const EntitySlot* slot,
                          Trust trust,
                          ReadPlan& plan);
    void plan_key_locks(const AppendRequest& append,
                        ReadPlan& plan,
                        qrpay::postgres::Connection::Pipeline& reads);
    void take_read_answers(const ReadPlan& plan,
                           const std::vector<Result<qrpay::postgres::Rows>>& answers);
    Status decide_and_store_events(qrpay::postgres::Connection& db,
                                   std::span<const PendingWrite> writes,
                                   Pass& pass,
                                   qrpay::postgres::Connection::Pipeline& batch);
    static void end_failed_read(qrpay::postgres::Connection& db, const Status& failure, Pass& pass);
    Status decide(const PendingWrite& write,
                  EntitySlot* slot,
                  qrpay::postgres::Connection::Pipeline& batch);
    Status decide_append(const AppendRequest& request,
                         EntitySlot* slot,
                         qrpay::postgres::Connection::Pipeline& batch);
    EntityState entity_state(const AppendRequest& request,
                             const EntitySlot* slot,
                             const ShardState& shard);
    Status check_keys(const AppendRequest& request) const;
    void stage_keys(const AppendRequest& request, qrpay::postgres::Connection::Pipeline& batch);
    void add_shard_stores(qrpay::postgres::Connection::Pipeline& batch) const;
    void add_event_rows(const AppendRequest& append,
                        qrpay::postgres::Connection::CopyIn* copy,
                        std::vector<EventRow>& rows);
    Status finish_copy(qrpay::postgres::Connection::CopyIn& copy);
    void end_failed_pass(qrpay::postgres::Connection& db,
                         std::span<const PendingWrite> writes,
                         const Status& failure,
                         bool commit_sent,
                         Pass& pass);
    GroupOutcome isolate(qrpay::postgres::Connection& db, std::span<const PendingWrite> group);

    // The current pass's view, as its transaction sees it after the writes decided so far:
    // entities_ holds those read from the rows and those the cache has no slot for.
    std::map<ShardId, ShardState> shards_;
    std::unordered_map<std::string, EntityState> entities_;
    std::unordered_map<std::string, KeyHolder> keys_;
    // slots_[i]: the cache's slot of the pass's i-th write's entity, looked up once per pass
    // (null for a write that is no append, or when the cache had no room).
    std::vector<EntitySlot*> slots_;
    // Shards whose row is known to exist: no INSERT ... ON CONFLICT DO NOTHING before the lock.
    std::unordered_set<ShardId> shard_rows_known_;

    HighestSeqCache cache_;
    const std::chrono::milliseconds key_retention_;
    const std::size_t copy_events_min_;
    std::size_t rows_copied_ = 0;  // rows the current pass's COPY was given
};

}  // namespace qrpay::journal::postgres
