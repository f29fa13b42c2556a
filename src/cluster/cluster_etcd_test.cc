// The ownership protocol with real parts: three nodes in this process, each with its own
// threads and etcd client, against a real etcd (etcd/testing) and one journal for the fences.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/testing/eventually.h"
#include "cluster/definition.h"
#include "cluster/node_parts.h"
#include "cluster/ownership.h"
#include "etcd/client.h"
#include "etcd/testing/test_cluster.h"
#include "journal/journal.h"
#include "runtime/executor.h"

namespace qrpay::cluster {
namespace {

using qrpay::testing::eventually;

constexpr std::uint32_t shard_count = 8;

// Records what the protocol tells the runtime; a hand-off drains at once.
class RecordingHost final : public ShardHost {
public:
    void serve(ShardId shard, FencingToken token) override {
        std::lock_guard lock(mutex_);
        served_[shard.value] = token;
    }
    void stop_serving(ShardId shard) override {
        std::lock_guard lock(mutex_);
        served_.erase(shard.value);
        ++stops_;
    }
    void hand_off(ShardId shard, std::function<void()> drained) override {
        {
            std::lock_guard lock(mutex_);
            served_.erase(shard.value);
            ++hand_offs_;
        }
        drained();
    }
    // The token the protocol told this host to serve `shard` under; 0 when not serving.
    FencingToken served_token(ShardId shard) const {
        std::lock_guard lock(mutex_);
        auto found = served_.find(shard.value);
        return found == served_.end() ? FencingToken(0) : found->second;
    }
    int stops() const {
        std::lock_guard lock(mutex_);
        return stops_;
    }
    int hand_offs() const {
        std::lock_guard lock(mutex_);
        return hand_offs_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::uint32_t, FencingToken> served_;
    int stops_ = 0;
    int hand_offs_ = 0;
};

// One node: its loop and fence threads, its etcd client, its ownership.
class Node {
public:
    Node(const std::string& id, const std::string& prefix, journal::Journal& journal)
        : loop_executor_(1024, clock_), fence_io_(1024, clock_) {
        auto client =
            etcd::Client::open({.endpoints = etcd::testing::shared_test_cluster().client_urls()});
        EXPECT_TRUE(client.ok()) << client.status().to_string();
        client_ = std::move(client).value();
        coordination_ = std::make_unique<EtcdCoordination>(*client_);
        fence_ = std::make_unique<JournalFence>(journal, fence_io_);
        loop_ = std::make_unique<ExecutorLoop>(loop_executor_, clock_);
        ownership_ =
            std::make_unique<ShardOwnership>(OwnershipOptions{.node_id = id,
                                                              .node_info = "{}",
                                                              .key_prefix = prefix,
                                                              .shard_count = shard_count,
                                                              .lease_ttl = std::chrono::seconds(1)},
                                             *loop_, *coordination_, *fence_, host_);
        loop_executor_.start("cluster-" + id);
        fence_io_.start("fence-" + id);
        ownership_->start();
    }
    ~Node() { crash(); }
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    Node(Node&&) = delete;
    Node& operator=(Node&&) = delete;

