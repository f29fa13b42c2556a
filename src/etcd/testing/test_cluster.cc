#include "etcd/testing/test_cluster.h"

#include <fcntl.h>
#include <signal.h>  // POSIX: sigprocmask, kill
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "base/testing/child_process.h"
#include "http/client.h"

namespace qrpay::etcd::testing {

namespace {

using qrpay::testing::describe_exit;
using qrpay::testing::file_tail;
using qrpay::testing::file_size_or_zero;
using qrpay::testing::file_text;
using qrpay::testing::free_port;
using qrpay::testing::poll_exit;
using qrpay::testing::spawn;
using qrpay::testing::wait_exit;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* etcd_path = "/usr/bin/etcd";  // Debian's etcd-server (scripts/setup)
// Bounds that only stop a hang. Measured on the 2-core machine: 3 members healthy after
// 0.19-0.56 s with these settings, one after ~0.3 s; a SIGKILLed member is gone at once.
constexpr milliseconds ready_wait_max = seconds(30);
constexpr milliseconds gone_wait_max = seconds(10);
constexpr milliseconds health_poll = milliseconds(10);
// After kill(), the ports may stay bound for a moment: restart() tries again this long.
constexpr milliseconds leftover_retry_max = seconds(10);
constexpr int free_port_attempts = 3;
// Fast elections (so a lease TTL of 1 s is allowed: etcd's minimum is 1.5 election timeouts)
// and pre-vote (a rejoining member does not disturb the leader).
constexpr std::array fast_settings = {"--heartbeat-interval", "50", "--election-timeout", "500",
                                      "--pre-vote"};

std::string errno_text() { return std::generic_category().message(errno); }

// `count` distinct free ports on 127.0.0.1 (0 in place of one that could not be had).
std::vector<std::uint16_t> free_ports(std::size_t count) {
    std::vector<std::uint16_t> ports;
    while (ports.size() < count) {
        const std::uint16_t port = free_port();
        if (port == 0 || std::find(ports.begin(), ports.end(), port) == ports.end()) {
            ports.push_back(port);
        }
    }
    return ports;
}

std::string url_of(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

Result<std::unique_ptr<http::Client>> probe_client(const std::string& url) {
    return http::Client::open({.base_url = url,
                               .connect_timeout = milliseconds(200),
                               .response_timeout = milliseconds(1'000),
                               .connections_max = 1});
}

// Whether the member answers GET /health with {"health":"true"}: it runs and sees a leader.
bool healthy(http::Client& client) {
    Result<http::Response> answer = client.call({.method = "GET", .path = "/health"});
    return answer.ok() && answer->status == 200 &&
           answer->body.find(R"("health":"true")") != std::string::npos;
}

// Whether the member serves its peer port: GET /version answers once it has bootstrapped.
bool serves_peers(http::Client& client) {
    Result<http::Response> answer = client.call({.method = "GET", .path = "/version"});
    return answer.ok() && answer->status == 200;
}

// Whether the member at `url` says it leads: its status names its own id as the leader's.
bool says_it_leads(const std::string& url) {
    auto client = probe_client(url);
    if (!client.ok()) {
        return false;
    }
    Result<http::Response> answer =
        (*client)->call({.method = "POST", .path = "/v3/maintenance/status", .body = "{}"});
    if (!answer.ok() || answer->status != 200) {
        return false;
    }
    const nlohmann::json status = nlohmann::json::parse(answer->body, nullptr, false);
    if (!status.is_object() || !status.contains("leader") || !status.contains("header")) {
        return false;
    }
    const nlohmann::json& header = status["header"];
    return header.is_object() && header.contains("member_id") &&
           header["member_id"] == status["leader"];
}

bool port_taken(const std::string& log) {
    return log.find("address already in use") != std::string::npos;
}

std::string cluster_token() {
    static std::atomic<int> counter{0};
    return "qrpay-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

struct Member {
    std::string name;  // "m1", ...
    std::uint16_t client_port = 0;
    std::uint16_t peer_port = 0;
    std::string data_dir;  // dir/<name>
    std::string log_path;  // dir/<name>.log
    pid_t pid = -1;        // -1: not running
};

}  // namespace

struct TestCluster::Impl {
    std::string dir;  // the temporary directory, every member's working directory
    std::string token;
    std::vector<Member> members;
    pid_t owner = ::getpid();           // a forked child must not kill its parent's cluster
    qrpay::testing::Watchdog watchdog;  // cleans up after this process if it dies

    Status make_directory();
    void assign_ports();
    [[nodiscard]] std::string initial_cluster() const;
    [[nodiscard]] std::vector<std::string> command(const Member& member, bool existing) const;
    Status launch(Member& member, bool existing) const;
    Status wait_serving_peers(Member& member);
    Status wait_healthy(const std::vector<Member*>& waited);
    Status start_all();
    static Status kill_member(Member& member);
    void kill_all();
    Status restart_member(Member& member);
};

Status TestCluster::Impl::make_directory() {
    std::string pattern = "/tmp/qrpay_etcd_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        return {Errc::unavailable, "mkdtemp: " + errno_text()};
    }
    dir = pattern;
    return {};
}

void TestCluster::Impl::assign_ports() {
    const std::vector<std::uint16_t> ports = free_ports(2 * members.size());
    for (std::size_t i = 0; i < members.size(); ++i) {
        members[i].client_port = ports[2 * i];
        members[i].peer_port = ports[2 * i + 1];
    }
}

std::string TestCluster::Impl::initial_cluster() const {
    std::string text;
    for (const Member& member : members) {
        text += (text.empty() ? "" : ",") + member.name + "=" + url_of(member.peer_port);
    }
    return text;
}

std::vector<std::string> TestCluster::Impl::command(const Member& member, bool existing) const {
    const std::string client = url_of(member.client_port);
    const std::string peer = url_of(member.peer_port);
    std::vector<std::string> command = {
        etcd_path,
        "--name=" + member.name,
        "--data-dir=" + member.data_dir,
        "--logger=zap",
        "--log-outputs=stderr",
        "--listen-client-urls=" + client,
        "--advertise-client-urls=" + client,
        "--listen-peer-urls=" + peer,
        "--initial-advertise-peer-urls=" + peer,
        "--initial-cluster=" + initial_cluster(),
        "--initial-cluster-token=" + token,
        std::string("--initial-cluster-state=") + (existing ? "existing" : "new")};
    command.insert(command.end(), fast_settings.begin(), fast_settings.end());
    return command;
}

Status TestCluster::Impl::launch(Member& member, bool existing) const {
    const int input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (input < 0) {
        return {Errc::unavailable, "open /dev/null: " + errno_text()};
    }
    member.pid = spawn(command(member, existing), input, member.log_path, dir, false);
    ::close(input);
    if (member.pid < 0) {
        return {Errc::unavailable, "fork for etcd: " + errno_text()};
    }
    return {};
}

// Waits until every member in `waited` answers /health (a quorum must run for any to). Not
// ok, with the member's log tail, when one exited (then it is reaped) or they did not all get
// healthy in time (then they are killed).
Status TestCluster::Impl::wait_healthy(const std::vector<Member*>& waited) {
    std::vector<std::unique_ptr<http::Client>> clients;
    for (const Member* member : waited) {
        auto client = probe_client(url_of(member->client_port));
        if (!client.ok()) {
            return client.status();
        }
        clients.push_back(std::move(*client));
    }
    std::vector<bool> ready(waited.size(), false);
    const auto give_up = Clock::now() + ready_wait_max;
    while (std::find(ready.begin(), ready.end(), false) != ready.end()) {
        for (std::size_t i = 0; i < waited.size(); ++i) {
            Member& member = *waited[i];
            if (std::optional<int> status = poll_exit(member.pid)) {
                member.pid = -1;
                return {Errc::unavailable, "etcd " + member.name + " exited (" +
                                               describe_exit(*status) + "); its log ends:\n" +
                                               file_tail(member.log_path, 4096)};
            }
            ready[i] = ready[i] || healthy(*clients[i]);
        }
        if (Clock::now() >= give_up) {
            for (Member* member : waited) {
                (void)kill_member(*member);
            }
            return {Errc::unavailable, "etcd not healthy within 30 s; " + waited[0]->name +
                                           "'s log ends:\n" + file_tail(waited[0]->log_path, 4096)};
        }
        std::this_thread::sleep_for(health_poll);
    }
    return {};
}

// Waits until `member` serves its peer port. Not ok when it exited or did not get there in
// time (then it is killed).
Status TestCluster::Impl::wait_serving_peers(Member& member) {
    auto client = probe_client(url_of(member.peer_port));
    if (!client.ok()) {
        return client.status();
    }
    const auto give_up = Clock::now() + ready_wait_max;
    while (!serves_peers(**client)) {
        if (std::optional<int> status = poll_exit(member.pid)) {
            member.pid = -1;
            return {Errc::unavailable, "etcd " + member.name + " exited (" +
                                           describe_exit(*status) + "); its log ends:\n" +
                                           file_tail(member.log_path, 4096)};
        }
        if (Clock::now() >= give_up) {
            (void)kill_member(member);
            return {Errc::unavailable, "etcd " + member.name + " did not serve peers within 30 s"};
        }
        std::this_thread::sleep_for(health_poll);
    }
    return {};
}

// Launches the members of a new cluster one after the other, then waits for all of them to be
// healthy. One at a time, because a new member first asks every peer whether it is bootstrapped
// already, and a peer that listens but does not serve yet holds that question for 1 s (measured:
// 2 s for 3 members launched together, against ~0.3 s this way).
Status TestCluster::Impl::start_all() {
    std::vector<Member*> waited;
    for (Member& member : members) {
        if (Status launched = launch(member, false); !launched.ok()) {
            return launched;
        }
        if (Status serving = wait_serving_peers(member); !serving.ok()) {
            return serving;
        }
        waited.push_back(&member);
    }
    return wait_healthy(waited);
}

Status TestCluster::Impl::kill_member(Member& member) {
    if (member.pid < 0) {
        return {};
    }
    ::kill(member.pid, SIGKILL);
    if (!wait_exit(member.pid, gone_wait_max)) {
        return {Errc::timeout, "etcd " + member.name + " still running 10 s after SIGKILL"};
    }
    member.pid = -1;
    return {};
}

void TestCluster::Impl::kill_all() {
    for (Member& member : members) {
        (void)kill_member(member);
    }
}

// Starts a stopped member on its data directory; retries while its old ports are still bound.
Status TestCluster::Impl::restart_member(Member& member) {
    const auto give_up = Clock::now() + leftover_retry_max;
    for (;;) {
        const std::uintmax_t log_before = file_size_or_zero(member.log_path);
        if (Status launched = launch(member, true); !launched.ok()) {
            return launched;
        }
        Status ready = wait_healthy({&member});
        if (ready.ok() || member.pid > 0 || Clock::now() >= give_up ||
            !port_taken(file_text(member.log_path, log_before))) {
            return ready;
        }
        std::this_thread::sleep_for(milliseconds(20));
    }
}

TestCluster::TestCluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TestCluster::~TestCluster() {
    if (::getpid() != impl_->owner) {
        return;  // a forked child exiting: the cluster and its directory are the parent's
    }
    impl_->kill_all();
    impl_->watchdog.end();
    if (impl_->dir.empty()) {
        return;
    }
    if (std::getenv("QRPAY_TEST_KEEP_DIRS") != nullptr) {  // to read a failed test's logs
        std::fprintf(stderr, "kept %s\n", impl_->dir.c_str());
        return;
    }
    std::error_code ignored;  // a leftover temporary directory must not fail a test
    std::filesystem::remove_all(impl_->dir, ignored);
}

Result<std::unique_ptr<TestCluster>> TestCluster::start(const TestClusterOptions& options) {
    if (options.members < 1 || options.members > members_max) {
        return Status(Errc::invalid_argument,
                      "a test cluster has 1 to " + std::to_string(members_max) + " members");
    }
    if (::access(etcd_path, X_OK) != 0) {
        return Status(Errc::unavailable,
                      std::string("no ") + etcd_path + " (scripts/setup installs etcd-server)");
    }
    auto impl = std::make_unique<Impl>();
    Impl& cluster = *impl;
    // From here on the destructor kills the members and removes the directory on any failure.
    std::unique_ptr<TestCluster> owner(new TestCluster(std::move(impl)));
    if (Status made = cluster.make_directory(); !made.ok()) {
        return made;
    }
    if (Status watched = cluster.watchdog.start(cluster.dir, cluster.dir, "qrpay-etcd-watchdog");
        !watched.ok()) {
        return watched;
    }
    for (std::size_t i = 0; i < options.members; ++i) {
        const std::string name = "m" + std::to_string(i + 1);
        cluster.members.push_back(Member{.name = name,
                                         .data_dir = cluster.dir + "/" + name,
                                         .log_path = cluster.dir + "/" + name + ".log"});
    }
    // A free port may be taken by someone else before etcd binds it: then new ports, anew.
    for (int attempt = 1;; ++attempt) {
        cluster.token = cluster_token();
        cluster.assign_ports();
        Status started = cluster.start_all();
        if (started.ok()) {
            return owner;
        }
        cluster.kill_all();
        if (attempt == free_port_attempts || !port_taken(started.message())) {
            return started;
        }
        for (const Member& member : cluster.members) {
            std::error_code ignored;
            std::filesystem::remove_all(member.data_dir, ignored);
        }
    }
}

std::size_t TestCluster::size() const { return impl_->members.size(); }

std::string TestCluster::client_url(std::size_t member) const {
    QRPAY_ASSERT(member < size(), "no such member");
    return url_of(impl_->members[member].client_port);
}

std::string TestCluster::client_urls() const {
    std::string urls;
    for (std::size_t member = 0; member < size(); ++member) {
        urls += (member == 0 ? "" : ",") + client_url(member);
    }
    return urls;
}

std::size_t TestCluster::member_of(const std::string& url) const {
    for (std::size_t member = 0; member < size(); ++member) {
        if (client_url(member) == url) {
            return member;
        }
    }
    return size();
}

Result<std::size_t> TestCluster::leader() const {
    for (std::size_t member = 0; member < size(); ++member) {
        if (running(member) && says_it_leads(client_url(member))) {
            return member;
        }
    }
    return Status(Errc::unavailable, "no running member leads");
}

Status TestCluster::kill(std::size_t member) {
    if (member >= size()) {
        return {Errc::invalid_argument, "no member " + std::to_string(member)};
    }
    return impl_->kill_member(impl_->members[member]);
}

Status TestCluster::restart(std::size_t member) {
    if (member >= size()) {
        return {Errc::invalid_argument, "no member " + std::to_string(member)};
    }
    if (running(member)) {
        return {Errc::conflict, "etcd " + impl_->members[member].name + " is running"};
    }
    return impl_->restart_member(impl_->members[member]);
}

bool TestCluster::running(std::size_t member) const {
    if (member >= size()) {
        return false;
    }
    Member& state = impl_->members[member];
    if (state.pid > 0 && poll_exit(state.pid)) {
        state.pid = -1;  // it exited by itself
    }
    return state.pid > 0;
}

std::string TestCluster::log_tail(std::size_t member, std::size_t bytes_max) const {
    QRPAY_ASSERT(member < size(), "no such member");
    return file_tail(impl_->members[member].log_path, bytes_max);
}

TestCluster& shared_test_cluster() {
    // Started on first use (a function-local static is initialized once, thread-safely) and
    // killed by its destructor at exit, in this process only (see ~TestCluster).
    static const std::unique_ptr<TestCluster> cluster = [] {
        Result<std::unique_ptr<TestCluster>> started = TestCluster::start();
        if (!started.ok()) {
            std::fprintf(stderr, "shared_test_cluster: %s\n", started.status().to_string().c_str());
            std::abort();
        }
        return std::move(started).value();
    }();
    return *cluster;
}

}  // namespace qrpay::etcd::testing
