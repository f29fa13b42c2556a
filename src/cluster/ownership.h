#pragma once
// ShardOwnership: one node's side of the cluster's ownership protocol.
//
// The node holds a lease in the coordination store (etcd) and registers itself under
// <prefix>nodes/<id>, bound to the lease. Every refresh_interval it reads the cluster's keys
// and, for each shard, the node that rendezvous hashing picks among the registered ones
// (rendezvous.h) is the shard's desired owner:
//
//   free, desired here     claim: create <prefix>shards/<n> = <id>, bound to the lease, only
//                          if absent. The claim's revision (plus token_base) is the shard's
//                          fencing token; the journal's fence is raised to it (ShardFence)
//                          and only then does the shard serve (ShardHost::serve).
//   serving, desired elsewhere (a node joined, or this one leaves)
//                          hand off: no new commands, in-flight ones finish, then the claim is
//                          deleted and the desired owner claims it.
//   serving, claim gone    (the lease was revoked or lost) stop at once.
//
// Safety does not rest on any of this timing: the journal refuses appends under a token below
// its fence, and every new owner raises the fence before it serves. The lease decides only
// availability, with one rule that keeps two owners from answering at once: a node serves only
// while its own monotonic clock is before the lease's earliest possible expiry (the time it
// sent its last successful keep-alive plus the TTL the store then reported) minus stop_margin;
// past that instant may_serve() is false everywhere at once and the shards are stopped. So by
// the time the store lets another node claim, this one has stopped answering as owner.
//
// Thread safety: start(), leave() and may_serve() from any thread; everything else runs on the
// Loop.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/strong_types.h"
#include "cluster/coordination.h"

namespace qrpay::cluster {

// The cluster as one read of its keys showed it: the registered nodes and each shard's claim.
// What forwarding routes by (forwarder.h); a claim may be a moment old, so a command sent by it
// can meet a node that let go of the shard, which answers not_owner.
struct ClusterView {
    struct Node {
        std::string id;
        std::string info;  // the node's registration (OwnershipOptions::node_info)
        LeaseId lease = 0;
    };
    std::vector<Node> nodes;                // sorted by id
    std::vector<std::string> shard_owners;  // by shard number: the claiming node's id, or ""
};

struct OwnershipOptions {
    std::string node_id;
    std::string node_info;               // the registration's value: the node's addresses
    std::string key_prefix = "/qrpay/";  // the cluster's keys live under it
    std::uint32_t shard_count = 64;
    std::chrono::seconds lease_ttl{2};
    std::chrono::milliseconds refresh_interval{100};  // how often the keys are read
    // Serving stops this long before the lease could expire: room for a stalled thread to
    // notice before another node's claim can land.
    std::chrono::milliseconds stop_margin{300};
    std::uint64_t token_base = 0;  // fencing token = token_base + the claim's revision
};

// The keys of a cluster under `prefix`.
std::string node_key(const std::string& prefix, const std::string& node_id);
std::string shard_key(const std::string& prefix, ShardId shard);

class ShardOwnership {
public:
    enum class State : std::uint8_t { free, claiming, raising, serving, handing_off, releasing };

    ShardOwnership(OwnershipOptions options,
                   Loop& loop,
                   Coordination& coordination,
                   ShardFence& fence,
                   ShardHost& host);
    ~ShardOwnership();
    ShardOwnership(const ShardOwnership&) = delete;
    ShardOwnership& operator=(const ShardOwnership&) = delete;
    ShardOwnership(ShardOwnership&&) = delete;
    ShardOwnership& operator=(ShardOwnership&&) = delete;

    // `listener` runs on the Loop after each read of the cluster's keys and must not block.
    // REQUIRES: before start().
    void set_view_listener(std::function<void(const ClusterView&)> listener) {
        view_listener_ = std::move(listener);
    }
    void start();
    // A planned leave: every shard is handed off, then the lease is revoked and `done` runs
    // on the Loop.
    void leave(std::function<void()> done);
    // Whether this node may answer a command of `shard` as its owner now: it serves the shard
    // and its lease cannot have expired. Any thread.
    [[nodiscard]] bool may_serve(ShardId shard) const;
    // Whether the node holds a lease that cannot have expired yet. Any thread.
    [[nodiscard]] bool lease_live() const;
    // Times this node lost a lease it held (not renewed in time, or gone from the store) and
    // stopped serving. Any thread.
    [[nodiscard]] std::uint64_t leases_lost() const { return leases_lost_.load(); }
    // The shard's fencing token while it serves, else 0. Any thread.
    [[nodiscard]] FencingToken token_of(ShardId shard) const;

    // Loop thread only (inspection and tests).
    [[nodiscard]] State state_of(ShardId shard) const { return shards_.at(shard.value).state; }
    [[nodiscard]] LeaseId lease() const { return lease_; }

private:
    struct Shard {
        State state = State::free;
        Revision claim_revision = 0;   // the revision the claim was created at
        Revision raised_revision = 0;  // the claim whose token the journal's fence holds
        // The claim a release was sent for: its delete may still land, so it is never taken
        // up again, only deleted again.
        Revision released_revision = 0;
    };
    struct View;

    void tick();
    void grant_lease();
    void keep_alive();
    void register_node();
    void refresh();
    void rebalance(const View& view);
    void rebalance_shard(ShardId shard, const View& view);
    void claim(ShardId shard);
    void claimed(ShardId shard, Revision revision);
    void serve(ShardId shard, FencingToken token);
    void hand_off(ShardId shard);
    void release(ShardId shard, Revision mod_revision);
    void stop_shard(ShardId shard, const char* why);
    void lose_lease(const char* why);
    void maybe_finish_leave();
    void publish_deadline();

    // Wraps `handler` so that it runs on the Loop, and not at all when the lease it was made
    // under has been lost since.
    template <class T>
    Done<T> on_loop(std::function<void(Result<T>)> handler);

    const OwnershipOptions options_;
    Loop& loop_;
    Coordination& coordination_;
    ShardFence& fence_;
    ShardHost& host_;

    std::vector<Shard> shards_;
    std::function<void(const ClusterView&)> view_listener_;
    LeaseId lease_ = 0;
    std::chrono::steady_clock::time_point lease_valid_until_{};
    std::chrono::steady_clock::time_point next_keep_alive_{};
    std::uint64_t epoch_ = 0;  // bumped when the lease is lost
    bool lease_pending_ = false;
    bool registered_ = false;
    Revision registered_revision_ = 0;
    bool register_pending_ = false;
    bool keep_alive_pending_ = false;
    bool refresh_pending_ = false;
    bool started_ = false;
    bool leaving_ = false;
    std::function<void()> left_;

    // Read by may_serve() on any thread: each shard's serving token (0: not serving) and the
    // instant (steady clock, ns) serving must stop by.
    std::vector<std::atomic<std::uint64_t>> serving_token_;
    std::atomic<std::int64_t> serve_until_ns_{0};
    std::atomic<std::uint64_t> leases_lost_{0};
};

}  // namespace qrpay::cluster
