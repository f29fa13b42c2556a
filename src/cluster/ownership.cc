#include "cluster/ownership.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

#include "base/assert.h"
#include "base/log.h"
#include "cluster/rendezvous.h"

namespace qrpay::cluster {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t to_ns(SteadyClock::time_point at) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
}

constexpr const char* nodes_dir = "nodes/";
constexpr const char* shards_dir = "shards/";

}  // namespace

std::string node_key(const std::string& prefix, const std::string& node_id) {
    return prefix + nodes_dir + node_id;
}

std::string shard_key(const std::string& prefix, ShardId shard) {
    return prefix + shards_dir + std::to_string(shard.value);
}

// The cluster as one read of its keys showed it.
struct ShardOwnership::View {
    std::vector<std::string> nodes;         // registered node ids, sorted
    std::map<std::uint32_t, Entry> owners;  // shard -> its claim
};

ShardOwnership::ShardOwnership(OwnershipOptions options,
                               Loop& loop,
                               Coordination& coordination,
                               ShardFence& fence,
                               ShardHost& host)
    : options_(std::move(options)),
      loop_(loop),
      coordination_(coordination),
      fence_(fence),
      host_(host),
      shards_(options_.shard_count),
      serving_token_(options_.shard_count) {
    QRPAY_ASSERT(!options_.node_id.empty() && options_.shard_count > 0 &&
                     options_.lease_ttl.count() > 0 && options_.refresh_interval.count() > 0 &&
                     options_.stop_margin < options_.lease_ttl,
                 "ownership options out of range");
    for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
        serving_token_[shard].store(0);
    }
}

ShardOwnership::~ShardOwnership() = default;

void ShardOwnership::start() {
    loop_.post([this] {
        if (!started_) {
            started_ = true;
            tick();
        }
    });
}

void ShardOwnership::leave(std::function<void()> done) {
    loop_.post([this, done = std::move(done)]() mutable {
        leaving_ = true;
        left_ = std::move(done);
        // Unlisted first, so that the other nodes pick the new owners at once and claim each
        // shard as soon as it is released.
        if (registered_) {
            coordination_.delete_if_unchanged(node_key(options_.key_prefix, options_.node_id),
                                              registered_revision_, [](const Result<bool>&) {});
            registered_ = false;
        }
        for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
            if (shards_[shard].state == State::serving) {
                hand_off(ShardId(shard));
            }
        }
        maybe_finish_leave();
    });
}

bool ShardOwnership::may_serve(ShardId shard) const {
    return shard.value < options_.shard_count && serving_token_[shard.value].load() != 0 &&
           lease_live();
}

bool ShardOwnership::lease_live() const { return to_ns(loop_.now()) < serve_until_ns_.load(); }

FencingToken ShardOwnership::token_of(ShardId shard) const {
    return FencingToken(shard.value < options_.shard_count ? serving_token_[shard.value].load()
                                                           : 0);
}

template <class T>
Done<T> ShardOwnership::on_loop(std::function<void(Result<T>)> handler) {
    return [this, epoch = epoch_, handler = std::move(handler)](Result<T> result) mutable {
        loop_.post(
            [this, epoch, handler = std::move(handler), result = std::move(result)]() mutable {
                if (epoch == epoch_) {
                    handler(std::move(result));
                }
            });
    };
}

void ShardOwnership::tick() {
    const SteadyClock::time_point now = loop_.now();
    if (lease_ != 0 && now >= lease_valid_until_ - options_.stop_margin) {
        lose_lease("the lease was not renewed in time");
    }
    if (lease_ == 0) {
        if (!lease_pending_ && !(leaving_ && left_ == nullptr)) {
            grant_lease();
        }
    } else {
        if (!registered_ && !register_pending_ && !leaving_) {
            register_node();
        }
        if (now >= next_keep_alive_ && !keep_alive_pending_) {
            keep_alive();
        }
        if (!refresh_pending_) {
            refresh();
        }
    }
    loop_.run_after(options_.refresh_interval, [this] { tick(); });
}

void ShardOwnership::grant_lease() {
    lease_pending_ = true;
    const SteadyClock::time_point sent = loop_.now();
    coordination_.grant_lease(
        options_.lease_ttl, on_loop<LeaseId>([this, sent](const Result<LeaseId>& granted) {
            lease_pending_ = false;
            if (!granted.ok()) {
                return;  // the next tick asks again; a lease granted unseen expires alone
            }
            lease_ = *granted;
            lease_valid_until_ = sent + options_.lease_ttl;
            next_keep_alive_ = sent + options_.lease_ttl / 3;
            publish_deadline();
            register_node();
        }));
}

