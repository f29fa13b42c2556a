#pragma once
// SimCluster: 3 to 5 simulated nodes running the real ShardOwnership against SimStore (etcd)
// and SimJournal over a simulated network, under a seeded schedule of faults: crashes and
// restarts, pauses (a stalled process: its timers fire late), a node cut from the store or
// from the journal, lost messages, and planned leaves and rejoins. Each node's host takes
// commands for the shards it serves and appends them under the shard's token.
//
// Checked at every step (a broken one ends the run with the seed's story):
//   one owner    at any instant at most one node may answer a shard's commands as its owner,
//                and that node's claim is the store's current one, under a live lease;
//   fence        the journal accepts a shard's appends only from the node that raised its
//                current fence;
//   planned      when a schedule has only planned moves, no append is refused;
// and once the faults stop: every shard is served by exactly one node within the bound.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/ownership.h"
#include "cluster/sim/sim_store.h"
#include "cluster/sim/sim_world.h"

namespace qrpay::cluster::sim {

struct SimOptions {
    int nodes = 3;
    std::uint32_t shard_count = 8;
    milliseconds fault_phase{20'000};
    // After the faults: every shard must be served again within this.
    milliseconds settle_bound{8'000};
    bool crashes = true;  // crashes, pauses, cuts and lost messages; else planned moves only
    std::chrono::seconds lease_ttl{2};
};

struct SimStats {
    std::uint64_t events = 0;
    std::uint64_t appends_accepted = 0;
    std::uint64_t appends_fenced = 0;
    std::uint64_t faults = 0;
};

class SimCluster {
public:
    SimCluster(std::uint64_t seed, SimOptions options);
    ~SimCluster();
    SimCluster(const SimCluster&) = delete;
    SimCluster& operator=(const SimCluster&) = delete;
    SimCluster(SimCluster&&) = delete;
    SimCluster& operator=(SimCluster&&) = delete;

    // Runs the fault phase and the settling; the first invariant broken (corruption), or
    // the shards left unserved (timeout).
    Status run();
    [[nodiscard]] const SimStats& stats() const { return stats_; }

    class Node;

private:
    friend class Node;
    void inject_fault();
    void restart(int node, milliseconds after);
    [[nodiscard]] bool alive(int node) const;  // its current incarnation runs
    void check_one_owner();
    Status check_settled();
    // The network: `apply` runs at the far end after a delay unless the message is lost;
    // `done` gets its answer back on the node, or a timeout.
    template <class T>
    void call(int node, bool to_store, std::function<Result<T>()> apply, Done<T> done);
    [[nodiscard]] bool cut(int node, bool from_store) const;
    void fail(const std::string& what);

    const std::uint64_t seed_;
    const SimOptions options_;
    SimWorld world_;
    SimStore store_;
    SimJournal journal_;
    std::vector<std::unique_ptr<Node>> nodes_;
    std::vector<SimTime> cut_from_store_until_;
    std::vector<SimTime> cut_from_journal_until_;
    double drop_probability_ = 0;
    Status broken_;
    SimStats stats_;
};

}  // namespace qrpay::cluster::sim
