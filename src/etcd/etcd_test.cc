// The client against real etcd (a shared single member, and an own three-member cluster for
// failover), and against scripted members for the answers real etcd gives only under faults.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/testing/eventually.h"
#include "etcd/client.h"
#include "etcd/testing/test_cluster.h"
#include "http/server.h"

namespace qrpay::etcd {
namespace {

using namespace std::chrono_literals;
using qrpay::testing::eventually;
using testing::shared_test_cluster;
using testing::TestCluster;

// Callbacks that ran more than once, counted by every waiter; each test ends by checking 0.
std::atomic<int> extra_callbacks{0};
// Only stops a hang: a call ends within members x (connect_timeout + request_timeout).
constexpr auto callback_wait_max = 60s;

// Runs `start` with a done callback and waits for its one result.
template <class T, class Start>
Result<T> wait_for(Start start) {
    struct Shared {
        std::promise<Result<T>> promise;
        std::atomic<int> calls{0};
    };
    auto shared = std::make_shared<Shared>();
    std::future<Result<T>> future = shared->promise.get_future();
    start([shared](Result<T> result) {
        if (shared->calls.fetch_add(1) > 0) {
            extra_callbacks.fetch_add(1);
            return;
        }
        shared->promise.set_value(std::move(result));
    });
    if (future.wait_for(callback_wait_max) != std::future_status::ready) {
        return Status(Errc::timeout, "test: no callback");
    }
    return future.get();
}

// Blocking calls, for tests only.
class Blocking {
public:
    explicit Blocking(Client& client) : client_(client) {}
    Result<Lease> grant_lease(std::chrono::seconds ttl) {
        return wait_for<Lease>([&](auto done) { client_.grant_lease(ttl, done); });
    }
    Result<std::chrono::seconds> keep_alive(std::int64_t lease) {
        return wait_for<std::chrono::seconds>([&](auto done) { client_.keep_alive(lease, done); });
    }
    Status revoke_lease(std::int64_t lease) {
        Result<bool> revoked = wait_for<bool>([&](auto done) {
            client_.revoke_lease(lease, [done](Status status) {
                done(status.ok() ? Result<bool>(true) : Result<bool>(std::move(status)));
            });
        });
        return revoked.status();
    }
    Result<std::int64_t> put(const std::string& key,
                             const std::string& value,
                             std::int64_t lease = 0) {
        return wait_for<std::int64_t>([&](auto done) { client_.put(key, value, lease, done); });
    }
    Result<CreateResult> create(const std::string& key,
                                const std::string& value,
                                std::int64_t lease = 0) {
        return wait_for<CreateResult>([&](auto done) { client_.create(key, value, lease, done); });
    }
    Result<bool> delete_if_unchanged(const std::string& key, std::int64_t mod_revision) {
        return wait_for<bool>(
            [&](auto done) { client_.delete_if_unchanged(key, mod_revision, done); });
    }
    Result<std::optional<KeyValue>> get(const std::string& key) {
        return wait_for<std::optional<KeyValue>>([&](auto done) { client_.get(key, done); });
    }
    Result<RangeResult> range_prefix(const std::string& prefix) {
        return wait_for<RangeResult>([&](auto done) { client_.range_prefix(prefix, done); });
    }

private:
    Client& client_;
};

std::unique_ptr<Client> open_client(ClientOptions options) {
    Result<std::unique_ptr<Client>> opened = Client::open(options);
    EXPECT_TRUE(opened.ok()) << opened.status().to_string();
    return opened.ok() ? std::move(opened).value() : nullptr;
}

// A key prefix of one test run on the shared cluster: "/etcd_test/<test name>/<run>/", new
// for each run, so that a repeated test (--gtest_repeat) finds none of its old keys.
std::string test_prefix() {
    static std::atomic<int> runs{0};
    return "/etcd_test/" +
           std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/" +
           std::to_string(++runs) + "/";
}

class EtcdClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        client_ = open_client({.endpoints = shared_test_cluster().client_urls()});
        ASSERT_NE(client_, nullptr);
        etcd_ = std::make_unique<Blocking>(*client_);
        prefix_ = test_prefix();
    }
    void TearDown() override {
        client_->stop();
        EXPECT_EQ(extra_callbacks.load(), 0) << "a done callback ran more than once";
    }

