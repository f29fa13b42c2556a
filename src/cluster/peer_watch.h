#pragma once
// PeerWatch: notices at once that a peer's process is gone, so that its shards move in a
// fraction of a second instead of a lease TTL (DESIGN §6, crash of a node).
//
// Every node holds one long-poll request open on each peer's internal listener
// (GET /internal/v1/watch, answered by the peer after a few seconds, then sent again). When the
// peer's process dies (kill -9, a crash) its kernel closes the connection and the request fails
// at once. The watcher then confirms with new connections (GET /internal/v1/ping): two refused
// at once, 50 ms apart, mean no process listens there any more, and the peer's etcd lease is
// revoked (a connect that times out is a silent peer, left to the lease); its claims go
// with it, and the ownership protocol gives its shards to the live nodes at its next read of
// etcd (about 100 ms). Only a peer that answered a ping once is ever revoked (a node that is
// still starting listens a moment after it registers).
//
// A silent failure (SIGSTOP, a partition, a machine gone without a reset) drops no connection:
// the lease's TTL decides then. A wrong revocation costs availability, never safety: the revoked
// node stops serving when its keep-alive fails, and the journal's fences hold regardless.
//
// Threads: update() and stop() from any thread; the watch runs on the peers' client threads and
// a delay thread of its own.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "cluster/coordination.h"
#include "cluster/ownership.h"
#include "runtime/executor.h"

namespace qrpay::cluster {

struct PeerWatchOptions {
    std::string node_id;  // this node: not watched
    std::string secret;   // the internal listeners' bearer token
    std::chrono::milliseconds ping_timeout{500};
    std::chrono::milliseconds ping_retry{200};  // between pings of a peer not yet seen alive
};

class PeerWatch {
public:
    // Revokes the lease of node `node_id`, which is gone; any thread, must not block.
    using Revoke = std::function<void(const std::string& node_id, LeaseId lease)>;

    PeerWatch(const Clock& clock, PeerWatchOptions options, Revoke revoke);
    ~PeerWatch();
    PeerWatch(const PeerWatch&) = delete;
    PeerWatch& operator=(const PeerWatch&) = delete;
    PeerWatch(PeerWatch&&) = delete;
    PeerWatch& operator=(PeerWatch&&) = delete;

    void start();
    void stop();  // idempotent
    // The cluster's latest view: the peers to watch, each with its lease.
    void update(const ClusterView& view);

    [[nodiscard]] std::uint64_t revoked() const { return revoked_.load(); }

private:
    struct Peer;
    void ping(const std::shared_ptr<Peer>& peer);
    void watch(const std::shared_ptr<Peer>& peer);
    void ping_later(const std::shared_ptr<Peer>& peer, std::chrono::milliseconds delay);
    void gone(const std::shared_ptr<Peer>& peer, const std::string& why);

    const Clock& clock_;
    const PeerWatchOptions options_;
    const Revoke revoke_;
    runtime::Executor delays_;
    std::mutex mutex_;                                    // guards peers_ and stopped_
    std::map<std::string, std::shared_ptr<Peer>> peers_;  // by node id
    bool stopped_ = false;
    std::atomic<std::uint64_t> revoked_{0};
};

}  // namespace qrpay::cluster