void ShardOwnership::keep_alive() {
    keep_alive_pending_ = true;
    const SteadyClock::time_point sent = loop_.now();
    coordination_.keep_alive(
        lease_, on_loop<std::chrono::milliseconds>(
                    [this, sent](const Result<std::chrono::milliseconds>& remaining) {
                        keep_alive_pending_ = false;
                        if (remaining.status().code() == Errc::not_found) {
                            lose_lease("the lease is gone from the store");
                            return;
                        }
                        if (!remaining.ok()) {
                            return;  // asked again at the next tick
                        }
                        // The store measured `remaining` after `sent`: the
                        // lease lives at least until sent + remaining.
                        lease_valid_until_ = std::max(lease_valid_until_, sent + *remaining);
                        next_keep_alive_ = sent + options_.lease_ttl / 3;
                        publish_deadline();
                    }));
}

void ShardOwnership::register_node() {
    register_pending_ = true;
    coordination_.put(node_key(options_.key_prefix, options_.node_id), options_.node_info, lease_,
                      on_loop<Revision>([this](const Result<Revision>& put) {
                          register_pending_ = false;
                          registered_ = put.ok();
                          registered_revision_ = put.ok() ? *put : 0;
                      }));
}

void ShardOwnership::refresh() {
    refresh_pending_ = true;
    coordination_.range_prefix(
        options_.key_prefix, on_loop<std::vector<Entry>>([this](Result<std::vector<Entry>> keys) {
            refresh_pending_ = false;
            if (!keys.ok()) {
                return;
            }
            View view;
            ClusterView published;
            published.shard_owners.resize(options_.shard_count);
            const std::string nodes = options_.key_prefix + nodes_dir;
            const std::string shards = options_.key_prefix + shards_dir;
            for (Entry& entry : *keys) {
                if (entry.key.starts_with(nodes)) {
                    view.nodes.push_back(entry.key.substr(nodes.size()));
                    published.nodes.push_back(
                        {.id = view.nodes.back(), .info = entry.value, .lease = entry.lease});
                } else if (entry.key.starts_with(shards)) {
                    const std::string_view number =
                        std::string_view(entry.key).substr(shards.size());
                    std::uint32_t shard = 0;
                    const auto [end, error] =
                        std::from_chars(number.data(), number.data() + number.size(), shard);
                    if (error == std::errc() && end == number.data() + number.size() &&
                        shard < options_.shard_count) {
                        published.shard_owners[shard] = entry.value;
                        view.owners[shard] = std::move(entry);
                    }  // a key this build does not know is none of its business
                }
            }
            std::sort(view.nodes.begin(), view.nodes.end());
            rebalance(view);
            if (view_listener_) {
                std::sort(published.nodes.begin(), published.nodes.end(),
                          [](const ClusterView::Node& a, const ClusterView::Node& b) {
                              return a.id < b.id;
                          });
                view_listener_(published);
            }
        }));
}

void ShardOwnership::rebalance(const View& view) {
    const bool listed = std::binary_search(view.nodes.begin(), view.nodes.end(), options_.node_id);
    if (!listed && registered_ && !register_pending_ && !leaving_) {
        registered_ = false;  // registered again at the next tick
    }
    for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
        rebalance_shard(ShardId(shard), view);
    }
    maybe_finish_leave();
}

void ShardOwnership::rebalance_shard(ShardId shard, const View& view) {
    Shard& state = shards_[shard.value];
    const auto owner = view.owners.find(shard.value);
    const Entry* current = owner == view.owners.end() ? nullptr : &owner->second;
    const bool mine =
        current != nullptr && current->value == options_.node_id && current->lease == lease_;
    const bool desired =
        !leaving_ && owner_by_rendezvous(shard, view.nodes) == std::string_view(options_.node_id);
    switch (state.state) {
        case State::free:
            if (mine && desired && current->create_revision != state.released_revision) {
                claimed(shard, current->create_revision);  // a claim whose answer was lost
            } else if (mine) {
                release(shard, current->mod_revision);
            } else if (current == nullptr && desired) {
                claim(shard);
            }
            return;
        case State::serving:
            if (!mine || current->create_revision != state.claim_revision) {
                stop_shard(shard, "its claim is gone from the store");
            } else if (!desired && !owner_by_rendezvous(shard, view.nodes).empty()) {
                hand_off(shard);
            }
            return;
        case State::claiming:
        case State::raising:
        case State::handing_off:
        case State::releasing:
            return;  // an answer is on its way
    }
}