    std::unique_ptr<Client> client_;
    std::unique_ptr<Blocking> etcd_;
    std::string prefix_;
};

TEST_F(EtcdClientTest, LeaseIsGrantedKeptAliveAndRevoked) {
    Result<Lease> lease = etcd_->grant_lease(2s);
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    EXPECT_GT(lease->id, 0);
    EXPECT_EQ(lease->ttl, 2s);
    Result<std::chrono::seconds> ttl = etcd_->keep_alive(lease->id);
    ASSERT_TRUE(ttl.ok()) << ttl.status().to_string();
    EXPECT_EQ(*ttl, 2s) << "a renewal restarts the full TTL";
    Status revoked = etcd_->revoke_lease(lease->id);
    EXPECT_TRUE(revoked.ok()) << revoked.to_string();
    EXPECT_EQ(etcd_->keep_alive(lease->id).status().code(), Errc::not_found);
    EXPECT_EQ(etcd_->revoke_lease(lease->id).code(), Errc::not_found);
}

TEST_F(EtcdClientTest, KeyOfARevokedLeaseDisappears) {
    Result<Lease> lease = etcd_->grant_lease(30s);
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    const std::string key = prefix_ + "leased";
    ASSERT_TRUE(etcd_->put(key, "v", lease->id).ok());
    Result<std::optional<KeyValue>> before = etcd_->get(key);
    ASSERT_TRUE(before.ok() && before->has_value()) << before.status().to_string();
    EXPECT_EQ((*before)->lease, lease->id);
    ASSERT_TRUE(etcd_->revoke_lease(lease->id).ok());
    Result<std::optional<KeyValue>> after = etcd_->get(key);
    ASSERT_TRUE(after.ok()) << after.status().to_string();
    EXPECT_FALSE(after->has_value()) << "revoking deletes the lease's keys at once";
}

TEST_F(EtcdClientTest, LeaseNotKeptAliveExpiresWithItsKey) {
    Result<Lease> lease = etcd_->grant_lease(1s);  // allowed by the fast election settings
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    EXPECT_EQ(lease->ttl, 1s);
    const std::string key = prefix_ + "expiring";
    ASSERT_TRUE(etcd_->put(key, "v", lease->id).ok());
    EXPECT_TRUE(eventually(
        [&] {
            Result<std::optional<KeyValue>> got = etcd_->get(key);
            return got.ok() && !got->has_value();
        },
        60s, 50ms));
    EXPECT_EQ(etcd_->keep_alive(lease->id).status().code(), Errc::not_found);
}

TEST_F(EtcdClientTest, WritesWithALeaseThatIsGoneAreNotFound) {
    Result<Lease> lease = etcd_->grant_lease(30s);
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    ASSERT_TRUE(etcd_->revoke_lease(lease->id).ok());
    EXPECT_EQ(etcd_->put(prefix_ + "a", "v", lease->id).status().code(), Errc::not_found);
    EXPECT_EQ(etcd_->create(prefix_ + "b", "v", lease->id).status().code(), Errc::not_found);
    Result<std::optional<KeyValue>> got = etcd_->get(prefix_ + "b");
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->has_value());
}

TEST_F(EtcdClientTest, CreateFirstWinsAndTheSecondSeesTheWinner) {
    const std::string key = prefix_ + "owner";
    Result<CreateResult> first = etcd_->create(key, "first");
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    EXPECT_TRUE(first->created);
    EXPECT_FALSE(first->existing.has_value());
    Result<std::optional<KeyValue>> stored = etcd_->get(key);
    ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status().to_string();
    EXPECT_EQ((*stored)->value, "first");
    EXPECT_EQ((*stored)->create_revision, first->revision);
    EXPECT_EQ((*stored)->mod_revision, first->revision);

    Result<CreateResult> second = etcd_->create(key, "second");
    ASSERT_TRUE(second.ok()) << second.status().to_string();
    EXPECT_FALSE(second->created);
    EXPECT_GE(second->revision, first->revision);
    ASSERT_TRUE(second->existing.has_value());
    EXPECT_EQ(second->existing->key, key);
    EXPECT_EQ(second->existing->value, "first");
    EXPECT_EQ(second->existing->create_revision, first->revision);
    EXPECT_EQ(second->existing->mod_revision, first->revision);
}

