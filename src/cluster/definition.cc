#include "cluster/definition.h"

#include <nlohmann/json.hpp>
#include <regex>

#include "cluster/wait_for.h"

namespace qrpay::cluster {

namespace {

constexpr std::size_t cluster_name_bytes_max = 64;

std::string describe(const ClusterDefinition& definition) {
    std::string text = std::to_string(definition.shard_count) + " shards, partitions [";
    for (std::size_t i = 0; i < definition.partitions.size(); ++i) {
        text += (i == 0 ? "" : ", ") + definition.partitions[i];
    }
    return text + "]";
}

}  // namespace

Result<std::string> cluster_prefix(const std::string& name) {
    const bool valid =
        !name.empty() && name.size() <= cluster_name_bytes_max &&
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
    if (!valid) {
        return Status(Errc::invalid_argument,
                      "a cluster name is 1 to 64 of a-z, 0-9 and '-', not \"" + name + "\"");
    }
    return "/qrpay/" + name + "/";
}

std::string definition_key(const std::string& prefix) { return prefix + "definition"; }

std::string without_password(const std::string& url) {
    // user:password@ in the authority, and a password parameter anywhere.
    static const std::regex authority_password(R"(^([a-z]+://[^/@:]*):[^/@]*@)");
    static const std::regex parameter_password(R"((^|[?&\s])password=[^&\s]*&?)");
    std::string stripped = std::regex_replace(url, authority_password, "$1@");
    return std::regex_replace(stripped, parameter_password, "$1");
}

std::string encode_definition(const ClusterDefinition& definition) {
    return nlohmann::json{{"version", definition_version},
                          {"shard_count", definition.shard_count},
                          {"partitions", definition.partitions},
                          {"token_base", definition.token_base}}
        .dump();
}

Result<ClusterDefinition> decode_definition(const std::string& bytes) {
    const nlohmann::json json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    const bool shaped = json.is_object() && json.contains("version") &&
                        json["version"].is_number_integer() &&
                        json["version"].get<std::int64_t>() == definition_version &&
                        json.contains("shard_count") && json["shard_count"].is_number_unsigned() &&
                        json.contains("partitions") && json["partitions"].is_array() &&
                        json.contains("token_base") && json["token_base"].is_number_unsigned();
    if (!shaped) {
        return Status(Errc::corruption, "the stored cluster definition is not one of version " +
                                            std::to_string(definition_version));
    }
    ClusterDefinition definition;
    definition.shard_count = json["shard_count"].get<std::uint32_t>();
    definition.token_base = json["token_base"].get<std::uint64_t>();
    for (const nlohmann::json& partition : json["partitions"]) {
        if (!partition.is_string()) {
            return Status(Errc::corruption, "a partition of the cluster definition is no string");
        }
        definition.partitions.push_back(partition.get<std::string>());
    }
    return definition;
}

Status check_agrees(const ClusterDefinition& stored, const ClusterDefinition& flags) {
    if (stored.shard_count == flags.shard_count && stored.partitions == flags.partitions) {
        return {};
    }
    return {Errc::invalid_argument, "the cluster is defined with " + describe(stored) +
                                        ", this node's flags say " + describe(flags)};
}

Result<ClusterDefinition> store_definition(etcd::Client& client,
                                           const std::string& prefix,
                                           const ClusterDefinition& definition) {
    Result<etcd::CreateResult> created = wait_for<etcd::CreateResult>([&](auto done) {
        client.create(definition_key(prefix), encode_definition(definition), 0, std::move(done));
    });
    if (!created.ok()) {
        return created.status();
    }
    if (created->created) {
        return definition;
    }
    Result<ClusterDefinition> stored = decode_definition(created->existing->value);
    if (!stored.ok()) {
        return stored;
    }
    if (Status agrees = check_agrees(*stored, definition); !agrees.ok()) {
        return Status(Errc::conflict, "already initialised differently: " + agrees.message());
    }
    return stored;
}

Result<ClusterDefinition> load_definition(etcd::Client& client, const std::string& prefix) {
    Result<std::optional<etcd::KeyValue>> found = wait_for<std::optional<etcd::KeyValue>>(
        [&](auto done) { client.get(definition_key(prefix), std::move(done)); });
    if (!found.ok()) {
        return found.status();
    }
    if (!found->has_value()) {
        return Status(Errc::not_found,
                      "no cluster is defined under " + prefix + " (qrpay cluster init)");
    }
    return decode_definition((*found)->value);
}

}  // namespace qrpay::cluster
