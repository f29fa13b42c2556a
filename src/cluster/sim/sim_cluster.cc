#include "cluster/sim/sim_cluster.h"

#include <map>
#include <utility>

#include "base/log.h"

namespace qrpay::cluster::sim {

namespace {

constexpr milliseconds request_timeout{500};
constexpr milliseconds command_interval{20};
constexpr const char* key_prefix = "/qrpay/sim/";

std::string node_name(int node) { return "n" + std::to_string(node); }

}  // namespace

// One incarnation of a node: its ShardOwnership and the adapters that connect it to the
// simulated world, and its host, which takes commands for the shards it serves.
class SimCluster::Node : public Loop, public Coordination, public ShardFence, public ShardHost {
public:
    Node(SimCluster& cluster, int index)
        : cluster_(cluster),
          index_(index),
          incarnation_(cluster.world_.incarnation(index)),
          ownership_(OwnershipOptions{.node_id = node_name(index),
                                      .node_info = "sim",
                                      .key_prefix = key_prefix,
                                      .shard_count = cluster.options_.shard_count,
                                      .lease_ttl = cluster.options_.lease_ttl},
                     *this,
                     *this,
                     *this,
                     *this) {}

    void start() {
        ownership_.start();
        schedule(command_interval, [this] { take_commands(); });
    }
    void leave(std::function<void()> done) { ownership_.leave(std::move(done)); }
    [[nodiscard]] bool may_serve(ShardId shard) const { return ownership_.may_serve(shard); }
    [[nodiscard]] bool serving(ShardId shard) const {
        return ownership_.state_of(shard) == ShardOwnership::State::serving;
    }
    [[nodiscard]] LeaseId lease() const { return ownership_.lease(); }
    [[nodiscard]] std::uint64_t incarnation() const { return incarnation_; }

    // Loop
    [[nodiscard]] std::chrono::steady_clock::time_point now() const override {
        return cluster_.world_.now();
    }
    void post(std::function<void()> task) override { schedule(milliseconds(0), std::move(task)); }
    void run_after(milliseconds delay, std::function<void()> task) override {
        schedule(delay, std::move(task));
    }

    // Coordination: each call travels to the store and back.
    void grant_lease(std::chrono::seconds ttl, Done<LeaseId> done) override {
        SimCluster& c = cluster_;
        c.call<LeaseId>(
            index_, true,
            [&c, ttl]() -> Result<LeaseId> { return c.store_.grant_lease(c.world_.now(), ttl); },
            std::move(done));
    }
    void keep_alive(LeaseId lease, Done<milliseconds> done) override {
        SimCluster& c = cluster_;
        c.call<milliseconds>(
            index_, true, [&c, lease] { return c.store_.keep_alive(c.world_.now(), lease); },
            std::move(done));
    }
    void revoke_lease(LeaseId lease, Done<bool> done) override {
        SimCluster& c = cluster_;
        c.call<bool>(
            index_, true,
            [&c, lease]() -> Result<bool> { return c.store_.revoke_lease(c.world_.now(), lease); },
            std::move(done));
    }
    void put(std::string key, std::string value, LeaseId lease, Done<Revision> done) override {
        SimCluster& c = cluster_;
        c.call<Revision>(
            index_, true,
            [&c, key = std::move(key), value = std::move(value), lease] {
                return c.store_.put(c.world_.now(), key, value, lease);
            },
            std::move(done));
    }
    void create(std::string key,
                std::string value,
                LeaseId lease,
                Done<CreateResult> done) override {
        SimCluster& c = cluster_;
        c.call<CreateResult>(
            index_, true,
            [&c, key = std::move(key), value = std::move(value), lease] {
                return c.store_.create(c.world_.now(), key, value, lease);
            },
            std::move(done));
    }
    void delete_if_unchanged(std::string key, Revision mod_revision, Done<bool> done) override {
        SimCluster& c = cluster_;
        c.call<bool>(
            index_, true,
            [&c, key = std::move(key), mod_revision]() -> Result<bool> {
                return c.store_.delete_if_unchanged(c.world_.now(), key, mod_revision);
            },
            std::move(done));
    }
    void range_prefix(std::string prefix, Done<std::vector<Entry>> done) override {
        SimCluster& c = cluster_;
        c.call<std::vector<Entry>>(
            index_, true,
            [&c, prefix = std::move(prefix)]() -> Result<std::vector<Entry>> {
                return c.store_.range_prefix(c.world_.now(), prefix);
            },
            std::move(done));
    }

