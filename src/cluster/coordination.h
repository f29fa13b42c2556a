#pragma once
// What the ownership protocol (ownership.h) needs from the world around it, as small
// interfaces, so that a seeded single-threaded simulation (sim/) drives the same code as a
// node does with etcd, PostgreSQL and its own threads:
//
//   Coordination  a linearizable store with leases: etcd (node_parts.h)
//   ShardFence    the journal's per-shard fencing token (Journal::claim_shard)
//   ShardHost     the runtime that serves a shard's entities
//   Loop          the one thread the protocol runs on, with its monotonic clock
//
// Every callback runs exactly once. Coordination and ShardFence may call back on any thread;
// the protocol moves each answer onto its Loop before it looks at it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/strong_types.h"

namespace qrpay::cluster {

using LeaseId = std::int64_t;
using Revision = std::int64_t;

// A key as the store holds it.
struct Entry {
    std::string key;
    std::string value;
    Revision create_revision = 0;
    Revision mod_revision = 0;
    LeaseId lease = 0;  // 0: none
};

struct CreateResult {
    bool created = false;
    Revision revision = 0;          // the store's revision after the call
    std::optional<Entry> existing;  // when not created: the key as it is
};

template <class T>
using Done = std::function<void(Result<T>)>;

// Errors: unavailable (surely not applied), timeout / unknown_outcome (maybe applied),
// not_found (a lease that is gone).
class Coordination {
public:
    virtual ~Coordination() = default;
    virtual void grant_lease(std::chrono::seconds ttl, Done<LeaseId> done) = 0;
    // The lease's remaining time to live as the store saw it.
    virtual void keep_alive(LeaseId lease, Done<std::chrono::milliseconds> done) = 0;
    virtual void revoke_lease(LeaseId lease, Done<bool> done) = 0;
    virtual void put(std::string key, std::string value, LeaseId lease, Done<Revision> done) = 0;
    // Creates `key` only if it is absent.
    virtual void create(std::string key,
                        std::string value,
                        LeaseId lease,
                        Done<CreateResult> done) = 0;
    // Deletes `key` only while its mod_revision is `mod_revision`; true when deleted.
    virtual void delete_if_unchanged(std::string key, Revision mod_revision, Done<bool> done) = 0;
    // Every key under `prefix`, sorted by key.
    virtual void range_prefix(std::string prefix, Done<std::vector<Entry>> done) = 0;
};

// Raises the journal's fence of a shard to `token`: from then on the journal refuses appends
// under any lower token. A fence already at `token` is a success (tokens are unique to a
// claim, so it is this claim's earlier raise whose answer was lost); fenced when the fence is
// above `token`.
class ShardFence {
public:
    virtual ~ShardFence() = default;
    virtual void raise(ShardId shard, FencingToken token, Done<bool> done) = 0;
};

// The runtime side of a shard. Called on the Loop; must not block.
class ShardHost {
public:
    virtual ~ShardHost() = default;
    // From now on the shard's entities run here, their appends under `token`.
    virtual void serve(ShardId shard, FencingToken token) = 0;
    // The claim is lost: stop at once (commands in flight are answered unavailable; their
    // appends, if any land, are fenced by the journal once the next owner raised the fence).
    virtual void stop_serving(ShardId shard) = 0;
    // A planned move: take no new command, finish those in flight and their appends,
    // passivate, then call `drained` (on any thread).
    virtual void hand_off(ShardId shard, std::function<void()> drained) = 0;
};

class Loop {
public:
    virtual ~Loop() = default;
    [[nodiscard]] virtual std::chrono::steady_clock::time_point now() const = 0;
    // Any thread.
    virtual void post(std::function<void()> task) = 0;
    virtual void run_after(std::chrono::milliseconds delay, std::function<void()> task) = 0;
};

}  // namespace qrpay::cluster
