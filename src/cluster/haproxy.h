#pragma once
// HAProxy in front of a cluster: the nodes registered in etcd now, and an haproxy.cfg that
// spreads requests over their API listeners and takes a node out of rotation while its
// `/readyz` (on its admin listener) is red: not joined yet, holding no lease, or leaving
// (`serve` turns it red on SIGTERM before it hands its shards over, and waits --drain-wait so
// that HAProxy has seen it before the listener closes). A connection refused is tried once on
// another node (`option redispatch`); a request already sent is never repeated by HAProxy.

#include <string>
#include <vector>

#include "base/status.h"
#include "etcd/client.h"

namespace qrpay::cluster {

struct NodeAddresses {
    std::string id;
    std::string listen;  // the API listener, host:port
    std::string admin;   // the admin listener (/readyz), host:port
};

// The nodes registered under the cluster's `prefix` now, sorted by id; a registration without
// both addresses (a node of an older version) is left out. etcd's error when it cannot be read.
Result<std::vector<NodeAddresses>> registered_nodes(etcd::Client& client,
                                                    const std::string& prefix);

struct HaproxyOptions {
    std::string listen = "127.0.0.1:8080";  // where HAProxy takes the clients' requests
    std::string stats_socket;               // the runtime API's socket path; "" for none
};

// REQUIRES: at least one node.
std::string haproxy_config(const std::vector<NodeAddresses>& nodes, const HaproxyOptions& options);

}  // namespace qrpay::cluster
