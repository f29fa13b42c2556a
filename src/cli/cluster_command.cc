#include "cli/cluster_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "cli/journal_open.h"
#include "cluster/definition.h"
#include "cluster/haproxy.h"
#include "etcd/client.h"
#include "http/message.h"
#include "sql/connection.h"

namespace qrpay::cli {

namespace {

// The highest fencing token any shard of the journal holds.
Result<std::uint64_t> highest_fence(const ClusterConfig& config) {
    JournalChoice choice;
    choice.url = config.journal_url;
    choice.shard_count = config.shard_count;
    choice.connect_wait = std::chrono::seconds(10);
    Result<std::unique_ptr<journal::Journal>> journal = open_journal(choice);
    if (!journal.ok()) {
        return journal.status();
    }
    std::uint64_t highest = 0;
    for (std::uint32_t shard = 0; shard < config.shard_count; ++shard) {
        Result<FencingToken> fence = (*journal)->current_fencing(ShardId(shard));
        if (!fence.ok()) {
            return fence.status();
        }
        highest = std::max(highest, fence->value);
    }
    return highest;
}

int fail(const ClusterConfig& config, const Status& status) {
    std::fprintf(stderr, "qrpay cluster %s: %s\n", config.command.c_str(),
                 status.to_string().c_str());
    return status.code() == Errc::invalid_argument ? 2 : 1;
}

int run_haproxy_config(const ClusterConfig& config, const std::string& prefix) {
    if (auto listen = http::parse_host_port(config.haproxy_listen); !listen.ok()) {
        return fail(config, {Errc::invalid_argument, "--listen: " + listen.status().message()});
    }
    Result<std::unique_ptr<etcd::Client>> client = etcd::Client::open({.endpoints = config.etcd});
    if (!client.ok()) {
        return fail(config, client.status());
    }
    Result<std::vector<cluster::NodeAddresses>> nodes = cluster::registered_nodes(**client, prefix);
    if (!nodes.ok()) {
        return fail(config, nodes.status());
    }
    if (nodes->empty()) {
        return fail(config, {Errc::not_found, "no node of cluster \"" + config.name +
                                                  "\" is registered now: start them first"});
    }
    std::fputs(cluster::haproxy_config(
                   *nodes, {.listen = config.haproxy_listen, .stats_socket = config.stats_socket})
                   .c_str(),
               stdout);
    return 0;
}

}  // namespace

void add_cluster(CLI::App& root, ClusterConfig& config) {
    CLI::App* cluster = root.add_subcommand("cluster", "a cluster of qrpay nodes");
    CLI::App* init = cluster->add_subcommand(
        "init", "store the cluster's definition (shards, journal partitions) in etcd, once");
    init->add_option("--etcd", config.etcd, "etcd client URLs, comma-separated")->required();
    init->add_option("--name", config.name, "the cluster's name: its keys live under /qrpay/NAME/");
    init->add_option("--shards,--shard-count", config.shard_count,
                     "shards, fixed for the cluster's life")
        ->check(CLI::Range(1U, 65'536U));
    init->add_option("--journal", config.journal_url,
                     "postgresql:// URL of each journal partition, comma-separated")
        ->required();
    init->final_callback([&config] { config.command = "init"; });
    CLI::App* haproxy = cluster->add_subcommand(
        "haproxy-config", "print an haproxy.cfg for the nodes registered in etcd now");
    haproxy->add_option("--etcd", config.etcd, "etcd client URLs, comma-separated")->required();
    haproxy->add_option("--name", config.name, "the cluster's name");
    haproxy->add_option("--listen", config.haproxy_listen, "where HAProxy takes requests");
    haproxy->add_option("--stats-socket", config.stats_socket,
                        "the path of HAProxy's runtime API socket (none when empty)");
    haproxy->final_callback([&config] { config.command = "haproxy-config"; });
    cluster->require_subcommand(1);
}

int run_cluster(const ClusterConfig& config) {
    Result<std::string> prefix = cluster::cluster_prefix(config.name);
    if (!prefix.ok()) {
        return fail(config, prefix.status());
    }
    if (config.command == "haproxy-config") {
        return run_haproxy_config(config, *prefix);
    }
    cluster::ClusterDefinition definition;
    definition.shard_count = config.shard_count;
    for (const std::string& url : split_journal_urls(config.journal_url)) {
        if (!sql::is_postgres_url(url)) {
            return fail(config, {Errc::invalid_argument, "--journal takes postgresql:// URLs"});
        }
        definition.partitions.push_back(cluster::without_password(url));
    }
    Result<std::unique_ptr<etcd::Client>> client = etcd::Client::open({.endpoints = config.etcd});
    if (!client.ok()) {
        return fail(config, client.status());
    }
    Result<std::uint64_t> base = highest_fence(config);
    if (!base.ok()) {
        return fail(config, base.status());
    }
    definition.token_base = *base;
    Result<cluster::ClusterDefinition> stored =
        cluster::store_definition(**client, *prefix, definition);
    if (!stored.ok()) {
        return fail(config, stored.status());
    }
    std::printf(
        "cluster \"%s\": %u shards over %zu journal partition(s), fencing tokens above "
        "%llu\n",
        config.name.c_str(), stored->shard_count, stored->partitions.size(),
        static_cast<unsigned long long>(stored->token_base));
    return 0;
}

}  // namespace qrpay::cli