    // ShardFence: to the journal and back.
    void raise(ShardId shard, FencingToken token, Done<bool> done) override {
        SimCluster& c = cluster_;
        c.call<bool>(
            index_, false,
            [&c, shard, token, node = index_]() -> Result<bool> {
                Status raised = c.journal_.raise(shard, token, node);
                return raised.ok() ? Result<bool>(true) : Result<bool>(raised);
            },
            std::move(done));
    }

    // ShardHost
    void serve(ShardId shard, FencingToken token) override {
        hosted_[shard.value] = Hosted{token, 0, true, nullptr};
    }
    void stop_serving(ShardId shard) override { hosted_.erase(shard.value); }
    void hand_off(ShardId shard, std::function<void()> drained) override {
        auto found = hosted_.find(shard.value);
        if (found == hosted_.end()) {
            drained();
            return;
        }
        found->second.taking = false;
        found->second.drained = std::move(drained);
        finish_hand_off_if_drained(shard);
    }

private:
    struct Hosted {
        FencingToken token;
        int in_flight = 0;
        bool taking = true;
        std::function<void()> drained;
    };

    void schedule(milliseconds delay, std::function<void()> task) {
        cluster_.world_.schedule(delay, index_, incarnation_, std::move(task));
    }

    // Every command_interval, one command for each shard this node may serve: the invariants
    // are checked as it is taken, then it is appended under the shard's token.
    void take_commands() {
        for (auto& [number, hosted] : hosted_) {
            const ShardId shard(number);
            if (!hosted.taking || !ownership_.may_serve(shard)) {
                continue;
            }
            check_claim_current(shard);
            ++hosted.in_flight;
            // The command is processed before its append goes out: a pause may fall between.
            schedule(milliseconds(cluster_.world_.uniform(0, 20)),
                     [this, shard, token = hosted.token] { append(shard, token); });
        }
        schedule(command_interval, [this] { take_commands(); });
    }

    void append(ShardId shard, FencingToken token) {
        SimCluster& c = cluster_;
        c.call<bool>(
            index_, false,
            [&c, shard, token, node = index_]() -> Result<bool> {
                if (Status appended = c.journal_.append(shard, token, node); !appended.ok()) {
                    return appended;
                }
                if (c.journal_.fence_holder(shard) != node) {
                    c.fail("the journal accepted an append of shard " +
                           std::to_string(shard.value) + " from " + node_name(node) +
                           ", which does not hold its fence");
                }
                ++c.stats_.appends_accepted;
                return true;
            },
            [this, shard, token](const Result<bool>& appended) {
                on_appended(shard, token, appended);
            });
    }

    void on_appended(ShardId shard, FencingToken token, const Result<bool>& appended) {
        if (appended.status().code() == Errc::fenced) {
            ++cluster_.stats_.appends_fenced;
            if (!cluster_.options_.crashes) {
                cluster_.fail("a planned move lost a command: an append of shard " +
                              std::to_string(shard.value) + " by " + node_name(index_) +
                              " was fenced");
            }
        }
        auto found = hosted_.find(shard.value);
        if (found == hosted_.end() || found->second.token != token) {
            return;  // stopped meanwhile
        }
        --found->second.in_flight;
        finish_hand_off_if_drained(shard);
    }

