// The cluster definition: names, secrets kept out, the stored form and its checks.

#include "cluster/definition.h"

#include <gtest/gtest.h>

namespace qrpay::cluster {
namespace {

TEST(ClusterDefinition, ANameIsShortLowerCaseAndDashes) {
    EXPECT_EQ(*cluster_prefix("prod-1"), "/qrpay/prod-1/");
    for (const char* bad : {"", "Prod", "a/b", "a b", "ä"}) {
        EXPECT_EQ(cluster_prefix(bad).status().code(), Errc::invalid_argument) << bad;
    }
    EXPECT_EQ(cluster_prefix(std::string(65, 'a')).status().code(), Errc::invalid_argument);
}

TEST(ClusterDefinition, PasswordsAreLeftOutOfPartitions) {
    EXPECT_EQ(without_password("postgresql://qrpay:s3cret@db1:5432/qrpay"),
              "postgresql://qrpay@db1:5432/qrpay");
    EXPECT_EQ(without_password("postgresql://db1/qrpay?password=s3cret&sslmode=require"),
              "postgresql://db1/qrpay?sslmode=require");
    EXPECT_EQ(without_password("postgresql://qrpay@db1,db2/qrpay?target_session_attrs=read-write"),
              "postgresql://qrpay@db1,db2/qrpay?target_session_attrs=read-write");
}

TEST(ClusterDefinition, RoundTripsAndRefusesWhatIsNoDefinition) {
    const ClusterDefinition definition{.shard_count = 128,
                                       .partitions = {"postgresql://a/q", "postgresql://b/q"},
                                       .token_base = 7};
    Result<ClusterDefinition> decoded = decode_definition(encode_definition(definition));
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(*decoded, definition);
    for (const char* bad :
         {"", "{", "[]", R"({"version":2,"shard_count":1,"partitions":[],"token_base":0})",
          R"({"version":1,"shard_count":-1,"partitions":[],"token_base":0})",
          R"({"version":"1","shard_count":1,"partitions":[],"token_base":0})",
          R"({"version":1,"shard_count":1,"partitions":[3],"token_base":0})"}) {
        EXPECT_EQ(decode_definition(bad).status().code(), Errc::corruption) << bad;
    }
}

TEST(ClusterDefinition, FlagsAgreeOnShardsAndPartitionsOnly) {
    const ClusterDefinition stored{
        .shard_count = 64, .partitions = {"postgresql://a/q"}, .token_base = 9};
    EXPECT_TRUE(check_agrees(stored, {.shard_count = 64, .partitions = {"postgresql://a/q"}}).ok());
    Status shards = check_agrees(stored, {.shard_count = 32, .partitions = {"postgresql://a/q"}});
    EXPECT_EQ(shards.code(), Errc::invalid_argument);
    EXPECT_NE(shards.message().find("64 shards"), std::string::npos) << shards.message();
    EXPECT_NE(shards.message().find("32 shards"), std::string::npos) << shards.message();
    EXPECT_FALSE(
        check_agrees(stored, {.shard_count = 64, .partitions = {"postgresql://b/q"}}).ok());
}

}  // namespace
}  // namespace qrpay::cluster
