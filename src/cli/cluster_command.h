#pragma once
// `qrpay cluster init --etcd URL[,URL...] --shards N --journal URL[,URL...] [--name NAME]`:
// stores the cluster's definition (cluster/definition.h) in etcd once. Its token base is the
// highest fencing token the journal holds now, so that every claim's token is above anything a
// single node wrote before. Exit codes: 0 stored, or stored before with the same definition;
// 1 a failure (etcd or the journal unreachable, initialised differently); 2 bad flags.
//
// `qrpay cluster haproxy-config --etcd URL[,URL...] [--name NAME] [--listen HOST:PORT]
// [--stats-socket PATH]`: prints an haproxy.cfg for the nodes registered now
// (cluster/haproxy.h). Exit codes: 0 printed; 1 etcd unreachable or no node registered; 2 bad
// flags.

#include <cstdint>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace qrpay::cli {

struct ClusterConfig {
    std::string command;  // "init" or "haproxy-config": the subcommand given
    std::string etcd;
    std::string name = "default";
    std::uint32_t shard_count = 64;
    std::string journal_url;
    std::string haproxy_listen = "127.0.0.1:8080";
    std::string stats_socket;
};

void add_cluster(CLI::App& root, ClusterConfig& config);
int run_cluster(const ClusterConfig& config);

}  // namespace qrpay::cli
