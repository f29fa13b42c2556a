#pragma once
// The ownership protocol's world made of real parts: etcd as the Coordination store, the
// journal as the ShardFence, the runtime as the ShardHost, and an executor thread as the Loop.

#include <memory>

#include "base/clock.h"
#include "cluster/coordination.h"
#include "etcd/client.h"
#include "journal/journal.h"
#include "runtime/executor.h"
#include "runtime/runtime.h"

namespace qrpay::cluster {

// Coordination over an etcd client (etcd/client.h): the same calls, etcd's errors as they are.
class EtcdCoordination final : public Coordination {
public:
    // REQUIRES: `client` outlives this.
    explicit EtcdCoordination(etcd::Client& client) : client_(client) {}

    void grant_lease(std::chrono::seconds ttl, Done<LeaseId> done) override;
    void keep_alive(LeaseId lease, Done<std::chrono::milliseconds> done) override;
    void revoke_lease(LeaseId lease, Done<bool> done) override;
    void put(std::string key, std::string value, LeaseId lease, Done<Revision> done) override;
    void create(std::string key,
                std::string value,
                LeaseId lease,
                Done<CreateResult> done) override;
    void delete_if_unchanged(std::string key, Revision mod_revision, Done<bool> done) override;
    void range_prefix(std::string prefix, Done<std::vector<Entry>> done) override;

private:
    etcd::Client& client_;
};

// ShardFence over Journal::claim_shard, which blocks: each raise runs on `io`, never on the
// protocol's Loop.
class JournalFence final : public ShardFence {
public:
    // REQUIRES: `journal` and `io` (started) outlive this.
    JournalFence(journal::Journal& journal, runtime::Executor& io) : journal_(journal), io_(io) {}
    void raise(ShardId shard, FencingToken token, Done<bool> done) override;

private:
    journal::Journal& journal_;
    runtime::Executor& io_;
};

// ShardHost over the runtime's shard ownership (Runtime::serve_shard and the rest).
class RuntimeShardHost final : public ShardHost {
public:
    // REQUIRES: `runtime` (started) outlives this.
    explicit RuntimeShardHost(runtime::Runtime& runtime) : runtime_(runtime) {}
    void serve(ShardId shard, FencingToken token) override { runtime_.serve_shard(shard, token); }
    void stop_serving(ShardId shard) override { runtime_.stop_shard(shard); }
    void hand_off(ShardId shard, std::function<void()> drained) override {
        runtime_.hand_off_shard(shard, std::move(drained));
    }

private:
    runtime::Runtime& runtime_;
};

// A Loop on an executor's thread, its time the clock's.
class ExecutorLoop final : public Loop {
public:
    // REQUIRES: `executor` (started) and `clock` outlive this.
    ExecutorLoop(runtime::Executor& executor, const Clock& clock)
        : executor_(executor), clock_(clock) {}
    [[nodiscard]] std::chrono::steady_clock::time_point now() const override {
        return clock_.monotonic_now();
    }
    void post(std::function<void()> task) override { executor_.post_admitted(std::move(task)); }
    void run_after(std::chrono::milliseconds delay, std::function<void()> task) override {
        executor_.post_at(clock_.monotonic_now() + delay, std::move(task));
    }

private:
    runtime::Executor& executor_;
    const Clock& clock_;
};

}  // namespace qrpay::cluster