TEST_F(EtcdClientTest, RevisionsGrowWithEveryWrite) {
    const std::string key = prefix_ + "k";
    Result<CreateResult> created = etcd_->create(key, "1");
    ASSERT_TRUE(created.ok() && created->created);
    Result<std::int64_t> rewritten = etcd_->put(key, "2", 0);
    ASSERT_TRUE(rewritten.ok()) << rewritten.status().to_string();
    EXPECT_GT(*rewritten, created->revision);
    Result<std::int64_t> other = etcd_->put(prefix_ + "other", "x", 0);
    ASSERT_TRUE(other.ok());
    EXPECT_GT(*other, *rewritten);
    Result<std::optional<KeyValue>> got = etcd_->get(key);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->create_revision, created->revision);
    EXPECT_EQ((*got)->mod_revision, *rewritten);
    EXPECT_EQ((*got)->value, "2");
}

TEST_F(EtcdClientTest, DeleteIfUnchangedOnlyAtTheCurrentModRevision) {
    const std::string key = prefix_ + "k";
    Result<std::int64_t> stale = etcd_->put(key, "1", 0);
    Result<std::int64_t> current = etcd_->put(key, "2", 0);
    ASSERT_TRUE(stale.ok() && current.ok());
    Result<bool> refused = etcd_->delete_if_unchanged(key, *stale);
    ASSERT_TRUE(refused.ok()) << refused.status().to_string();
    EXPECT_FALSE(*refused);
    Result<std::optional<KeyValue>> kept = etcd_->get(key);
    ASSERT_TRUE(kept.ok() && kept->has_value());
    EXPECT_EQ((*kept)->value, "2");
    Result<bool> deleted = etcd_->delete_if_unchanged(key, *current);
    ASSERT_TRUE(deleted.ok()) << deleted.status().to_string();
    EXPECT_TRUE(*deleted);
    Result<std::optional<KeyValue>> gone = etcd_->get(key);
    ASSERT_TRUE(gone.ok());
    EXPECT_FALSE(gone->has_value());
    Result<bool> again = etcd_->delete_if_unchanged(key, *current);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again) << "a key that is gone is not deleted again";
}

TEST_F(EtcdClientTest, RangePrefixHoldsExactlyTheKeysUnderThePrefixSorted) {
    const std::string under = prefix_ + "p/";
    for (const std::string& key :
         {under + "b", under + "a", under + "b/c", under + "\xff", under + "\xff\x01",
          prefix_ + "p", prefix_ + "p0", prefix_ + "o/zz"}) {
        ASSERT_TRUE(etcd_->put(key, "v:" + key, 0).ok()) << key;
    }
    Result<RangeResult> range = etcd_->range_prefix(under);
    ASSERT_TRUE(range.ok()) << range.status().to_string();
    std::vector<std::string> keys;
    for (const KeyValue& kv : range->kvs) {
        keys.push_back(kv.key);
        EXPECT_EQ(kv.value, "v:" + kv.key);
    }
    EXPECT_EQ(keys, (std::vector<std::string>{under + "a", under + "b", under + "b/c",
                                              under + "\xff", under + "\xff\x01"}));
    EXPECT_GT(range->revision, 0);
    Result<RangeResult> ff = etcd_->range_prefix(under + "\xff");
    ASSERT_TRUE(ff.ok()) << ff.status().to_string();
    ASSERT_EQ(ff->kvs.size(), 2U);
    EXPECT_EQ(ff->kvs[1].key, under + "\xff\x01");
    Result<RangeResult> none = etcd_->range_prefix(prefix_ + "nothing/");
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->kvs.empty());
    EXPECT_GE(none->revision, range->revision);
}

TEST_F(EtcdClientTest, RangePrefixAboveItsBoundIsRefused) {
    std::unique_ptr<Client> bounded =
        open_client({.endpoints = shared_test_cluster().client_urls(), .range_keys_max = 2});
    ASSERT_NE(bounded, nullptr);
    Blocking etcd(*bounded);
    ASSERT_TRUE(etcd.put(prefix_ + "1", "v", 0).ok());
    ASSERT_TRUE(etcd.put(prefix_ + "2", "v", 0).ok());
    Result<RangeResult> two = etcd.range_prefix(prefix_);
    ASSERT_TRUE(two.ok()) << two.status().to_string();
    EXPECT_EQ(two->kvs.size(), 2U);
    ASSERT_TRUE(etcd.put(prefix_ + "3", "v", 0).ok());
    EXPECT_EQ(etcd.range_prefix(prefix_).status().code(), Errc::invalid_argument);
}

