#include "tests/harness/patroni.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/testing/child_process.h"
#include "http/client.h"
#include "postgres/connection.h"

namespace qrpay::harness {

namespace {

using qrpay::testing::children_of;
using qrpay::testing::describe_exit;
using qrpay::testing::file_tail;
using qrpay::testing::file_text;
using qrpay::testing::free_port;
using qrpay::testing::poll_exit;
using qrpay::testing::process_gone;
using qrpay::testing::spawn;
using qrpay::testing::wait_exit;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* patroni_path = "/usr/bin/patroni";
constexpr const char* setpriv_path = "/usr/bin/setpriv";
constexpr const char* env_path = "/usr/bin/env";
constexpr const char* bin_dir = "/usr/lib/postgresql/15/bin";
// Bounds that only stop a hang. A fresh pair takes ~9 s on the 2-core machine (initdb, then the
// standby's base backup and its sync); a clean stop ~3 s.
constexpr milliseconds up_wait_max = seconds(90);
constexpr milliseconds stop_wait_max = seconds(20);
constexpr milliseconds gone_wait_max = seconds(10);
constexpr milliseconds poll_interval{50};

std::string errno_text() { return std::generic_category().message(errno); }

struct Member {
    std::string name;      // pg0, pg1
    std::string dir;       // owned by the server's user: Patroni's home and working directory
    std::string data_dir;  // dir/data, made by Patroni (initdb or pg_basebackup)
    std::string config_path;
    std::string log_path;  // Patroni's output and PostgreSQL's, every run appended
    std::uint16_t pg_port = 0;
    std::uint16_t rest_port = 0;
    pid_t patroni = -1;  // -1: not running
    std::unique_ptr<http::Client> rest;
};

// The settings of the harness reference, measured on this machine.
std::string config_text(const Member& member, const PatroniPairOptions& options) {
    const std::string rest = "127.0.0.1:" + std::to_string(member.rest_port);
    const std::string pg = "127.0.0.1:" + std::to_string(member.pg_port);
    return "scope: " + options.scope + "\nnamespace: /qrpay-test/\nname: " + member.name +
           "\nrestapi: {listen: '" + rest + "', connect_address: '" + rest +
           "'}\n"
           "etcd3: {hosts: '" +
           options.etcd_hosts +
           "'}\n"
           "bootstrap:\n"
           "  dcs:\n"
           "    ttl: 5\n"
           "    loop_wait: 1\n"
           "    retry_timeout: 2\n"
           "    maximum_lag_on_failover: 1048576\n"
           "    synchronous_mode: true\n"
           "    postgresql:\n"
           "      use_pg_rewind: true\n"
           "      use_slots: true\n"
           "      parameters: {wal_log_hints: 'on', synchronous_commit: 'on', fsync: 'on',\n"
           "                   wal_keep_size: 128MB, max_connections: 200}\n"
           "  initdb: [{encoding: UTF8}, {locale: C.UTF-8}]\n"
           "  pg_hba: [local all all trust, host replication replicator 127.0.0.1/32 trust,\n"
           "           host all all 127.0.0.1/32 trust]\n"
           "postgresql:\n"
           "  listen: '" +
           pg + "'\n  connect_address: '" + pg + "'\n  data_dir: '" + member.data_dir +
           "'\n  bin_dir: '" + bin_dir + "'\n  pgpass: '" + member.dir +
           "/pgpass'\n"
           "  authentication:\n"
           "    superuser: {username: postgres, password: su-pass}\n"
           "    replication: {username: replicator, password: rep-pass}\n"
           "    rewind: {username: rewinder, password: rw-pass}\n"
           "  parameters: {unix_socket_directories: '" +
           member.dir +
           "'}\n"
           "watchdog: {mode: 'off'}\n";
}

// The postmaster's pid from its postmaster.pid, or -1.
pid_t postmaster_of(const Member& member) {
    const std::string text = file_text(member.data_dir + "/postmaster.pid", 0);
    const auto pid = static_cast<pid_t>(std::atol(text.c_str()));
    return pid > 0 && !process_gone(pid) ? pid : -1;
}

// Whether the member's REST API answers `path` with 200 now.
bool rest_says(const Member& member, const char* path) {
    Result<http::Response> answer =
        member.rest->call({.method = "GET", .path = path, .timeout = milliseconds(1'000)});
    return answer.ok() && answer->status == 200;
}

// A crash: Patroni first, so that it cannot start a new postmaster.
Status kill_member(Member& member) {
    const pid_t postmaster = postmaster_of(member);
    if (member.patroni > 0) {
        ::kill(member.patroni, SIGKILL);
        (void)wait_exit(member.patroni, gone_wait_max);
        member.patroni = -1;
    }
    if (postmaster < 0) {
        return {};
    }
    std::vector<pid_t> doomed = children_of(postmaster);
    ::kill(postmaster, SIGKILL);
    for (pid_t child : doomed) {
        ::kill(child, SIGKILL);
    }
    doomed.push_back(postmaster);
    const auto give_up = Clock::now() + gone_wait_max;
    while (!std::all_of(doomed.begin(), doomed.end(), process_gone)) {
        if (Clock::now() >= give_up) {
            return {Errc::timeout, "postgres of " + member.name + " still runs after SIGKILL"};
        }
        std::this_thread::sleep_for(milliseconds(2));
    }
    return {};
}

// SIGTERM: Patroni stops PostgreSQL (fast) and leaves the cluster.
void stop_member(Member& member) {
    if (member.patroni > 0) {
        ::kill(member.patroni, SIGTERM);
    }
}

}  // namespace

struct PatroniPair::Impl {
    PatroniPairOptions options;
    std::string dir;
    std::optional<std::pair<uid_t, gid_t>> user;  // postgres, when this process is root
    std::array<Member, members> nodes;
    pid_t owner = ::getpid();
    qrpay::testing::Watchdog watchdog;

    Status make_directories();
    Status launch(Member& member) const;
    [[nodiscard]] std::string tails() const;
};

Status PatroniPair::Impl::make_directories() {
    std::string pattern = "/tmp/qrpay_patroni_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        return {Errc::io_error, "mkdtemp: " + errno_text()};
    }
    dir = pattern;
    if (::chmod(dir.c_str(), 0711) != 0) {  // the server's user passes through to its own dirs
        return {Errc::io_error, "chmod " + dir + ": " + errno_text()};
    }
    for (std::size_t i = 0; i < members; ++i) {
        Member& member = nodes.at(i);
        member.name = "pg" + std::to_string(i);
        member.dir = dir + "/" + member.name;
        member.data_dir = member.dir + "/data";
        member.config_path = member.dir + "/patroni.yml";
        member.log_path = dir + "/" + member.name + ".log";
        member.pg_port = free_port();
        member.rest_port = free_port();
        if (::mkdir(member.dir.c_str(), 0700) != 0 ||
            (user && ::chown(member.dir.c_str(), user->first, user->second) != 0)) {
            return {Errc::io_error, "make " + member.dir + ": " + errno_text()};
        }
        std::ofstream(member.config_path) << config_text(member, options);
        auto rest =
            http::Client::open({.base_url = "http://127.0.0.1:" + std::to_string(member.rest_port),
                                .connect_timeout = milliseconds(500),
                                .connections_max = 1});
        if (!rest.ok()) {
            return rest.status();
        }
        member.rest = std::move(*rest);
    }
    return {};
}

Status PatroniPair::Impl::launch(Member& member) const {
    std::vector<std::string> command = {env_path, "HOME=" + member.dir, patroni_path,
                                        member.config_path};
    if (user) {  // PostgreSQL refuses root; setpriv execs in place, so Patroni is our child
        command.insert(command.begin(),
                       {setpriv_path, "--reuid=postgres", "--regid=postgres", "--init-groups"});
    }
    member.patroni = spawn(std::move(command), member.log_path, member.dir);
    if (member.patroni < 0) {
        return {Errc::unavailable, "fork for patroni: " + errno_text()};
    }
    return {};
}

std::string PatroniPair::Impl::tails() const {
    std::string text;
    for (const Member& member : nodes) {
        text += "--- " + member.name + " (" + member.log_path + "):\n" +
                file_tail(member.log_path, 3000) + "\n";
    }
    return text;
}

PatroniPair::PatroniPair(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PatroniPair::~PatroniPair() {
    if (::getpid() != impl_->owner) {
        return;  // a forked child exiting: the pair is its parent's
    }
    for (Member& member : impl_->nodes) {
        stop_member(member);
    }
    for (Member& member : impl_->nodes) {
        if (member.patroni > 0) {
            std::optional<int> exited = wait_exit(member.patroni, stop_wait_max);
            member.patroni = exited ? -1 : member.patroni;
        }
        (void)kill_member(member);  // what a clean stop left behind
        member.rest.reset();
    }
    impl_->watchdog.end();
    if (std::getenv("QRPAY_TEST_KEEP_DIRS") != nullptr) {
        std::fprintf(stderr, "kept %s\n", impl_->dir.c_str());
        return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(impl_->dir, ignored);
}

Result<std::unique_ptr<PatroniPair>> PatroniPair::start(const PatroniPairOptions& options) {
    if (::access(patroni_path, X_OK) != 0) {
        return Status(Errc::unavailable, "no patroni (scripts/setup installs it)");
    }
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    if (::geteuid() == 0) {
        const passwd* postgres = ::getpwnam("postgres");
        if (postgres == nullptr) {
            return Status(Errc::unavailable, "no user `postgres` to run Patroni as");
        }
        impl->user = std::make_pair(postgres->pw_uid, postgres->pw_gid);
    }
    Impl& pair = *impl;
    std::unique_ptr<PatroniPair> started(new PatroniPair(std::move(impl)));
    if (Status made = pair.make_directories(); !made.ok()) {
        return made;
    }
    if (Status watched = pair.watchdog.start(pair.dir, pair.dir, "qrpay-patroni-watchdog");
        !watched.ok()) {
        return watched;
    }
    // Both at once: one wins the initialize key and runs initdb, the other waits for it and
    // takes a base backup.
    for (Member& member : pair.nodes) {
        if (Status launched = pair.launch(member); !launched.ok()) {
            return launched;
        }
    }
    if (Status up = started->wait_primary_and_sync(up_wait_max); !up.ok()) {
        return Status(Errc::unavailable, up.message() + "\n" + pair.tails());
    }
    return started;
}

std::string PatroniPair::url(std::string_view database) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(impl_->nodes[0].pg_port) +
           ",127.0.0.1:" + std::to_string(impl_->nodes[1].pg_port) + "/" + std::string(database) +
           "?target_session_attrs=read-write&connect_timeout=2";
}

Status PatroniPair::create_database(std::string_view name) {
    const bool plain =
        !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        });
    if (!plain) {
        return {Errc::invalid_argument, "a database name of [a-z0-9_], 1 to 63 bytes"};
    }
    auto connection = postgres::Connection::open(url("postgres"));
    if (!connection.ok()) {
        return connection.status();
    }
    Status created = (*connection)->run_script("CREATE DATABASE " + std::string(name));
    if (!created.ok() && (*connection)->sqlstate() == "42P04") {
        return {Errc::conflict, created.message()};
    }
    return created;
}

Result<std::size_t> PatroniPair::primary() const {
    for (std::size_t i = 0; i < members; ++i) {
        if (impl_->nodes.at(i).patroni > 0 && rest_says(impl_->nodes.at(i), "/primary")) {
            return i;
        }
    }
    return Status(Errc::unavailable, "no member is the primary now");
}

Status PatroniPair::wait_primary_and_sync(std::chrono::milliseconds wait_max) const {
    const auto give_up = Clock::now() + wait_max;
    for (;;) {
        Result<std::size_t> leader = primary();
        if (leader.ok() && rest_says(impl_->nodes.at(1 - *leader), "/sync")) {
            return {};
        }
        for (const Member& member : impl_->nodes) {
            if (member.patroni > 0) {
                if (std::optional<int> status = poll_exit(member.patroni)) {
                    return {Errc::unavailable,
                            "patroni " + member.name + " exited (" + describe_exit(*status) + ")"};
                }
            }
        }
        if (Clock::now() >= give_up) {
            return {Errc::timeout, "no primary with a sync standby within " +
                                       std::to_string(wait_max.count()) + " ms"};
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

Status PatroniPair::kill(std::size_t member) {
    if (member >= members) {
        return {Errc::invalid_argument, "no such member"};
    }
    return kill_member(impl_->nodes.at(member));
}

Status PatroniPair::restart(std::size_t member) {
    if (member >= members) {
        return {Errc::invalid_argument, "no such member"};
    }
    if (impl_->nodes.at(member).patroni > 0) {
        return {Errc::conflict, "the member runs"};
    }
    return impl_->launch(impl_->nodes.at(member));
}

std::string PatroniPair::log_tail(std::size_t member, std::size_t bytes_max) const {
    return member < members ? file_tail(impl_->nodes.at(member).log_path, bytes_max) : "";
}

}  // namespace qrpay::harness
