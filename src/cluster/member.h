#pragma once
// ClusterMember: a qrpay node's membership in its cluster, made of real parts: an etcd client,
// the ownership protocol on a thread of its own, the journal's fences raised on another (a
// blocking call), and the runtime serving the shards the protocol gives it.

#include <chrono>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "cluster/definition.h"
#include "cluster/forwarder.h"
#include "cluster/internal_api.h"
#include "cluster/node_parts.h"
#include "cluster/ownership.h"
#include "cluster/peer_watch.h"
#include "etcd/client.h"
#include "journal/journal.h"
#include "runtime/executor.h"
#include "runtime/runtime.h"

namespace qrpay::cluster {

struct MemberOptions {
    std::string etcd;          // client URLs, comma-separated
    std::string cluster_name;  // its keys live under /qrpay/<name>/
    std::string node_id;
    std::string node_info;  // registered with the node: its addresses (JSON)
    std::chrono::seconds lease_ttl{2};
    std::string internal_secret;                     // of the internal listeners (internal_api.h)
    std::chrono::milliseconds move_wait_max{2'000};  // a forwarded command's wait for an owner
};

class ClusterMember {
public:
    // Connects to etcd and reads the cluster's definition. invalid_argument for bad options
    // or flags that disagree with the definition (`flags`: shard count and partitions);
    // not_found when the cluster was never initialised; etcd's error when it cannot be read.
    static Result<std::unique_ptr<ClusterMember>> open(const MemberOptions& options,
                                                       const ClusterDefinition& flags,
                                                       const Clock& clock);
    ~ClusterMember();
    ClusterMember(const ClusterMember&) = delete;
    ClusterMember& operator=(const ClusterMember&) = delete;
    ClusterMember(ClusterMember&&) = delete;
    ClusterMember& operator=(ClusterMember&&) = delete;

    // Joins: takes a lease and claims shards for `runtime` (started, made with
    // claim_every_shard off), fenced in `journal`, and forwards the commands of the shards
    // other nodes serve to them. Both outlive this.
    void start(runtime::Runtime& runtime, journal::Journal& journal);
    // Where peers' commands come in: for the node's internal listener. After start().
    [[nodiscard]] InternalApi& internal_api() { return *internal_api_; }
    // Answers the peers' held watches now, so that the internal listener stops at once.
    // Any time; nothing before start().
    void release_watches();
    // Hands every shard over and gives the lease back, waiting at most `wait_max`.
    void leave(std::chrono::milliseconds wait_max);
    // Stops the threads and forwarding; shards not handed over move when the lease expires.
    void stop();

    [[nodiscard]] bool has_lease() const;
    [[nodiscard]] std::uint32_t shards_served() const;
    [[nodiscard]] const std::string& node_id() const { return options_.node_id; }
    [[nodiscard]] ForwarderStats forwarding_stats() const;
    // Peers whose lease this node revoked because their process was gone (peer_watch.h).
    [[nodiscard]] std::uint64_t peers_revoked() const;
    // Leases this node held and lost, each time stopping to serve (ownership.h).
    [[nodiscard]] std::uint64_t leases_lost() const;

private:
    ClusterMember(MemberOptions options,
                  ClusterDefinition definition,
                  std::string prefix,
                  std::unique_ptr<etcd::Client> client,
                  const Clock& clock);

    const MemberOptions options_;
    const ClusterDefinition definition_;
    const std::string prefix_;
    const Clock& clock_;
    std::unique_ptr<etcd::Client> client_;
    EtcdCoordination coordination_;
    runtime::Executor loop_executor_;
    runtime::Executor fence_io_;
    ExecutorLoop loop_;
    std::unique_ptr<JournalFence> fence_;
    std::unique_ptr<RuntimeShardHost> host_;
    runtime::Runtime* runtime_ = nullptr;
    std::unique_ptr<PeerForwarder> forwarder_;
    std::unique_ptr<InternalApi> internal_api_;
    std::unique_ptr<PeerWatch> peer_watch_;
    std::unique_ptr<ShardOwnership> ownership_;
    bool stopped_ = false;
};

}  // namespace qrpay::cluster