TEST_F(EtcdClientTest, KeysAndValuesKeepEveryByte) {
    std::string bytes;
    for (int byte = 0; byte < 256; ++byte) {
        bytes.push_back(static_cast<char>(byte));
    }
    const std::string key = prefix_ + bytes;
    ASSERT_TRUE(etcd_->put(key, bytes, 0).ok());
    Result<std::optional<KeyValue>> got = etcd_->get(key);
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status().to_string();
    EXPECT_EQ((*got)->key, key);
    EXPECT_EQ((*got)->value, bytes);
    ASSERT_TRUE(etcd_->put(key, "", 0).ok());
    got = etcd_->get(key);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->value, "");
}

TEST_F(EtcdClientTest, AMemberThatCannotBeReachedIsPassedOver) {
    // Nothing listens on the first endpoint (a port just freed): connection refused.
    Result<std::unique_ptr<http::Server>> server = http::Server::start({}, [](auto, auto) {});
    ASSERT_TRUE(server.ok());
    const std::string dead = "http://127.0.0.1:" + std::to_string((*server)->port());
    (*server)->stop();
    std::unique_ptr<Client> client =
        open_client({.endpoints = dead + "," + shared_test_cluster().client_url(0)});
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(client->preferred_endpoint(), dead);
    Blocking etcd(*client);
    Result<std::int64_t> put = etcd.put(prefix_ + "k", "v", 0);
    EXPECT_TRUE(put.ok()) << put.status().to_string();
    EXPECT_EQ(client->preferred_endpoint(), shared_test_cluster().client_url(0));
}

// --- Three members --------------------------------------------------------------------------

// Every call of one round succeeds: a put, a get of it, a keep-alive.
bool round_succeeds(Blocking& etcd, const std::string& key, std::int64_t lease) {
    Result<std::int64_t> put = etcd.put(key, "v", 0);
    Result<std::optional<KeyValue>> got = etcd.get(key);
    Result<std::chrono::seconds> ttl = etcd.keep_alive(lease);
    return put.ok() && got.ok() && got->has_value() && (*got)->mod_revision == *put && ttl.ok();
}

// The client's endpoints with the leader's first, so that the member the client uses is the
// leader: killing it then also takes an election before the others can write.
std::string endpoints_leader_first(const TestCluster& cluster) {
    Result<std::size_t> leader = cluster.leader();
    EXPECT_TRUE(leader.ok()) << leader.status().to_string();
    const std::size_t first = leader.ok() ? *leader : 0;
    std::string endpoints = cluster.client_url(first);
    for (std::size_t member = 0; member < cluster.size(); ++member) {
        if (member != first) {
            endpoints += "," + cluster.client_url(member);
        }
    }
    return endpoints;
}

TEST(EtcdClientFailoverTest, KillingTheMemberInUseLeavesTheOthersServing) {
    Result<std::unique_ptr<TestCluster>> cluster = TestCluster::start({.members = 3});
    ASSERT_TRUE(cluster.ok()) << cluster.status().to_string();
    std::unique_ptr<Client> client = open_client({.endpoints = endpoints_leader_first(**cluster)});
    ASSERT_NE(client, nullptr);
    Blocking etcd(*client);
    Result<Lease> lease = etcd.grant_lease(30s);
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    ASSERT_TRUE(round_succeeds(etcd, "/failover/k", lease->id));
    const std::string used = client->preferred_endpoint();
    const std::size_t member = (*cluster)->member_of(used);
    ASSERT_LT(member, 3U) << used;

    ASSERT_TRUE((*cluster)->kill(member).ok());
    EXPECT_TRUE(
        eventually([&] { return round_succeeds(etcd, "/failover/k", lease->id); }, 60s, 20ms));
    EXPECT_NE(client->preferred_endpoint(), used);
    for (int round = 0; round < 5; ++round) {
        EXPECT_TRUE(round_succeeds(etcd, "/failover/k" + std::to_string(round), lease->id))
            << round;
    }
    client->stop();
    EXPECT_EQ(extra_callbacks.load(), 0);
}

// --- Scripted members: answers real etcd gives only under faults ----------------------------

