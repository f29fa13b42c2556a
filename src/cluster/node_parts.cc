#include "cluster/node_parts.h"

#include <utility>

namespace qrpay::cluster {

namespace {

Entry entry_of(etcd::KeyValue kv) {
    return {std::move(kv.key), std::move(kv.value), kv.create_revision, kv.mod_revision, kv.lease};
}

}  // namespace

void EtcdCoordination::grant_lease(std::chrono::seconds ttl, Done<LeaseId> done) {
    client_.grant_lease(ttl, [done = std::move(done)](Result<etcd::Lease> lease) {
        done(lease.ok() ? Result<LeaseId>(lease->id) : Result<LeaseId>(lease.status()));
    });
}

void EtcdCoordination::keep_alive(LeaseId lease, Done<std::chrono::milliseconds> done) {
    client_.keep_alive(lease, [done = std::move(done)](Result<std::chrono::seconds> ttl) {
        done(ttl.ok() ? Result<std::chrono::milliseconds>(*ttl)
                      : Result<std::chrono::milliseconds>(ttl.status()));
    });
}

void EtcdCoordination::revoke_lease(LeaseId lease, Done<bool> done) {
    client_.revoke_lease(lease, [done = std::move(done)](const Status& revoked) {
        done(revoked.ok() ? Result<bool>(true) : Result<bool>(revoked));
    });
}

void EtcdCoordination::put(std::string key, std::string value, LeaseId lease, Done<Revision> done) {
    client_.put(std::move(key), std::move(value), lease, std::move(done));
}

void EtcdCoordination::create(std::string key,
                              std::string value,
                              LeaseId lease,
                              Done<CreateResult> done) {
    client_.create(std::move(key), std::move(value), lease,
                   [done = std::move(done)](Result<etcd::CreateResult> created) {
                       if (!created.ok()) {
                           done(created.status());
                           return;
                       }
                       CreateResult result{created->created, created->revision, std::nullopt};
                       if (created->existing) {
                           result.existing = entry_of(std::move(*created->existing));
                       }
                       done(std::move(result));
                   });
}

void EtcdCoordination::delete_if_unchanged(std::string key,
                                           Revision mod_revision,
                                           Done<bool> done) {
    client_.delete_if_unchanged(std::move(key), mod_revision, std::move(done));
}

void EtcdCoordination::range_prefix(std::string prefix, Done<std::vector<Entry>> done) {
    client_.range_prefix(std::move(prefix),
                         [done = std::move(done)](Result<etcd::RangeResult> range) {
                             if (!range.ok()) {
                                 done(range.status());
                                 return;
                             }
                             std::vector<Entry> entries;
                             entries.reserve(range->kvs.size());
                             for (etcd::KeyValue& kv : range->kvs) {
                                 entries.push_back(entry_of(std::move(kv)));
                             }
                             done(std::move(entries));
                         });
}

void JournalFence::raise(ShardId shard, FencingToken token, Done<bool> done) {
    io_.post_admitted([this, shard, token, done = std::move(done)] {
        Status raised = journal_.claim_shard(shard, token);
        if (raised.code() == Errc::fenced) {
            // Already at this token: this claim's earlier raise, whose answer was lost.
            Result<FencingToken> current = journal_.current_fencing(shard);
            if (current.ok() && *current == token) {
                raised = Status();
            }
        }
        done(raised.ok() ? Result<bool>(true) : Result<bool>(raised));
    });
}

}  // namespace qrpay::cluster
