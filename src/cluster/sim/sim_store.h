#pragma once
// The simulation's models of the two stores the protocol talks to, as plain state machines
// applied when a request arrives: SimStore follows etcd's semantics for the calls of
// Coordination (revisions, leases bound to keys, expiry), SimJournal the journal's fence
// (claim_shard) and its conditional appends under a fencing token.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/strong_types.h"
#include "cluster/coordination.h"
#include "cluster/sim/sim_world.h"

namespace qrpay::cluster::sim {

class SimStore {
public:
    // Each call as etcd applies it at `now`.
    LeaseId grant_lease(SimTime now, std::chrono::seconds ttl);
    Result<milliseconds> keep_alive(SimTime now, LeaseId lease);
    bool revoke_lease(SimTime now, LeaseId lease);
    Result<Revision> put(SimTime now,
                         const std::string& key,
                         const std::string& value,
                         LeaseId lease);
    Result<CreateResult> create(SimTime now,
                                const std::string& key,
                                const std::string& value,
                                LeaseId lease);
    bool delete_if_unchanged(SimTime now, const std::string& key, Revision mod_revision);
    std::vector<Entry> range_prefix(SimTime now, const std::string& prefix);

    // Deletes leases whose time has come, and their keys.
    void expire(SimTime now);
    // The key as it is now (expired leases applied), for the invariants.
    [[nodiscard]] const Entry* find(SimTime now, const std::string& key);
    [[nodiscard]] bool lease_alive(SimTime now, LeaseId lease);

private:
    struct Lease {
        SimTime expires_at{};
        std::chrono::seconds ttl{};
    };
    void remove_lease(LeaseId lease);

    Revision revision_ = 1;
    LeaseId next_lease_ = 1000;
    std::map<std::string, Entry> keys_;
    std::map<LeaseId, Lease> leases_;
};

// The journal's fence and appends. An append is accepted only under the shard's current
// token, as the real journal checks it in the appending transaction.
class SimJournal {
public:
    struct Append {
        ShardId shard;
        FencingToken token;
        int node = -1;
    };

    Status raise(ShardId shard, FencingToken token, int node);
    Status append(ShardId shard, FencingToken token, int node);

    [[nodiscard]] FencingToken fence(ShardId shard) const;
    [[nodiscard]] const std::vector<Append>& accepted() const { return accepted_; }
    [[nodiscard]] std::uint64_t fenced() const { return fenced_; }
    // The node that raised the shard's current fence (-1: none).
    [[nodiscard]] int fence_holder(ShardId shard) const;

private:
    struct Fence {
        FencingToken token;
        int holder = -1;
    };
    std::map<std::uint32_t, Fence> fences_;
    std::vector<Append> accepted_;
    std::uint64_t fenced_ = 0;
};

}  // namespace qrpay::cluster::sim
