#pragma once
// A cluster's definition: what every node of it must agree on, stored once in the
// coordination store by `qrpay cluster init` and checked by each node at start. A node whose
// own flags say otherwise refuses to start rather than place shards differently.

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "etcd/client.h"

namespace qrpay::cluster {

struct ClusterDefinition {
    std::uint32_t shard_count = 64;
    // The journal's partitions in order, each as its URL without a password.
    std::vector<std::string> partitions;
    // Added to a claim's revision to make its fencing token: at least the highest fence the
    // journal held when the cluster was made (a single node's tokens count up from 1).
    std::uint64_t token_base = 0;

    bool operator==(const ClusterDefinition&) const = default;
};

inline constexpr std::int64_t definition_version = 1;

// The cluster's keys live under "/qrpay/<name>/"; invalid_argument for a name that is empty,
// longer than 64 bytes or not [a-z0-9-].
Result<std::string> cluster_prefix(const std::string& name);
std::string definition_key(const std::string& prefix);

// `url` without its password (postgresql://user:secret@host/db -> postgresql://user@host/db;
// also a "password=..." parameter): partitions are compared, and shown, without secrets.
std::string without_password(const std::string& url);

std::string encode_definition(const ClusterDefinition& definition);
// corruption for bytes that are no definition of this version.
Result<ClusterDefinition> decode_definition(const std::string& bytes);

// Whether `flags` (a node's shard count and partitions) agree with `stored`; invalid_argument
// naming both when not. Only shard_count and partitions are compared.
Status check_agrees(const ClusterDefinition& stored, const ClusterDefinition& flags);

// Stores `definition` under `prefix` unless one is there. The one that is there when it
// agrees (check_agrees), conflict naming both when it does not. Blocks.
Result<ClusterDefinition> store_definition(etcd::Client& client,
                                           const std::string& prefix,
                                           const ClusterDefinition& definition);
// The stored definition; not_found when the cluster was never initialised. Blocks.
Result<ClusterDefinition> load_definition(etcd::Client& client, const std::string& prefix);

}  // namespace qrpay::cluster
