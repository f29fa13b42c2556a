#pragma once
// A journal spread over several journals (partitions) by shard range: shards
// [i * shard_count / N, (i + 1) * shard_count / N) live in partition i, so every shard's events,
// offsets, fencing token and wake-ups stay in one database and each partition keeps the
// contract for its shards on its own. Used with one PostgreSQL database per partition
// (`qrpay serve --journal URL1,URL2,...`); the mapping itself is checked by the caller against
// what each partition stored (postgres/pg_schema.h, check_partition_map).
//
// Entity-level calls (read_events, highest_seq, snapshots) carry a persistence id, not a shard:
// `shard_of` maps one to its shard (the runtime's function), so each goes to one partition.
// Without it, they ask every partition (the entity's events are in exactly one). Key claims
// live in the partition of the claiming append: find_key_claim asks every partition.
//
// Thread safety: as Journal; the partitions must be thread-safe journals.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "journal/journal.h"

namespace qrpay::journal {

using ShardOf = std::function<ShardId(const std::string& persistence_id)>;

// The partition of `shard` among `partition_count` over `shard_count` shards.
std::size_t partition_of(ShardId shard, std::uint32_t shard_count, std::size_t partition_count);

// REQUIRES: at least one partition, shard_count >= partitions.size(). `shard_of` may be empty.
std::unique_ptr<Journal> make_partitioned_journal(std::vector<std::unique_ptr<Journal>> partitions,
                                                  std::uint32_t shard_count,
                                                  ShardOf shard_of);

// The journals `journal` spreads over when make_partitioned_journal() made it; else `journal`
// itself. The pointers live as long as `journal`.
std::vector<const Journal*> partitions_of(const Journal& journal);

}  // namespace qrpay::journal
