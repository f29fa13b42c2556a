// The writer's HighestSeqCache on its own: staged and committed tips, its bound, and which
// entries it keeps.

#include "journal/highest_seq_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace qrpay::journal {
namespace {

EntityTip tip_at(std::uint64_t seq) {
    return {.highest_seq = SequenceNr(seq),
            .fencing = FencingToken(7),
            .shard = ShardId(3),
            .wakeup = WakeupRow::absent};
}

std::string id_of(std::size_t entity) { return "cache|" + std::to_string(entity); }

// One pass that stages `seq` for `id` and commits.
void commit_tip(HighestSeqCache& cache, const std::string& id, std::uint64_t seq) {
    cache.begin_pass();
    if (EntitySlot* slot = cache.slot(id)) {
        cache.stage(*slot, tip_at(seq));
    }
    cache.publish_staged();
}

std::optional<EntityTip> committed_of(HighestSeqCache& cache, const std::string& id) {
    cache.begin_pass();
    EntitySlot* slot = cache.slot(id);
    return slot == nullptr ? std::nullopt : slot->committed;
}

TEST(HighestSeqCacheTest, StagedTipsCountOnlyOncePublished) {
    HighestSeqCache cache(16);
    cache.begin_pass();
    EntitySlot* slot = cache.slot("cache|a");
    ASSERT_NE(slot, nullptr);
    EXPECT_FALSE(slot->committed.has_value());
    cache.stage(*slot, tip_at(4));
    EXPECT_EQ(slot->staged->highest_seq, SequenceNr(4));
    cache.begin_pass();  // the pass was abandoned: its staged tip goes
    slot = cache.slot("cache|a");
    ASSERT_NE(slot, nullptr);
    EXPECT_FALSE(slot->staged.has_value());
    EXPECT_FALSE(slot->committed.has_value());

    commit_tip(cache, "cache|a", 5);
    std::optional<EntityTip> committed = committed_of(cache, "cache|a");
    ASSERT_TRUE(committed.has_value());
    EXPECT_EQ(committed->highest_seq, SequenceNr(5));
    EXPECT_EQ(committed->fencing, FencingToken(7));
    EXPECT_EQ(committed->shard, ShardId(3));
    EXPECT_EQ(committed->wakeup, WakeupRow::absent);
}

TEST(HighestSeqCacheTest, FailedCommitForgetsEveryStagedEntity) {
    HighestSeqCache cache(16);
    commit_tip(cache, "cache|a", 2);
    commit_tip(cache, "cache|b", 3);
    cache.begin_pass();
    cache.stage(*cache.slot("cache|a"), tip_at(3));
    cache.forget_staged();
    EXPECT_FALSE(committed_of(cache, "cache|a").has_value()) << "maybe stored, maybe not";
    ASSERT_TRUE(committed_of(cache, "cache|b").has_value()) << "not in the failed pass";
    cache.forget("cache|b");
    EXPECT_FALSE(committed_of(cache, "cache|b").has_value());
}

TEST(HighestSeqCacheTest, NeverHoldsMoreThanEntriesMax) {
    constexpr std::size_t entries_max = 64;
    HighestSeqCache cache(entries_max);
    for (std::size_t entity = 0; entity < 10 * entries_max; ++entity) {
        commit_tip(cache, id_of(entity), entity + 1);
        ASSERT_LE(cache.size(), entries_max) << "after " << entity + 1 << " entities";
    }
    EXPECT_GE(cache.size(), entries_max / 2) << "a full young generation survives ageing";
    std::optional<EntityTip> newest = committed_of(cache, id_of(10 * entries_max - 1));
    ASSERT_TRUE(newest.has_value());
    EXPECT_EQ(newest->highest_seq, SequenceNr(10 * entries_max));
    EXPECT_FALSE(committed_of(cache, id_of(0)).has_value()) << "the oldest entry went first";
}

// Within one pass the bound holds too: once the young generation is full, new entities get no
// slot (they are not remembered) while known ones keep theirs.
TEST(HighestSeqCacheTest, APassBeyondTheBoundLeavesNewEntitiesOut) {
    constexpr std::size_t entries_max = 8;
    HighestSeqCache cache(entries_max);
    commit_tip(cache, "cache|known", 1);
    cache.begin_pass();
    std::size_t without_slot = 0;
    for (std::size_t entity = 0; entity < 3 * entries_max; ++entity) {
        EntitySlot* slot = cache.slot(id_of(entity));
        without_slot += slot == nullptr ? 1 : 0;
        ASSERT_LE(cache.size(), entries_max);
    }
    EXPECT_GT(without_slot, 0U);
    EXPECT_NE(cache.slot("cache|known"), nullptr);
}

// An entry used again moves to the young generation, so an entity appended to regularly stays
// while entries nobody asks for age out.
TEST(HighestSeqCacheTest, KeepsEntriesInUse) {
    constexpr std::size_t entries_max = 8;
    HighestSeqCache cache(entries_max);
    commit_tip(cache, "cache|hot", 1);
    for (std::size_t entity = 0; entity < 100; ++entity) {
        commit_tip(cache, id_of(entity), 1);
        ASSERT_TRUE(committed_of(cache, "cache|hot").has_value()) << "lost after " << entity;
        ASSERT_LE(cache.size(), entries_max);
    }
}

TEST(HighestSeqCacheTest, BelowTwoEntriesItHoldsNothing) {
    for (std::size_t entries_max : {0U, 1U}) {
        HighestSeqCache cache(entries_max);
        cache.begin_pass();
        EXPECT_EQ(cache.slot("cache|a"), nullptr) << entries_max;
        EXPECT_EQ(cache.size(), 0U);
    }
}

}  // namespace
}  // namespace qrpay::journal