    // Gone at once, its lease left to expire in etcd.
    void crash() {
        if (ownership_ == nullptr) {
            return;
        }
        client_->stop();
        loop_executor_.stop();
        fence_io_.stop();
        ownership_.reset();
    }
    void leave() {
        std::atomic<bool> left{false};
        ownership_->leave([&left] { left = true; });
        ASSERT_TRUE(eventually([&] { return left.load(); }));
    }
    [[nodiscard]] bool may_serve(ShardId shard) const {
        return ownership_ != nullptr && ownership_->may_serve(shard);
    }
    [[nodiscard]] FencingToken token_of(ShardId shard) const { return ownership_->token_of(shard); }
    const RecordingHost& host() const { return host_; }

private:
    SystemClock clock_;
    runtime::Executor loop_executor_;
    runtime::Executor fence_io_;
    RecordingHost host_;
    std::unique_ptr<etcd::Client> client_;
    std::unique_ptr<EtcdCoordination> coordination_;
    std::unique_ptr<JournalFence> fence_;
    std::unique_ptr<ExecutorLoop> loop_;
    std::unique_ptr<ShardOwnership> ownership_;
};

// Every shard is served by exactly one of `nodes`, the journal's fence at its token.
bool each_shard_served_once(const std::vector<Node*>& nodes, journal::Journal& journal) {
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        const Node* owner = nullptr;
        for (const Node* node : nodes) {
            if (node->may_serve(ShardId(shard))) {
                if (owner != nullptr) {
                    return false;
                }
                owner = node;
            }
        }
        if (owner == nullptr) {
            return false;
        }
        // The journal's fence, the protocol's token and what the runtime was told agree.
        auto fence = journal.current_fencing(ShardId(shard));
        if (!fence.ok() || *fence != owner->token_of(ShardId(shard)) ||
            *fence != owner->host().served_token(ShardId(shard))) {
            return false;
        }
    }
    return true;
}

std::string unique_prefix(const std::string& test) {
    static std::atomic<int> made{0};
    return "/qrpay-test/" + test + "-" + std::to_string(::getpid()) + "-" + std::to_string(++made) +
           "/";
}

TEST(ClusterOnEtcd, ThreeNodesServeEveryShardOnceFencedAtTheirClaimsTokens) {
    auto journal = journal::make_memory_journal();
    const std::string prefix = unique_prefix("three");
    Node a("a", prefix, *journal), b("b", prefix, *journal), c("c", prefix, *journal);
    ASSERT_TRUE(eventually([&] { return each_shard_served_once({&a, &b, &c}, *journal); }));
    // Rendezvous spreads 8 shards over 3 nodes: nobody holds them all.
    int held_by_a = 0;
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        held_by_a += a.may_serve(ShardId(shard)) ? 1 : 0;
    }
    EXPECT_LT(held_by_a, static_cast<int>(shard_count));
}

TEST(ClusterOnEtcd, ALeavingNodeHandsItsShardsOverWithoutStoppingAny) {
    auto journal = journal::make_memory_journal();
    const std::string prefix = unique_prefix("leave");
    Node a("a", prefix, *journal), b("b", prefix, *journal), c("c", prefix, *journal);
    ASSERT_TRUE(eventually([&] { return each_shard_served_once({&a, &b, &c}, *journal); }));
    c.leave();
    ASSERT_TRUE(eventually([&] { return each_shard_served_once({&a, &b}, *journal); }));
    EXPECT_GT(c.host().hand_offs(), 0);
    EXPECT_EQ(a.host().stops() + b.host().stops() + c.host().stops(), 0);
}

TEST(ClusterOnEtcd, ACrashedNodesShardsMoveWhenItsLeaseExpiresUnderHigherTokens) {
    auto journal = journal::make_memory_journal();
    const std::string prefix = unique_prefix("crash");
    Node a("a", prefix, *journal), b("b", prefix, *journal), c("c", prefix, *journal);
    ASSERT_TRUE(eventually([&] { return each_shard_served_once({&a, &b, &c}, *journal); }));
    std::map<std::uint32_t, FencingToken> before;
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        if (c.may_serve(ShardId(shard))) {
            before[shard] = c.token_of(ShardId(shard));
        }
    }
    c.crash();
    ASSERT_TRUE(eventually([&] { return each_shard_served_once({&a, &b}, *journal); }));
    for (const auto& [shard, token] : before) {
        auto fence = journal->current_fencing(ShardId(shard));
        ASSERT_TRUE(fence.ok());
        EXPECT_GT(*fence, token) << "shard " << shard << " moved without a higher fence";
    }
}

TEST(ClusterOnEtcd, ADefinitionIsStoredOnceAndADifferentOneIsRefused) {
    auto client =
        etcd::Client::open({.endpoints = etcd::testing::shared_test_cluster().client_urls()});
    ASSERT_TRUE(client.ok()) << client.status().to_string();
    const std::string prefix = unique_prefix("definition");
    EXPECT_EQ(load_definition(**client, prefix).status().code(), Errc::not_found);
    const ClusterDefinition first{
        .shard_count = 16, .partitions = {"postgresql://a/q"}, .token_base = 41};
    ASSERT_TRUE(store_definition(**client, prefix, first).ok());
    // Again with the same shards and partitions: the stored one, its token base kept.
    ClusterDefinition again = first;
    again.token_base = 99;
    Result<ClusterDefinition> kept = store_definition(**client, prefix, again);
    ASSERT_TRUE(kept.ok()) << kept.status().to_string();
    EXPECT_EQ(kept->token_base, 41U);
    ClusterDefinition other = first;
    other.shard_count = 32;
    EXPECT_EQ(store_definition(**client, prefix, other).status().code(), Errc::conflict);
    Result<ClusterDefinition> loaded = load_definition(**client, prefix);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    EXPECT_EQ(*loaded, first);
}

}  // namespace
}  // namespace qrpay::cluster