// An HTTP server standing in for one member: answers every request with `answer`, or holds it
// unanswered while `answer` is nullopt (until destroyed). Counts the requests.
class ScriptedMember {
public:
    explicit ScriptedMember(std::optional<http::Response> answer) : answer_(std::move(answer)) {
        auto started =
            http::Server::start({.threads = 1, .stop_timeout = 100ms},
                                [this](http::Request request, http::Responder responder) {
                                    std::lock_guard lock(mutex_);
                                    bodies_.push_back(std::move(request.body));
                                    if (answer_) {
                                        responder(*answer_);
                                    } else {
                                        held_.push_back(std::move(responder));
                                    }
                                });
        EXPECT_TRUE(started.ok()) << started.status().to_string();
        server_ = std::move(started).value();
    }
    ~ScriptedMember() {
        {
            std::lock_guard lock(mutex_);
            for (const http::Responder& responder : held_) {
                responder(http::Response::json(503, "{}"));
            }
        }
        server_->stop();
    }
    ScriptedMember(const ScriptedMember&) = delete;
    ScriptedMember& operator=(const ScriptedMember&) = delete;
    ScriptedMember(ScriptedMember&&) = delete;
    ScriptedMember& operator=(ScriptedMember&&) = delete;

    [[nodiscard]] std::string url() const {
        return "http://127.0.0.1:" + std::to_string(server_->port());
    }
    std::size_t requests() {
        std::lock_guard lock(mutex_);
        return bodies_.size();
    }

private:
    const std::optional<http::Response> answer_;
    std::unique_ptr<http::Server> server_;
    std::mutex mutex_;  // guards what the server's thread records for the test's thread
    std::vector<std::string> bodies_;
    std::vector<http::Responder> held_;
};

http::Response etcd_error(int status, int code, const std::string& message) {
    return http::Response::json(status, R"({"error":")" + message + R"(","message":")" + message +
                                            R"(","code":)" + std::to_string(code) + "}");
}

const http::Response put_answer = http::Response::json(200, R"({"header":{"revision":"7"}})");
const http::Response range_answer = http::Response::json(200, R"({"header":{"revision":"7"}})");

TEST(EtcdClientScriptedTest, NoLeaderIsTriedOnTheNextMemberAndItIsPreferredAfter) {
    ScriptedMember leaderless(etcd_error(503, 14, "etcdserver: no leader"));
    ScriptedMember healthy(put_answer);
    std::unique_ptr<Client> client =
        open_client({.endpoints = leaderless.url() + "," + healthy.url()});
    ASSERT_NE(client, nullptr);
    Blocking etcd(*client);
    Result<std::int64_t> put = etcd.put("k", "v", 0);
    ASSERT_TRUE(put.ok()) << put.status().to_string();
    EXPECT_EQ(*put, 7);
    EXPECT_EQ(leaderless.requests(), 1U);
    EXPECT_EQ(healthy.requests(), 1U);
    EXPECT_EQ(client->preferred_endpoint(), healthy.url());
    ASSERT_TRUE(etcd.put("k", "v", 0).ok());
    EXPECT_EQ(leaderless.requests(), 1U) << "the next call starts at the member that answered";
}

TEST(EtcdClientScriptedTest, AWriteThatMayHaveBeenAppliedIsNeverSentAgain) {
    ScriptedMember slow(etcd_error(503, 14, "etcdserver: request timed out"));
    ScriptedMember healthy(put_answer);
    std::unique_ptr<Client> client = open_client({.endpoints = slow.url() + "," + healthy.url()});
    ASSERT_NE(client, nullptr);
    Blocking etcd(*client);
    Result<std::int64_t> put = etcd.put("k", "v", 0);
    EXPECT_EQ(put.status().code(), Errc::unknown_outcome) << put.status().to_string();
    EXPECT_EQ(healthy.requests(), 0U);
    // A read may go on: nothing it did could matter.
    std::unique_ptr<Client> reader_client =
        open_client({.endpoints = slow.url() + "," + healthy.url()});
    ASSERT_NE(reader_client, nullptr);
    Blocking reader(*reader_client);
    Result<std::optional<KeyValue>> got = reader.get("k");
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_FALSE(got->has_value());
    EXPECT_EQ(healthy.requests(), 1U);
}

