// Rendezvous hashing: every node computes the same owners, and a join or a leave moves only the
// shards the new node wins or the old one held.

#include "cluster/rendezvous.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace qrpay::cluster {
namespace {

constexpr std::uint32_t shard_count = 256;

std::vector<std::string> owners(const std::vector<std::string>& nodes) {
    std::vector<std::string> result;
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        result.emplace_back(owner_by_rendezvous(ShardId(shard), nodes));
    }
    return result;
}

TEST(Rendezvous, NoNodesNoOwner) { EXPECT_EQ(owner_by_rendezvous(ShardId(3), {}), ""); }

TEST(Rendezvous, TheOrderOfTheListChangesNothing) {
    EXPECT_EQ(owners({"a", "b", "c"}), owners({"c", "a", "b"}));
}

TEST(Rendezvous, AJoinMovesOnlyTheShardsTheNewNodeWinsAndSpreadsThemFairly) {
    const std::vector<std::string> before = owners({"a", "b", "c"});
    const std::vector<std::string> after = owners({"a", "b", "c", "d"});
    int moved = 0;
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        if (before[shard] != after[shard]) {
            EXPECT_EQ(after[shard], "d") << "shard " << shard << " moved between old nodes";
            ++moved;
        }
    }
    // About a quarter; far from none and from all.
    EXPECT_GT(moved, shard_count / 8);
    EXPECT_LT(moved, shard_count / 2);
}

TEST(Rendezvous, ALeaveMovesOnlyTheLeaversShards) {
    const std::vector<std::string> before = owners({"a", "b", "c"});
    const std::vector<std::string> after = owners({"a", "c"});
    for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
        if (before[shard] != "b") {
            EXPECT_EQ(before[shard], after[shard]) << "shard " << shard;
        } else {
            EXPECT_NE(after[shard], "b");
        }
    }
}

}  // namespace
}  // namespace qrpay::cluster
