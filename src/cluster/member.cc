#include "cluster/member.h"

#include <future>
#include <utility>

#include "base/log.h"

namespace qrpay::cluster {

namespace {

constexpr std::size_t loop_tasks_max = 65'536;

}  // namespace

Result<std::unique_ptr<ClusterMember>> ClusterMember::open(const MemberOptions& options,
                                                           const ClusterDefinition& flags,
                                                           const Clock& clock) {
    if (options.node_id.empty() || options.etcd.empty()) {
        return Status(Errc::invalid_argument, "a cluster node needs --node-id and --etcd");
    }
    Result<std::string> prefix = cluster_prefix(options.cluster_name);
    if (!prefix.ok()) {
        return prefix.status();
    }
    Result<std::unique_ptr<etcd::Client>> client = etcd::Client::open({.endpoints = options.etcd});
    if (!client.ok()) {
        return client.status();
    }
    Result<ClusterDefinition> stored = load_definition(**client, *prefix);
    if (!stored.ok()) {
        return stored.status();
    }
    if (Status agrees = check_agrees(*stored, flags); !agrees.ok()) {
        return agrees;
    }
    return std::unique_ptr<ClusterMember>(new ClusterMember(
        options, std::move(*stored), std::move(*prefix), std::move(*client), clock));
}

ClusterMember::ClusterMember(MemberOptions options,
                             ClusterDefinition definition,
                             std::string prefix,
                             std::unique_ptr<etcd::Client> client,
                             const Clock& clock)
    : options_(std::move(options)),
      definition_(std::move(definition)),
      prefix_(std::move(prefix)),
      clock_(clock),
      client_(std::move(client)),
      coordination_(*client_),
      loop_executor_(loop_tasks_max, clock),
      fence_io_(loop_tasks_max, clock),
      loop_(loop_executor_, clock) {}

ClusterMember::~ClusterMember() { stop(); }

void ClusterMember::start(runtime::Runtime& runtime, journal::Journal& journal) {
    fence_ = std::make_unique<JournalFence>(journal, fence_io_);
    host_ = std::make_unique<RuntimeShardHost>(runtime);
    runtime_ = &runtime;
    forwarder_ =
        std::make_unique<PeerForwarder>(runtime, clock_,
                                        ForwarderOptions{.node_id = options_.node_id,
                                                         .secret = options_.internal_secret,
                                                         .move_wait_max = options_.move_wait_max});
    internal_api_ = std::make_unique<InternalApi>(runtime, options_.internal_secret);
    peer_watch_ = std::make_unique<PeerWatch>(
        clock_, PeerWatchOptions{.node_id = options_.node_id, .secret = options_.internal_secret},
        [this](const std::string&, LeaseId lease) {
            loop_.post([this, lease] { coordination_.revoke_lease(lease, [](Result<bool>) {}); });
        });
    forwarder_->start();
    peer_watch_->start();
    runtime.set_forwarder(forwarder_.get());
    ownership_ =
        std::make_unique<ShardOwnership>(OwnershipOptions{.node_id = options_.node_id,
                                                          .node_info = options_.node_info,
                                                          .key_prefix = prefix_,
                                                          .shard_count = definition_.shard_count,
                                                          .lease_ttl = options_.lease_ttl,
                                                          .token_base = definition_.token_base},
                                         loop_, coordination_, *fence_, *host_);
    loop_executor_.start("cluster");
    fence_io_.start("cluster-fence");
    ownership_->set_view_listener([this](const ClusterView& view) {
        forwarder_->update(view);
        peer_watch_->update(view);
    });
    ownership_->start();
    QRPAY_LOG_INFO("cluster: node %s joins cluster \"%s\" (%u shards)", options_.node_id.c_str(),
                   options_.cluster_name.c_str(), definition_.shard_count);
}

void ClusterMember::leave(std::chrono::milliseconds wait_max) {
    if (ownership_ == nullptr || stopped_) {
        return;
    }
    auto left = std::make_shared<std::promise<void>>();
    std::future<void> done = left->get_future();
    ownership_->leave([left] { left->set_value(); });
    if (done.wait_for(wait_max) != std::future_status::ready) {
        QRPAY_LOG_WARN("cluster: node %s did not hand every shard over within %lld ms",
                       options_.node_id.c_str(), static_cast<long long>(wait_max.count()));
    }
}

void ClusterMember::stop() {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    client_->stop();  // every pending answer has run (queued on the loop) when it returns
    loop_executor_.stop();
    fence_io_.stop();
    if (forwarder_ != nullptr) {
        peer_watch_->stop();
        internal_api_->stop();
        runtime_->set_forwarder(nullptr);
        forwarder_->stop();  // commands still waiting for an owner answer unavailable
    }
}

bool ClusterMember::has_lease() const { return ownership_ != nullptr && ownership_->lease_live(); }

void ClusterMember::release_watches() {
    if (internal_api_ != nullptr) {
        internal_api_->stop();
    }
}

ForwarderStats ClusterMember::forwarding_stats() const {
    return forwarder_ != nullptr ? forwarder_->stats() : ForwarderStats{};
}

std::uint64_t ClusterMember::peers_revoked() const {
    return peer_watch_ != nullptr ? peer_watch_->revoked() : 0;
}

std::uint64_t ClusterMember::leases_lost() const {
    return ownership_ != nullptr ? ownership_->leases_lost() : 0;
}

std::uint32_t ClusterMember::shards_served() const {
    std::uint32_t served = 0;
    for (std::uint32_t shard = 0; ownership_ != nullptr && shard < definition_.shard_count;
         ++shard) {
        served += ownership_->may_serve(ShardId(shard)) ? 1 : 0;
    }
    return served;
}

}  // namespace qrpay::cluster
