#pragma once
// Which live node a shard belongs to: rendezvous (highest random weight) hashing. Every node
// computes the same answer from the same member list, and a node joining or leaving moves
// only the shards it wins or held (about 1/N of them), none between the others.

#include <span>
#include <string>
#include <string_view>

#include "base/strong_types.h"

namespace qrpay::cluster {

// The node of `nodes` with the highest weight for `shard`; "" when `nodes` is empty.
std::string_view owner_by_rendezvous(ShardId shard, std::span<const std::string> nodes);

}  // namespace qrpay::cluster