void ShardOwnership::claim(ShardId shard) {
    shards_[shard.value].state = State::claiming;
    coordination_.create(shard_key(options_.key_prefix, shard), options_.node_id, lease_,
                         on_loop<CreateResult>([this, shard](const Result<CreateResult>& created) {
                             shards_[shard.value].state = State::free;
                             if (created.ok() && created->created) {
                                 claimed(shard, created->revision);
                             }
                             // Not created, or no answer: the next read of the keys shows
                             // whether the claim is this node's after all.
                         }));
}

void ShardOwnership::claimed(ShardId shard, Revision revision) {
    Shard& state = shards_[shard.value];
    state.claim_revision = revision;
    const FencingToken token(options_.token_base + static_cast<std::uint64_t>(revision));
    if (state.raised_revision == revision) {
        serve(shard, token);  // a claim adopted again (its release failed): raised already
        return;
    }
    state.state = State::raising;
    fence_.raise(shard, token, on_loop<bool>([this, shard, token](const Result<bool>& raised) {
                     Shard& now = shards_[shard.value];
                     if (now.state != State::raising) {
                         return;
                     }
                     now.state = State::free;
                     if (raised.ok()) {
                         now.raised_revision = now.claim_revision;
                         serve(shard, token);
                     } else if (raised.status().code() == Errc::fenced) {
                         QRPAY_LOG_WARN(
                             "cluster: shard %u: the journal's fence is above the "
                             "claim's token %llu; giving the claim back",
                             shard.value, static_cast<unsigned long long>(token.value));
                         release(shard, now.claim_revision);
                     }
                     // Any other failure: the claim stays; the next read adopts it again.
                 }));
}

void ShardOwnership::serve(ShardId shard, FencingToken token) {
    if (leaving_) {
        release(shard, shards_[shard.value].claim_revision);
        return;
    }
    shards_[shard.value].state = State::serving;
    serving_token_[shard.value].store(token.value);
    host_.serve(shard, token);
}

void ShardOwnership::hand_off(ShardId shard) {
    shards_[shard.value].state = State::handing_off;
    serving_token_[shard.value].store(0);
    const Revision revision = shards_[shard.value].claim_revision;
    auto drained = on_loop<bool>([this, shard, revision](const Result<bool>&) {
        if (shards_[shard.value].state == State::handing_off) {
            release(shard, revision);
        }
    });
    host_.hand_off(shard, [drained = std::move(drained)]() mutable { drained(true); });
}

// Deletes this node's claim of `shard` (created and never changed since at `mod_revision`).
void ShardOwnership::release(ShardId shard, Revision mod_revision) {
    shards_[shard.value].state = State::releasing;
    shards_[shard.value].released_revision = mod_revision;
    coordination_.delete_if_unchanged(shard_key(options_.key_prefix, shard), mod_revision,
                                      on_loop<bool>([this, shard](const Result<bool>&) {
                                          // Deleted, or not: the next read tells.
                                          shards_[shard.value].state = State::free;
                                          maybe_finish_leave();
                                      }));
}

void ShardOwnership::stop_shard(ShardId shard, const char* why) {
    QRPAY_LOG_WARN("cluster: shard %u stops here: %s", shard.value, why);
    serving_token_[shard.value].store(0);
    shards_[shard.value].state = State::free;
    host_.stop_serving(shard);
}

void ShardOwnership::lose_lease(const char* why) {
    QRPAY_LOG_WARN("cluster: node %s lost its lease: %s", options_.node_id.c_str(), why);
    if (lease_ != 0) {
        ++leases_lost_;
    }
    ++epoch_;  // answers to calls made under the lost lease are dropped
    serve_until_ns_.store(0);
    for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
        const State state = shards_[shard].state;
        if (state == State::serving || state == State::handing_off) {
            stop_shard(ShardId(shard), why);
        }
        shards_[shard] = Shard{};
    }
    lease_ = 0;
    lease_pending_ = registered_ = register_pending_ = false;
    keep_alive_pending_ = refresh_pending_ = false;
    maybe_finish_leave();
}

void ShardOwnership::maybe_finish_leave() {
    if (!leaving_ || left_ == nullptr) {
        return;
    }
    const bool settled = std::all_of(shards_.begin(), shards_.end(),
                                     [](const Shard& s) { return s.state == State::free; });
    if (!settled) {
        return;
    }
    std::function<void()> done = std::exchange(left_, nullptr);
    if (lease_ == 0) {
        done();
        return;
    }
    const LeaseId lease = std::exchange(lease_, 0);
    ++epoch_;
    serve_until_ns_.store(0);
    coordination_.revoke_lease(lease, [this, done = std::move(done)](const Result<bool>&) mutable {
        loop_.post(std::move(done));
    });
}

void ShardOwnership::publish_deadline() {
    serve_until_ns_.store(to_ns(lease_valid_until_ - options_.stop_margin));
}

}  // namespace qrpay::cluster
