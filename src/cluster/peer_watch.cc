#include "cluster/peer_watch.h"

#include <utility>
#include <vector>

#include "base/log.h"
#include "cluster/forwarder.h"
#include "cluster/internal_api.h"
#include "http/client.h"

namespace qrpay::cluster {
namespace {

constexpr std::size_t delay_tasks_max = 4'096;
// A peer is gone after this many refused connects in a row, this far apart: one refusal could
// be a listener restarting.
constexpr int refusals_to_revoke = 2;
constexpr std::chrono::milliseconds refusal_retry{50};
// The watch's answer comes after internal_watch_hold; a little more is allowed for a slow peer.
constexpr std::chrono::milliseconds watch_timeout = internal_watch_hold + std::chrono::seconds(3);

}  // namespace

struct PeerWatch::Peer {
    std::string id;
    std::string address;
    LeaseId lease = 0;
    std::shared_ptr<http::Client> client;
    std::atomic<bool> dropped{false};     // no longer in the view, or the watch stopped
    std::atomic<bool> seen_alive{false};  // answered a ping once
    std::atomic<bool> revoked{false};
    std::atomic<int> refusals{0};  // pings refused in a row
};

PeerWatch::PeerWatch(const Clock& clock, PeerWatchOptions options, Revoke revoke)
    : clock_(clock),
      options_(std::move(options)),
      revoke_(std::move(revoke)),
      delays_(delay_tasks_max, clock) {}

PeerWatch::~PeerWatch() { stop(); }

void PeerWatch::start() { delays_.start("peer-watch"); }

void PeerWatch::stop() {
    std::map<std::string, std::shared_ptr<Peer>> closing;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) {
            return;
        }
        stopped_ = true;
        closing.swap(peers_);
    }
    for (auto& [id, peer] : closing) {
        peer->dropped = true;
        peer->client->stop();
    }
    delays_.stop();
}

void PeerWatch::update(const ClusterView& view) {
    std::vector<std::shared_ptr<Peer>> started;
    std::vector<std::shared_ptr<Peer>> closing;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) {
            return;
        }
        std::map<std::string, std::shared_ptr<Peer>> next;
        for (const ClusterView::Node& node : view.nodes) {
            const std::string address = internal_address_of(node.info);
            if (node.id == options_.node_id || address.empty() || node.lease == 0) {
                continue;
            }
            if (auto known = peers_.find(node.id); known != peers_.end() &&
                                                   known->second->address == address &&
                                                   known->second->lease == node.lease) {
                next.emplace(node.id, std::move(known->second));
                peers_.erase(known);
                continue;
            }
            auto client = http::Client::open({.base_url = "http://" + address,
                                              .connect_timeout = options_.ping_timeout,
                                              .response_timeout = watch_timeout,
                                              .connections_max = 2});
            if (!client.ok()) {
                continue;
            }
            auto peer = std::make_shared<Peer>();
            peer->id = node.id;
            peer->address = address;
            peer->lease = node.lease;
            peer->client = std::move(*client);
            next.emplace(node.id, peer);
            started.push_back(peer);
        }
        for (auto& [id, peer] : peers_) {
            closing.push_back(std::move(peer));
        }
        peers_ = std::move(next);
    }
    for (const auto& peer : closing) {
        peer->dropped = true;
        peer->client->stop();
    }
    for (const auto& peer : started) {
        ping(peer);
    }
}

// Alive: watch it. Refused at once, twice in a row, after it was seen alive: gone. Anything
// else (a connect that times out is a silent peer, left to its lease): ask again later.
void PeerWatch::ping(const std::shared_ptr<Peer>& peer) {
    if (peer->dropped.load()) {
        return;
    }
    http::ClientRequest request{.method = "GET",
                                .path = std::string(internal_ping_path),
                                .headers = {{"Authorization", "Bearer " + options_.secret}},
                                .timeout = options_.ping_timeout};
    const auto sent = clock_.monotonic_now();
    peer->client->call_async(std::move(request), [this, peer, sent](Result<http::Response> answer) {
        if (answer.ok() && answer->status == 200) {
            peer->seen_alive = true;
            peer->refusals = 0;
            watch(peer);
            return;
        }
        // The client says unavailable for a refused connect and for one that timed out; only
        // a refusal comes back at once.
        const bool refused = !answer.ok() && answer.status().code() == Errc::unavailable &&
                             clock_.monotonic_now() - sent < options_.ping_timeout / 2;
        if (!refused || !peer->seen_alive.load()) {
            peer->refusals = 0;
            ping_later(peer, options_.ping_retry);
            return;
        }
        if (++peer->refusals < refusals_to_revoke) {
            ping_later(peer, refusal_retry);
            return;
        }
        gone(peer, answer.status().message());
    });
}

void PeerWatch::watch(const std::shared_ptr<Peer>& peer) {
    if (peer->dropped.load()) {
        return;
    }
    http::ClientRequest request{.method = "GET",
                                .path = std::string(internal_watch_path),
                                .headers = {{"Authorization", "Bearer " + options_.secret}},
                                .timeout = watch_timeout};
    peer->client->call_async(std::move(request), [this, peer](Result<http::Response> answer) {
        if (answer.ok() && answer->status == 200) {
            watch(peer);  // held its time: still there
        } else if (!answer.ok() && answer.status().code() == Errc::timeout) {
            watch(peer);  // silent: the lease decides
        } else if (!answer.ok()) {
            ping(peer);  // the connection dropped: confirm with a new one
        } else {
            ping_later(peer, options_.ping_retry);  // it answers but does not hold: stopping
        }
    });
}

void PeerWatch::ping_later(const std::shared_ptr<Peer>& peer, std::chrono::milliseconds delay) {
    if (peer->dropped.load()) {
        return;
    }
    delays_.post_at(clock_.monotonic_now() + delay, [this, peer] { ping(peer); });
}

void PeerWatch::gone(const std::shared_ptr<Peer>& peer, const std::string& why) {
    if (peer->revoked.exchange(true)) {
        return;
    }
    ++revoked_;
    QRPAY_LOG_WARN(
        "cluster: node %s dropped its internal connection and refuses new ones (%s): "
        "revoking its lease %lld so that its shards move now",
        peer->id.c_str(), why.c_str(), static_cast<long long>(peer->lease));
    revoke_(peer->id, peer->lease);
}

}  // namespace qrpay::cluster
