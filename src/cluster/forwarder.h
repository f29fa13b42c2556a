#pragma once
// PeerForwarder: the runtime's Forwarder (runtime/forwarding.h) for a cluster node. It sends a
// command for a shard served elsewhere to the shard's owner over a persistent HTTP/1.1
// keep-alive connection to that node's internal listener (internal_api.h), and hands the
// answer back.
//
// Routing follows the cluster's latest view (ShardOwnership's ClusterView, about every 100 ms).
// While a shard has no owner that takes the command (unclaimed, moving, the owner refused it as
// not_owner, or its node cannot be reached) the command waits and is tried again every
// retry_interval, for at most move_wait_max; then it is answered not_owner (503
// shard_unavailable). A try is repeated only when it surely did not run: refused at the owner's
// door, or never sent. A command sent whose answer was lost is answered unknown_outcome. When
// the shard comes to this node meanwhile, the command runs here. A peer that leaves the view
// takes no new command, but its connections stay open until the commands already on them are
// answered (a leaving node's internal listener answers for a moment after it let go).
//
// Bounds: per peer, connections_per_peer_max connections and calls_waiting_per_peer_max calls
// queued for one (then the try waits as above); at most attempts_waiting_max commands waiting
// between tries (then unavailable).
//
// Threads: forward() and update() from any thread. Answers run on a peer connection's I/O
// thread, the retry thread, or an executor (a command that ran here); they must not block.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "cluster/ownership.h"
#include "runtime/executor.h"
#include "runtime/forwarding.h"
#include "runtime/runtime.h"

namespace qrpay::http {
class Client;
struct Response;
}  // namespace qrpay::http

namespace qrpay::cluster {

struct ForwarderOptions {
    std::string node_id;  // this node: a shard it claims is served here once raised
    std::string secret;   // the internal listeners' bearer token (internal_api.h)
    std::chrono::milliseconds move_wait_max{2'000};
    std::chrono::milliseconds retry_interval{20};
    std::chrono::milliseconds response_timeout{10'000};
    std::size_t connections_per_peer_max = 16;
    std::size_t calls_waiting_per_peer_max = 8'192;
    std::size_t attempts_waiting_max = 65'536;
};

struct ForwarderStats {
    std::uint64_t forwarded = 0;     // commands sent to a peer (each try counts)
    std::uint64_t retries = 0;       // tries put off because the shard had no owner to take it
    std::uint64_t gave_up = 0;       // commands answered not_owner after move_wait_max
    std::uint64_t lost_answers = 0;  // sent, answer lost: unknown_outcome
};

// The address of a node's internal listener as its registration gives it
// ({"internal":"host:port",...}), or "" when it has none.
std::string internal_address_of(const std::string& node_info);

class PeerForwarder final : public runtime::Forwarder {
public:
    // REQUIRES: `runtime` and `clock` outlive this.
    PeerForwarder(runtime::Runtime& runtime, const Clock& clock, ForwarderOptions options);
    ~PeerForwarder() override;
    PeerForwarder(const PeerForwarder&) = delete;
    PeerForwarder& operator=(const PeerForwarder&) = delete;
    PeerForwarder(PeerForwarder&&) = delete;
    PeerForwarder& operator=(PeerForwarder&&) = delete;

    void start();
    // Answers every waiting command unavailable, closes the connections. Idempotent.
    void stop();

    // The cluster's latest view: who claims each shard, where each node listens.
    void update(const ClusterView& view);
    void forward(ShardId shard,
                 runtime::ForwardedCommand command,
                 runtime::ForwardDone done) override;

    [[nodiscard]] ForwarderStats stats() const;

private:
    struct Attempt;
    struct Peer {
        std::string address;
        std::shared_ptr<http::Client> client;
    };
    // The connections of a peer that left the view (or moved): no new command goes on them,
    // and they are closed once the commands on them were answered, so that none is cut.
    struct Retired {
        std::shared_ptr<http::Client> client;
        std::chrono::steady_clock::time_point since;
    };
    enum class Route { here, peer, wait };

    void try_once(const std::shared_ptr<Attempt>& attempt);
    // The shard's route now, and the peer's connection when it is a peer's.
    Route route_of(ShardId shard, std::shared_ptr<http::Client>& client, std::string& why) const;
    // What came back from the peer's internal listener (on its connection's I/O thread).
    void on_peer_response(const std::shared_ptr<Attempt>& attempt, Result<http::Response> response);
    void on_answer(const std::shared_ptr<Attempt>& attempt, Result<std::string> answer);
    void wait_and_retry(const std::shared_ptr<Attempt>& attempt, const std::string& why);
    // Closes the retired connections with no command left on them, or older than any command
    // can take. Not under mutex_.
    void close_finished_retirees();

    runtime::Runtime& runtime_;
    const Clock& clock_;
    const ForwarderOptions options_;
    runtime::Executor retries_;  // waits between tries

    mutable std::mutex mutex_;  // guards the routes below
    std::vector<std::string> shard_owners_;
    std::map<std::string, Peer> peers_;  // by node id
    std::vector<Retired> retired_;
    bool stopped_ = false;

    std::atomic<std::size_t> attempts_waiting_{0};
    std::atomic<std::uint64_t> forwarded_{0};
    std::atomic<std::uint64_t> retries_counted_{0};
    std::atomic<std::uint64_t> gave_up_{0};
    std::atomic<std::uint64_t> lost_answers_{0};
};

}  // namespace qrpay::cluster
