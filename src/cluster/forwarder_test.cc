#include "cluster/forwarder.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "cluster/forward_wire.h"
#include "cluster/internal_api.h"
#include "http/server.h"
#include "journal/journal.h"

namespace qrpay::cluster {
namespace {

constexpr std::uint32_t shard_count = 4;

// A peer's internal listener that holds each forwarded command until the test answers it.
class HeldPeer {
public:
    HeldPeer() {
        auto server = http::Server::start(
            {}, [this](const http::Request& /*request*/, http::Responder responder) {
                held_.set_value(std::move(responder));
            });
        EXPECT_TRUE(server.ok()) << server.status().to_string();
        server_ = std::move(*server);
    }

    [[nodiscard]] std::string address() const {
        return "127.0.0.1:" + std::to_string(server_->port());
    }
    // The first command's responder, once it arrived.
    http::Responder wait_for_command() { return held_.get_future().get(); }

private:
    std::promise<http::Responder> held_;
    std::unique_ptr<http::Server> server_;
};

ClusterView view_with_peer(const std::string& address) {
    ClusterView view;
    view.nodes.push_back({.id = "a", .info = R"({"internal":"127.0.0.1:1"})"});
    view.nodes.push_back({.id = "b", .info = R"({"internal":")" + address + R"("})"});
    view.shard_owners.assign(shard_count, "b");
    return view;
}

// b handed its shards off and left: nobody claims them yet.
ClusterView view_without_peer() {
    ClusterView view;
    view.nodes.push_back({.id = "a", .info = R"({"internal":"127.0.0.1:1"})"});
    view.shard_owners.assign(shard_count, "");
    return view;
}

class PeerForwarderTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(runtime_.start().ok()); }
    void TearDown() override {
        forwarder_.stop();
        runtime_.stop();
    }

    std::unique_ptr<journal::Journal> journal_ = journal::make_memory_journal();
    SystemClock clock_;
    runtime::Runtime runtime_{
        *journal_,
        clock_,
        {.executor_count = 1, .shard_count = shard_count, .claim_every_shard = false}};
    PeerForwarder forwarder_{runtime_, clock_, {.node_id = "a", .secret = "s"}};
};

// A node that leaves the view answers the commands it was sent before it went (its internal
// listener stays open a moment for that): the connection they travel on is not cut under them,
// which would make their outcome unknown.
TEST_F(PeerForwarderTest, ACommandInFlightToAPeerThatLeavesTheViewGetsItsAnswer) {
    forwarder_.start();
    HeldPeer peer;
    forwarder_.update(view_with_peer(peer.address()));
    std::promise<Result<std::string>> answered;
    forwarder_.forward(ShardId(1), {.type_name = "thing", .entity_id = "t1", .command = "get"},
                       [&](Result<std::string> answer) { answered.set_value(std::move(answer)); });
    http::Responder responder = peer.wait_for_command();

    forwarder_.update(view_without_peer());
    EXPECT_TRUE(responder({.status = 200, .body = encode_answer(std::string("reply"))}));

    Result<std::string> answer = answered.get_future().get();
    ASSERT_TRUE(answer.ok()) << answer.status().to_string();
    EXPECT_EQ(*answer, "reply");
    EXPECT_EQ(forwarder_.stats().lost_answers, 0U);
}

}  // namespace
}  // namespace qrpay::cluster