TEST(EtcdClientScriptedTest, ATimedOutWriteIsTimeoutAndNotSentAgain) {
    ScriptedMember silent(std::nullopt);
    ScriptedMember healthy(put_answer);
    std::unique_ptr<Client> client =
        open_client({.endpoints = silent.url() + "," + healthy.url(), .request_timeout = 100ms});
    ASSERT_NE(client, nullptr);
    Blocking etcd(*client);
    EXPECT_EQ(etcd.put("k", "v", 0).status().code(), Errc::timeout);
    EXPECT_EQ(silent.requests(), 1U);
    EXPECT_EQ(healthy.requests(), 0U);
    EXPECT_EQ(client->preferred_endpoint(), healthy.url()) << "the next call passes it over";
}

TEST(EtcdClientScriptedTest, EveryMemberUnavailableIsUnavailableWithEachReason) {
    ScriptedMember first(etcd_error(503, 14, "etcdserver: no leader"));
    ScriptedMember second(etcd_error(429, 8, "etcdserver: too many requests"));
    std::unique_ptr<Client> client = open_client({.endpoints = first.url() + "," + second.url()});
    ASSERT_NE(client, nullptr);
    Result<CreateResult> created = Blocking(*client).create("k", "v", 0);
    EXPECT_EQ(created.status().code(), Errc::unavailable);
    EXPECT_NE(created.status().message().find("no leader"), std::string::npos);
    EXPECT_NE(created.status().message().find("too many requests"), std::string::npos);
    EXPECT_EQ(first.requests() + second.requests(), 2U) << "each member once";
}

TEST(EtcdClientScriptedTest, AnUnreadableAnswerToAWriteIsUnknownOutcome) {
    ScriptedMember garbled(http::Response::json(200, R"({"header":{}})"));
    std::unique_ptr<Client> client = open_client({.endpoints = garbled.url()});
    ASSERT_NE(client, nullptr);
    Blocking etcd(*client);
    EXPECT_EQ(etcd.put("k", "v", 0).status().code(), Errc::unknown_outcome);
    EXPECT_EQ(etcd.range_prefix("k").status().code(), Errc::remote_error);
}

TEST(EtcdClientScriptedTest, CallsInFlightAreBoundedAndStopEndsThem) {
    ScriptedMember silent(std::nullopt);
    std::unique_ptr<Client> client =
        open_client({.endpoints = silent.url(), .request_timeout = 60s, .calls_in_flight_max = 2});
    ASSERT_NE(client, nullptr);
    std::vector<Result<std::int64_t>> results;
    std::mutex mutex;
    auto record = [&](Result<std::int64_t> result) {
        std::lock_guard lock(mutex);
        results.push_back(std::move(result));
    };
    client->put("a", "v", 0, record);
    client->put("b", "v", 0, record);
    ASSERT_TRUE(eventually([&] { return silent.requests() == 2; }, 30s));
    client->put("c", "v", 0, record);  // refused at once, on this thread
    {
        std::lock_guard lock(mutex);
        ASSERT_EQ(results.size(), 1U);
        EXPECT_EQ(results[0].status().code(), Errc::unavailable);
    }
    client->stop();
    std::lock_guard lock(mutex);
    ASSERT_EQ(results.size(), 3U) << "stop() returns after every done ran";
    EXPECT_EQ(results[1].status().code(), Errc::unknown_outcome) << "cut while in flight";
    EXPECT_EQ(results[2].status().code(), Errc::unknown_outcome);
}

TEST(EtcdClientScriptedTest, AStoppedClientAnswersUnavailableAndStopIsIdempotent) {
    ScriptedMember healthy(range_answer);
    std::unique_ptr<Client> client = open_client({.endpoints = healthy.url()});
    ASSERT_NE(client, nullptr);
    client->stop();
    client->stop();
    Blocking etcd(*client);
    EXPECT_EQ(etcd.get("k").status().code(), Errc::unavailable);
    EXPECT_EQ(etcd.put("k", "v", 0).status().code(), Errc::unavailable);
    EXPECT_EQ(healthy.requests(), 0U);
}

// Calls `call` with a done callback and expects it to have run once, before returning, with
// invalid_argument.
template <class T, class Call>
void expect_refused(Call call, const char* what) {
    int calls = 0;
    Errc code = Errc::ok;
    call([&](Result<T> result) {
        ++calls;
        code = result.status().code();
    });
    EXPECT_EQ(calls, 1) << what;
    EXPECT_EQ(code, Errc::invalid_argument) << what;
}