    void finish_hand_off_if_drained(ShardId shard) {
        auto found = hosted_.find(shard.value);
        if (found == hosted_.end() || found->second.taking || found->second.in_flight > 0 ||
            !found->second.drained) {
            return;
        }
        std::function<void()> drained = std::move(found->second.drained);
        hosted_.erase(found);
        // Passivating the shard's entities takes a moment.
        schedule(milliseconds(cluster_.world_.uniform(0, 30)), std::move(drained));
    }

    void check_claim_current(ShardId shard) {
        SimCluster& c = cluster_;
        const Entry* claim = c.store_.find(c.world_.now(), shard_key(key_prefix, shard));
        if (claim == nullptr || claim->value != node_name(index_) ||
            claim->lease != ownership_.lease() ||
            !c.store_.lease_alive(c.world_.now(), claim->lease)) {
            c.fail(node_name(index_) + " takes a command of shard " + std::to_string(shard.value) +
                   " without a current claim (" +
                   (claim == nullptr ? std::string("no claim")
                                     : "claim by " + claim->value + " under lease " +
                                           std::to_string(claim->lease)) +
                   "; this node's lease " + std::to_string(ownership_.lease()) + ")");
        }
    }

    SimCluster& cluster_;
    const int index_;
    const std::uint64_t incarnation_;
    ShardOwnership ownership_;
    std::map<std::uint32_t, Hosted> hosted_;
};

SimCluster::SimCluster(std::uint64_t seed, SimOptions options)
    : seed_(seed),
      options_(options),
      world_(seed, options.nodes),
      cut_from_store_until_(static_cast<std::size_t>(options.nodes)),
      cut_from_journal_until_(static_cast<std::size_t>(options.nodes)) {
    for (int node = 0; node < options_.nodes; ++node) {
        nodes_.push_back(std::make_unique<Node>(*this, node));
    }
}

SimCluster::~SimCluster() = default;

template <class T>
void SimCluster::call(int node, bool to_store, std::function<Result<T>()> apply, Done<T> done) {
    const std::uint64_t incarnation = world_.incarnation(node);
    const SimTime sent = world_.now();
    const auto lost = [this, node, incarnation, sent, done]() {
        const milliseconds left =
            std::chrono::duration_cast<milliseconds>(sent + request_timeout - world_.now());
        world_.schedule(std::max(left, milliseconds(0)), node, incarnation,
                        [done] { done(Status(Errc::timeout, "no answer in time")); });
    };
    if (cut(node, to_store) || world_.chance(drop_probability_)) {
        lost();
        return;
    }
    // Mostly quick; now and then slow; rarely stuck in a queue long past the caller's timeout
    // (the caller then hears "timeout" while the request still lands later).
    milliseconds there(world_.uniform(1, world_.chance(0.05) ? 150 : 10));
    if (drop_probability_ > 0 && world_.chance(0.01)) {
        there = milliseconds(world_.uniform(request_timeout.count(), 3'000));
        lost();
        world_.schedule(there, SimWorld::world, 0, [apply = std::move(apply)] { (void)apply(); });
        return;
    }
    world_.schedule(there, SimWorld::world, 0, [=, this, apply = std::move(apply)] {
        Result<T> answer = apply();
        if (cut(node, to_store) || world_.chance(drop_probability_)) {
            lost();
            return;
        }
        const milliseconds back(world_.uniform(1, 10));
        world_.schedule(back, node, incarnation,
                        [done, answer = std::move(answer)]() mutable { done(std::move(answer)); });
    });
}

bool SimCluster::cut(int node, bool from_store) const {
    const auto& until = from_store ? cut_from_store_until_ : cut_from_journal_until_;
    return until.at(static_cast<std::size_t>(node)) > world_.now();
}

void SimCluster::fail(const std::string& what) {
    if (broken_.ok()) {
        broken_ =
            Status(Errc::corruption, "seed " + std::to_string(seed_) + " at t=" +
                                         std::to_string(std::chrono::duration_cast<milliseconds>(
                                                            world_.now().time_since_epoch())
                                                            .count()) +
                                         " ms: " + what);
    }
}

Status SimCluster::run() {
    for (auto& node : nodes_) {
        node->start();
    }
    const SimTime faults_end = world_.now() + options_.fault_phase;
    SimTime next_fault = world_.now() + milliseconds(world_.uniform(300, 1500));
    drop_probability_ = options_.crashes ? 0.02 : 0.0;
    while (world_.now() < faults_end && broken_.ok()) {
        if (world_.step(std::min(next_fault, faults_end))) {
            ++stats_.events;
            check_one_owner();
        } else if (world_.now() >= next_fault) {
            inject_fault();
            next_fault = world_.now() + milliseconds(world_.uniform(300, 1500));
        }
    }
    drop_probability_ = 0;
    const SimTime settled_by = world_.now() + options_.settle_bound;
    while (broken_.ok() && world_.step(settled_by)) {
        ++stats_.events;
        check_one_owner();
    }
    return broken_.ok() ? check_settled() : broken_;
}

void SimCluster::inject_fault() {
    ++stats_.faults;
    const int node = static_cast<int>(world_.uniform(0, options_.nodes - 1));
    const auto index = static_cast<std::size_t>(node);
    const auto how_long = milliseconds(world_.uniform(100, 4'000));
    const std::int64_t kind = options_.crashes ? world_.uniform(0, 4) : 4;
    switch (kind) {
        case 0:  // kill -9, restarted later
            world_.crash(node);
            restart(node, how_long);
            return;
        case 1:  // SIGSTOP, SIGCONT
            world_.pause(node, how_long);
            return;
        case 2:
            cut_from_store_until_[index] =
                std::max(cut_from_store_until_[index], world_.now() + how_long);
            return;
        case 3:
            cut_from_journal_until_[index] =
                std::max(cut_from_journal_until_[index], world_.now() + how_long);
            return;
        default:  // a planned leave (SIGTERM, drain), then the node starts again
            nodes_[index]->leave([this, node, how_long] {
                world_.crash(node);
                restart(node, how_long);
            });
            return;
    }
}

void SimCluster::restart(int node, milliseconds after) {
    world_.schedule(after, SimWorld::world, 0, [this, node] {
        const auto index = static_cast<std::size_t>(node);
        if (alive(node)) {
            return;  // restarted already (crashed twice before its first restart)
        }
        nodes_[index] = std::make_unique<Node>(*this, node);
        nodes_[index]->start();
    });
}

bool SimCluster::alive(int node) const {
    return nodes_[static_cast<std::size_t>(node)]->incarnation() == world_.incarnation(node);
}

void SimCluster::check_one_owner() {
    for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
        int owners = 0;
        for (int node = 0; node < options_.nodes; ++node) {
            owners +=
                alive(node) && nodes_[static_cast<std::size_t>(node)]->may_serve(ShardId(shard))
                    ? 1
                    : 0;
        }
        if (owners > 1) {
            fail(std::to_string(owners) + " nodes may serve shard " + std::to_string(shard) +
                 " at once");
        }
    }
}

Status SimCluster::check_settled() {
    for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
        int owners = 0;
        for (int node = 0; node < options_.nodes; ++node) {
            const Node& n = *nodes_[static_cast<std::size_t>(node)];
            owners +=
                alive(node) && n.serving(ShardId(shard)) && n.may_serve(ShardId(shard)) ? 1 : 0;
        }
        if (owners != 1) {
            return {Errc::timeout, "seed " + std::to_string(seed_) + ": shard " +
                                       std::to_string(shard) + " has " + std::to_string(owners) +
                                       " serving owners " +
                                       std::to_string(options_.settle_bound.count()) +
                                       " ms after the faults stopped"};
        }
    }
    return {};
}

}  // namespace qrpay::cluster::sim
