#pragma once
// The values etcd's key-value and lease API answers with, as etcd names them. Plain values;
// copy or move them freely between threads.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qrpay::etcd {

// A key as etcd holds it. Revisions are etcd's store revisions (> 0); lease 0 is none.
struct KeyValue {
    std::string key;
    std::string value;
    std::int64_t create_revision = 0;  // the revision of the write that created it
    std::int64_t mod_revision = 0;     // the revision of its last write
    std::int64_t lease = 0;
};

struct Lease {
    std::int64_t id = 0;         // > 0
    std::chrono::seconds ttl{};  // as granted: etcd raises a TTL below its minimum
};

struct CreateResult {
    bool created = false;
    // The store's revision after the call: when created, the key's create_revision.
    std::int64_t revision = 0;
    // When not created: the key as it is (the one that was there first).
    std::optional<KeyValue> existing;
};

struct RangeResult {
    std::int64_t revision = 0;  // the store's revision the range was read at
    std::vector<KeyValue> kvs;  // sorted by key (bytewise), each key once
};

}  // namespace qrpay::etcd
