#include "cluster/haproxy.h"

#include <nlohmann/json.hpp>

#include "base/assert.h"
#include "cluster/ownership.h"
#include "cluster/wait_for.h"

namespace qrpay::cluster {
namespace {

// HAProxy's server names take letters, digits and "-_.:"; anything else becomes '_'.
std::string server_name(const std::string& node_id) {
    std::string name = node_id;
    for (char& c : name) {
        const bool fine = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':';
        c = fine ? c : '_';
    }
    return name;
}

std::string string_field(const nlohmann::json& object, const char* name) {
    const auto found = object.find(name);
    return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

}  // namespace

Result<std::vector<NodeAddresses>> registered_nodes(etcd::Client& client,
                                                    const std::string& prefix) {
    const std::string nodes = node_key(prefix, "");
    Result<etcd::RangeResult> range = wait_for<etcd::RangeResult>(
        [&](auto done) { client.range_prefix(nodes, std::move(done)); });
    if (!range.ok()) {
        return range.status();
    }
    std::vector<NodeAddresses> found;
    for (const etcd::KeyValue& entry : range->kvs) {
        const nlohmann::json info = nlohmann::json::parse(entry.value, nullptr, false);
        NodeAddresses node{.id = entry.key.substr(nodes.size()),
                           .listen = info.is_object() ? string_field(info, "listen") : "",
                           .admin = info.is_object() ? string_field(info, "admin") : ""};
        if (!node.listen.empty() && !node.admin.empty()) {
            found.push_back(std::move(node));
        }
    }
    return found;  // sorted by key, so by id
}

// Timeouts sized for one site: a dead node's connection is refused at once, a hung one is out
// after two failed checks of 300 ms; a request routed to a node that hangs waits `timeout
// server` and is answered 504, never sent again.
std::string haproxy_config(const std::vector<NodeAddresses>& nodes, const HaproxyOptions& options) {
    QRPAY_ASSERT(!nodes.empty(), "a backend has a server");
    std::string config =
        "# Written by `qrpay cluster haproxy-config`: one server per registered node.\n"
        "global\n";
    if (!options.stats_socket.empty()) {
        config += "    stats socket " + options.stats_socket + " mode 600 level admin\n";
    }
    config +=
        "\n"
        "defaults\n"
        "    mode http\n"
        "    timeout connect 500ms\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "    timeout check 300ms\n"
        "    option redispatch\n"
        "    retries 1\n"
        "\n"
        "frontend qrpay\n"
        "    bind " +
        options.listen +
        "\n"
        "    default_backend qrpay_nodes\n"
        "\n"
        "backend qrpay_nodes\n"
        "    balance roundrobin\n"
        "    option httpchk GET /readyz\n"
        "    http-check expect status 200\n"
        "    default-server inter 200ms fall 2 rise 1\n";
    for (const NodeAddresses& node : nodes) {
        const std::size_t colon = node.admin.rfind(':');
        QRPAY_ASSERT(colon != std::string::npos, "an admin address is host:port");
        config += "    server " + server_name(node.id) + " " + node.listen + " check addr " +
                  node.admin.substr(0, colon) + " port " + node.admin.substr(colon + 1) + "\n";
    }
    return config;
}

}  // namespace qrpay::cluster
