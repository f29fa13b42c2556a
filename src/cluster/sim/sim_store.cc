#include "cluster/sim/sim_store.h"

namespace qrpay::cluster::sim {

LeaseId SimStore::grant_lease(SimTime now, std::chrono::seconds ttl) {
    expire(now);
    const LeaseId lease = ++next_lease_;
    leases_[lease] = {now + ttl, ttl};
    return lease;
}

Result<milliseconds> SimStore::keep_alive(SimTime now, LeaseId lease) {
    expire(now);
    auto found = leases_.find(lease);
    if (found == leases_.end()) {
        return Status(Errc::not_found, "lease not found");
    }
    found->second.expires_at = now + found->second.ttl;
    return milliseconds(found->second.ttl);
}

bool SimStore::revoke_lease(SimTime now, LeaseId lease) {
    expire(now);
    if (!leases_.contains(lease)) {
        return false;
    }
    remove_lease(lease);
    return true;
}

Result<Revision> SimStore::put(SimTime now,
                               const std::string& key,
                               const std::string& value,
                               LeaseId lease) {
    expire(now);
    if (lease != 0 && !leases_.contains(lease)) {
        return Status(Errc::not_found, "lease not found");
    }
    Entry& entry = keys_[key];
    ++revision_;
    if (entry.create_revision == 0) {
        entry.create_revision = revision_;
    }
    entry = {key, value, entry.create_revision, revision_, lease};
    return revision_;
}

Result<CreateResult> SimStore::create(SimTime now,
                                      const std::string& key,
                                      const std::string& value,
                                      LeaseId lease) {
    expire(now);
    if (auto found = keys_.find(key); found != keys_.end()) {
        return CreateResult{false, revision_, found->second};
    }
    Result<Revision> put_at = put(now, key, value, lease);
    if (!put_at.ok()) {
        return put_at.status();
    }
    return CreateResult{true, *put_at, std::nullopt};
}

bool SimStore::delete_if_unchanged(SimTime now, const std::string& key, Revision mod_revision) {
    expire(now);
    auto found = keys_.find(key);
    if (found == keys_.end() || found->second.mod_revision != mod_revision) {
        return false;
    }
    keys_.erase(found);
    ++revision_;
    return true;
}

std::vector<Entry> SimStore::range_prefix(SimTime now, const std::string& prefix) {
    expire(now);
    std::vector<Entry> entries;
    for (auto it = keys_.lower_bound(prefix); it != keys_.end() && it->first.starts_with(prefix);
         ++it) {
        entries.push_back(it->second);
    }
    return entries;
}

void SimStore::expire(SimTime now) {
    std::vector<LeaseId> expired;
    for (const auto& [lease, state] : leases_) {
        if (state.expires_at <= now) {
            expired.push_back(lease);
        }
    }
    for (LeaseId lease : expired) {
        remove_lease(lease);
    }
}

const Entry* SimStore::find(SimTime now, const std::string& key) {
    expire(now);
    auto found = keys_.find(key);
    return found == keys_.end() ? nullptr : &found->second;
}

bool SimStore::lease_alive(SimTime now, LeaseId lease) {
    expire(now);
    return leases_.contains(lease);
}

void SimStore::remove_lease(LeaseId lease) {
    leases_.erase(lease);
    bool removed = false;
    for (auto it = keys_.begin(); it != keys_.end();) {
        if (it->second.lease == lease) {
            it = keys_.erase(it);
            removed = true;
        } else {
            ++it;
        }
    }
    revision_ += removed ? 1 : 0;
}

Status SimJournal::raise(ShardId shard, FencingToken token, int node) {
    Fence& fence = fences_[shard.value];
    if (token == fence.token && node == fence.holder) {
        return {};  // the same claim again (an earlier answer was lost)
    }
    if (token <= fence.token) {
        return {Errc::fenced, "the fence is already at " + std::to_string(fence.token.value)};
    }
    fence = {token, node};
    return {};
}

Status SimJournal::append(ShardId shard, FencingToken token, int node) {
    const Fence& fence = fences_[shard.value];
    if (token != fence.token) {
        ++fenced_;
        return {Errc::fenced, "stale fencing token"};
    }
    accepted_.push_back({shard, token, node});
    return {};
}

FencingToken SimJournal::fence(ShardId shard) const {
    auto found = fences_.find(shard.value);
    return found == fences_.end() ? FencingToken(0) : found->second.token;
}

int SimJournal::fence_holder(ShardId shard) const {
    auto found = fences_.find(shard.value);
    return found == fences_.end() ? -1 : found->second.holder;
}

}  // namespace qrpay::cluster::sim
