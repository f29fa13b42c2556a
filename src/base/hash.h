#pragma once
// Stable hashing: the same input gives the same value on every machine and every version,
// because shard placement and stored data depend on it. Never std::hash for these.

#include <cstdint>
#include <string_view>

#include "base/strong_types.h"

namespace qrpay {

// FNV-1a, 64 bits.
constexpr std::uint64_t stable_hash64(std::string_view bytes) {
    std::uint64_t hash = 14695981039346656037ULL;
    for (char c : bytes) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ULL;
    }
    return hash;
}

constexpr ShardId shard_of(std::string_view entity_id, std::uint32_t shard_count) {
    return ShardId(static_cast<std::uint32_t>(stable_hash64(entity_id) % shard_count));
}

static_assert(stable_hash64("") == 14695981039346656037ULL);
static_assert(stable_hash64("a") == 0xaf63dc4c8601ec8cULL);

}  // namespace qrpay
