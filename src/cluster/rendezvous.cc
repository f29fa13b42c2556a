#include "cluster/rendezvous.h"

#include <cstdint>

#include "base/hash.h"

namespace qrpay::cluster {

namespace {

// A stable weight of (node, shard): FNV-1a of the node id and the shard, mixed once more so
// that neighbouring shards do not order the nodes alike.
std::uint64_t weight(std::string_view node, ShardId shard) {
    std::uint64_t hash = stable_hash64(node) ^ (0x9e3779b97f4a7c15ULL * (shard.value + 1ULL));
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    return hash;
}

}  // namespace

std::string_view owner_by_rendezvous(ShardId shard, std::span<const std::string> nodes) {
    std::string_view best;
    std::uint64_t best_weight = 0;
    for (const std::string& node : nodes) {
        const std::uint64_t w = weight(node, shard);
        if (best.empty() || w > best_weight || (w == best_weight && node < best)) {
            best = node;
            best_weight = w;
        }
    }
    return best;
}

}  // namespace qrpay::cluster