TEST(EtcdClientScriptedTest, BadInputsAreRefusedAndNothingIsSent) {
    ScriptedMember member(range_answer);
    std::unique_ptr<Client> client =
        open_client({.endpoints = member.url(), .request_bytes_max = 4096});
    ASSERT_NE(client, nullptr);
    Client& c = *client;
    using Seconds = std::chrono::seconds;
    expect_refused<Lease>([&](auto done) { c.grant_lease(0s, done); }, "ttl 0");
    expect_refused<Lease>([&](auto done) { c.grant_lease(-1s, done); }, "negative ttl");
    expect_refused<Lease>([&](auto done) { c.grant_lease(lease_ttl_max + 1s, done); }, "ttl max");
    expect_refused<Seconds>([&](auto done) { c.keep_alive(0, done); }, "keep_alive 0");
    expect_refused<Seconds>([&](auto done) { c.keep_alive(-5, done); }, "keep_alive -5");
    expect_refused<bool>(
        [&](auto done) {
            c.revoke_lease(0, [done](Status s) {
                done(s.ok() ? Result<bool>(true) : Result<bool>(std::move(s)));
            });
        },
        "revoke 0");
    expect_refused<std::int64_t>([&](auto done) { c.put("", "v", 0, done); }, "put empty key");
    expect_refused<std::int64_t>([&](auto done) { c.put("k", "v", -1, done); }, "put lease -1");
    expect_refused<std::int64_t>([&](auto done) { c.put("k", std::string(4096, 'v'), 0, done); },
                                 "put above request_bytes_max");
    expect_refused<CreateResult>([&](auto done) { c.create("", "v", 0, done); }, "create empty");
    expect_refused<CreateResult>([&](auto done) { c.create("k", "v", -2, done); }, "create -2");
    expect_refused<bool>([&](auto done) { c.delete_if_unchanged("", 3, done); }, "delete empty");
    expect_refused<bool>([&](auto done) { c.delete_if_unchanged("k", 0, done); }, "delete rev 0");
    expect_refused<std::optional<KeyValue>>([&](auto done) { c.get("", done); }, "get empty");
    expect_refused<RangeResult>([&](auto done) { c.range_prefix("", done); }, "range empty");
    EXPECT_EQ(member.requests(), 0U);
    EXPECT_TRUE(Blocking(c).get("k").ok()) << "the member is reachable, and counts requests";
    EXPECT_EQ(member.requests(), 1U);
}

TEST(EtcdClientOpenTest, RefusesBadEndpointsAndOptions) {
    std::string many;
    for (int i = 0; i <= static_cast<int>(endpoints_max); ++i) {
        many += (i == 0 ? "" : ",") + std::string("http://127.0.0.1:") + std::to_string(2000 + i);
    }
    for (const std::string& endpoints :
         {std::string(), std::string(" , "), std::string("http://127.0.0.1:1,,http://127.0.0.1:2"),
          std::string("http://127.0.0.1:1,http://127.0.0.1:1/"), std::string("https://127.0.0.1:1"),
          std::string("127.0.0.1:2379"), std::string("http://127.0.0.1:99999"), many}) {
        EXPECT_EQ(Client::open({.endpoints = endpoints}).status().code(), Errc::invalid_argument)
            << endpoints;
    }
    const std::string one = "http://127.0.0.1:1";
    EXPECT_EQ(Client::open({.endpoints = one, .request_timeout = 0ms}).status().code(),
              Errc::invalid_argument);
    EXPECT_EQ(Client::open({.endpoints = one, .calls_in_flight_max = 0}).status().code(),
              Errc::invalid_argument);
    EXPECT_EQ(Client::open({.endpoints = one, .range_keys_max = 0}).status().code(),
              Errc::invalid_argument);
    Result<std::unique_ptr<Client>> spaced =
        Client::open({.endpoints = " http://127.0.0.1:1 , http://127.0.0.1:2/ "});
    ASSERT_TRUE(spaced.ok()) << spaced.status().to_string();
    EXPECT_EQ((*spaced)->preferred_endpoint(), one);
}

}  // namespace
}  // namespace qrpay::etcd
