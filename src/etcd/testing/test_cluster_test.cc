// The test cluster against itself: its members answer, keep data across a SIGKILL and a
// restart, elect a new leader and serve when the leader of three is killed, are gone after the
// destructor, and survive a forked child's exit. Requests go through http::Client with literal
// JSON, so these tests do not depend on etcd/client.h.

#include "etcd/testing/test_cluster.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "base/testing/eventually.h"
#include "http/client.h"

namespace qrpay::etcd::testing {
namespace {

using namespace std::chrono_literals;
using qrpay::testing::eventually;

// "k" and "v" in base64, as the JSON gateway carries bytes.
constexpr const char* key_k = "aw==";
constexpr const char* value_v = "dg==";
constexpr const char* value_w = "dw==";

// POST `body` to `path` at `url`; the answer's body when it is a 200, else the failure.
Result<std::string> post(const std::string& url, const std::string& path, const std::string& body) {
    auto client = http::Client::open({.base_url = url,
                                      .connect_timeout = 500ms,
                                      .response_timeout = 500ms,
                                      .connections_max = 1});
    if (!client.ok()) {
        return client.status();
    }
    Result<http::Response> answer =
        (*client)->call({.method = "POST", .path = path, .headers = {}, .body = body});
    if (!answer.ok()) {
        return answer.status();
    }
    if (answer->status != 200) {
        return Status(Errc::remote_error,
                      "HTTP " + std::to_string(answer->status) + ": " + answer->body);
    }
    return answer->body;
}

Status put(const std::string& url, const std::string& value) {
    return post(url, "/v3/kv/put",
                std::string(R"({"key":")") + key_k + R"(","value":")" + value + R"("})")
        .status();
}

// Whether a linearizable read of "k" at `url` shows `value` (base64).
bool reads(const std::string& url, const std::string& value) {
    Result<std::string> body =
        post(url, "/v3/kv/range", std::string(R"({"key":")") + key_k + R"("})");
    return body.ok() && body->find(R"("value":")" + value + R"(")") != std::string::npos;
}

Result<std::string> health(const std::string& url) {
    auto client = http::Client::open({.base_url = url, .connect_timeout = 500ms});
    if (!client.ok()) {
        return client.status();
    }
    Result<http::Response> answer = (*client)->call({.method = "GET", .path = "/health"});
    if (!answer.ok()) {
        return answer.status();
    }
    return answer->body;
}

std::unique_ptr<TestCluster> start_own(std::size_t members) {
    Result<std::unique_ptr<TestCluster>> started = TestCluster::start({.members = members});
    EXPECT_TRUE(started.ok()) << started.status().to_string();
    return started.ok() ? std::move(started).value() : nullptr;
}

TEST(TestClusterTest, SharedClusterIsHealthyOnLoopbackAndTakesAPut) {
    TestCluster& cluster = shared_test_cluster();
    ASSERT_EQ(cluster.size(), 1U);
    EXPECT_TRUE(cluster.running(0));
    const std::string url = cluster.client_url(0);
    EXPECT_EQ(url.rfind("http://127.0.0.1:", 0), 0U) << url;
    EXPECT_EQ(cluster.client_urls(), url);
    Result<std::string> healthy = health(url);
    ASSERT_TRUE(healthy.ok()) << healthy.status().to_string();
    EXPECT_NE(healthy->find(R"("health":"true")"), std::string::npos) << *healthy;
    Status stored = put(url, value_v);
    ASSERT_TRUE(stored.ok()) << stored.to_string();
    EXPECT_TRUE(reads(url, value_v));
    EXPECT_FALSE(cluster.log_tail(0).empty());
}

TEST(TestClusterTest, RefusesMemberCountsOutOfRangeAndMembersItDoesNotHave) {
    EXPECT_EQ(TestCluster::start({.members = 0}).status().code(), Errc::invalid_argument);
    EXPECT_EQ(TestCluster::start({.members = members_max + 1}).status().code(),
              Errc::invalid_argument);
    TestCluster& cluster = shared_test_cluster();
    EXPECT_EQ(cluster.kill(1).code(), Errc::invalid_argument);
    EXPECT_EQ(cluster.restart(1).code(), Errc::invalid_argument);
    EXPECT_FALSE(cluster.running(1));
    EXPECT_EQ(cluster.member_of(cluster.client_url(0)), 0U);
    EXPECT_EQ(cluster.member_of("http://127.0.0.1:1"), 1U) << "size(): no such member";
}

TEST(TestClusterTest, KilledMemberKeepsItsDataAcrossARestart) {
    std::unique_ptr<TestCluster> cluster = start_own(1);
    ASSERT_NE(cluster, nullptr);
    const std::string url = cluster->client_url(0);
    ASSERT_TRUE(put(url, value_v).ok());
    EXPECT_EQ(cluster->restart(0).code(), Errc::conflict) << "it runs";
    Status killed = cluster->kill(0);
    ASSERT_TRUE(killed.ok()) << killed.to_string();
    EXPECT_FALSE(cluster->running(0));
    EXPECT_EQ(health(url).status().code(), Errc::unavailable) << "nothing listens any more";
    EXPECT_TRUE(cluster->kill(0).ok()) << "killing a stopped member is ok";
    Status restarted = cluster->restart(0);
    ASSERT_TRUE(restarted.ok()) << restarted.to_string();
    EXPECT_TRUE(cluster->running(0));
    EXPECT_EQ(cluster->client_url(0), url) << "same port";
    EXPECT_TRUE(reads(url, value_v)) << "same data";
}

TEST(TestClusterTest, ThreeMembersServeWithTheLeaderKilledAndItRejoins) {
    std::unique_ptr<TestCluster> cluster = start_own(3);
    ASSERT_NE(cluster, nullptr);
    ASSERT_EQ(cluster->size(), 3U);
    std::set<std::string> urls;
    for (std::size_t member = 0; member < 3; ++member) {
        urls.insert(cluster->client_url(member));
    }
    EXPECT_EQ(urls.size(), 3U);
    EXPECT_EQ(cluster->client_urls(),
              cluster->client_url(0) + "," + cluster->client_url(1) + "," + cluster->client_url(2));
    ASSERT_TRUE(put(cluster->client_url(0), value_v).ok());
    EXPECT_TRUE(reads(cluster->client_url(2), value_v)) << "one cluster: another member sees it";

    Result<std::size_t> leader = cluster->leader();
    ASSERT_TRUE(leader.ok()) << leader.status().to_string();
    ASSERT_LT(*leader, 3U);
    const std::size_t killed = *leader;
    const std::size_t survivor = (killed + 1) % 3;
    ASSERT_TRUE(cluster->kill(killed).ok());
    EXPECT_TRUE(
        eventually([&] { return put(cluster->client_url(survivor), value_w).ok(); }, 60s, 20ms))
        << cluster->log_tail(survivor);
    Result<std::size_t> next_leader = cluster->leader();
    ASSERT_TRUE(next_leader.ok()) << next_leader.status().to_string();
    EXPECT_NE(*next_leader, killed);
    Status restarted = cluster->restart(killed);
    ASSERT_TRUE(restarted.ok()) << restarted.to_string();
    EXPECT_TRUE(eventually([&] { return reads(cluster->client_url(killed), value_w); }, 60s, 20ms))
        << "the rejoined member has the write it missed";
}

TEST(TestClusterTest, DestructorKillsEveryMember) {
    std::unique_ptr<TestCluster> cluster = start_own(1);
    ASSERT_NE(cluster, nullptr);
    const std::string url = cluster->client_url(0);
    ASSERT_TRUE(health(url).ok());
    cluster.reset();
    EXPECT_EQ(health(url).status().code(), Errc::unavailable);
}

TEST(TestClusterTest, AForkedChildExitingLeavesTheSharedClusterRunning) {
    TestCluster& cluster = shared_test_cluster();
    std::fflush(nullptr);  // or the child would print the parent's buffered output again
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::exit(0);  // runs the static destructors, the shared cluster's among them
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(cluster.running(0));
    EXPECT_TRUE(health(cluster.client_url(0)).ok());
}

}  // namespace
}  // namespace qrpay::etcd::testing
