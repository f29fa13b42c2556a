#include "postgres/testing/test_server.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

#include "base/testing/child_process.h"

namespace qrpay::postgres::testing {

namespace {

using qrpay::testing::children_of;
using qrpay::testing::describe_exit;
using qrpay::testing::file_size_or_zero;
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

// Debian's paths (scripts/setup installs postgresql-15 and util-linux).
constexpr const char* bin_dir = "/usr/lib/postgresql/15/bin";
constexpr const char* runuser_path = "/usr/sbin/runuser";
constexpr const char* setpriv_path = "/usr/bin/setpriv";
// Bounds that only stop a hang. Measured on the 2-core machine: initdb ~0.45 s, a start ~50 ms,
// a restart with crash recovery ~100 ms; seconds when the disk is busy, as crash recovery
// first fsyncs the whole data directory.
constexpr milliseconds ready_wait_max = seconds(30);
constexpr milliseconds stop_wait_max = seconds(30);
constexpr milliseconds gone_wait_max = seconds(10);
// After kill(), a backend the postmaster forked just before its death may hold the old shared
// memory for a moment: restart() tries again for this long.
constexpr milliseconds leftover_retry_max = seconds(10);
constexpr int free_port_attempts = 3;

// The account the server runs as when this process is root (initdb and postgres refuse root).
struct ServerUser {
    uid_t uid = 0;
    gid_t gid = 0;
};

std::string errno_text() { return std::generic_category().message(errno); }

// Whether a postmaster.pid says that postmaster `pid` accepts connections: its first line is
// the pid, its eighth the status (what pg_ctl reads). Unlike pinging until it answers, this
// logs nothing per poll and cannot mistake another server on the port for this one.
bool says_ready(const std::string& pid_file, pid_t pid) {
    std::istringstream lines(pid_file);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
        if (number == 1 && line != std::to_string(pid)) {
            return false;
        }
        if (number == 8) {
            return line.starts_with("ready");
        }
    }
    return false;
}

// Why a postmaster refuses to start while processes of a killed one linger, as logged.
bool leftover_of_killed_server(std::string_view log) {
    return log.find("pre-existing shared memory block") != std::string_view::npos ||
           log.find("lock file") != std::string_view::npos ||
           log.find("Address already in use") != std::string_view::npos;
}

Result<ServerUser> server_user() {
    const passwd* user = ::getpwnam("postgres");
    if (user == nullptr) {
        return Status(Errc::unavailable,
                      "no user `postgres` to run the test server as (scripts/setup installs "
                      "postgresql-15)");
    }
    return ServerUser{user->pw_uid, user->pw_gid};
}

using ConnectionPtr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

std::string trimmed_error(const PGconn* connection) {
    std::string message = PQerrorMessage(connection);
    while (!message.empty() && message.back() == '\n') {
        message.pop_back();
    }
    return message;
}

}  // namespace

struct TestServer::Impl {
    std::string dir;         // the temporary directory; everything below lives in it
    std::string data_dir;    // dir/data: the cluster, owned by the server's user
    std::string socket_dir;  // dir/socket: the Unix socket, owned by the server's user
    std::string log_path;    // dir/postgres.log: the postmaster's output, all runs appended
    std::uint16_t port = 0;
    std::vector<std::string> settings;
    std::optional<ServerUser> user;     // set when this process is root
    pid_t postmaster = -1;              // -1: not running
    pid_t owner = ::getpid();           // a forked child must not stop its parent's server
    qrpay::testing::Watchdog watchdog;  // cleans up after this process if it dies

    Status make_directories();
    Status initdb();
    [[nodiscard]] std::vector<std::string> postmaster_command() const;
    Status launch_and_wait_ready();
    Status start_postmaster(milliseconds leftover_retry);
    Status kill_postmaster();
    Status stop_postmaster(milliseconds wait_max);
    Result<ConnectionPtr> connect_admin() const;
    Status admin_command(const std::string& before,
                         std::string_view name,
                         const std::string& after) const;
};

Status TestServer::Impl::make_directories() {
    std::string pattern = "/tmp/qrpay_pg_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        return {Errc::io_error, "mkdtemp: " + errno_text()};
    }
    dir = pattern;
    data_dir = dir + "/data";
    socket_dir = dir + "/socket";
    log_path = dir + "/postgres.log";
    // mkdtemp makes 0700; the server's user must pass through to its own subdirectories.
    // Search without read keeps the directory closed to listings by anyone else.
    if (::chmod(dir.c_str(), 0711) != 0 || ::mkdir(data_dir.c_str(), 0700) != 0 ||
        ::mkdir(socket_dir.c_str(), 0711) != 0) {
        return {Errc::io_error, "make " + dir + ": " + errno_text()};
    }
    if (user && (::chown(data_dir.c_str(), user->uid, user->gid) != 0 ||
                 ::chown(socket_dir.c_str(), user->uid, user->gid) != 0)) {
        return {Errc::io_error, "chown to postgres in " + dir + ": " + errno_text()};
    }
    return {};
}

Status TestServer::Impl::initdb() {
    std::vector<std::string> command = {std::string(bin_dir) + "/initdb",
                                        "-D",
                                        data_dir,
                                        "-U",
                                        "postgres",
                                        "-A",
                                        "trust",
                                        "-E",
                                        "UTF8",
                                        "--locale=C.UTF-8",
                                        "--no-sync"};
    if (user) {  // runuser, since initdb refuses root
        command.insert(command.begin(), {runuser_path, "-u", "postgres", "--"});
    }
    const std::string output_path = dir + "/initdb.log";
    pid_t pid = spawn(std::move(command), output_path, data_dir);
    if (pid < 0) {
        return {Errc::unavailable, "fork for initdb: " + errno_text()};
    }
    std::optional<int> status = wait_exit(pid, seconds(300));  // only stops a hang
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        if (!status) {
            ::kill(pid, SIGKILL);
            (void)wait_exit(pid, seconds(10));
        }
        return {Errc::unavailable, "initdb " + data_dir + " failed (" +
                                       (status ? describe_exit(*status) : std::string("hung")) +
                                       "):\n" + file_tail(output_path, 4096)};
    }
    return {};
}

std::vector<std::string> TestServer::Impl::postmaster_command() const {
    std::vector<std::string> command;
    if (user) {
        // setpriv execs in place, so the forked child is the postmaster itself.
        command = {setpriv_path, "--reuid=postgres", "--regid=postgres", "--init-groups"};
    }
    for (std::string arg :
         {std::string(bin_dir) + "/postgres", std::string("-D"), data_dir, std::string("-p"),
          std::to_string(port), std::string("-k"), socket_dir}) {
        command.push_back(std::move(arg));
    }
    // What a test measures must be durable, so the durability settings are stated, not assumed.
    for (const char* setting : {"listen_addresses=127.0.0.1", "fsync=on", "synchronous_commit=on",
                                "max_connections=200", "shared_buffers=128MB"}) {
        command.insert(command.end(), {"-c", setting});
    }
    for (const std::string& setting : settings) {
        command.insert(command.end(), {"-c", setting});
    }
    return command;
}

// Launches the postmaster and waits until it accepts connections. Not ok when it exited (then
// it is reaped) or did not get ready in time (then it is killed).
Status TestServer::Impl::launch_and_wait_ready() {
    postmaster = spawn(postmaster_command(), log_path, data_dir);
    if (postmaster < 0) {
        return {Errc::unavailable, "fork for postgres: " + errno_text()};
    }
    const auto give_up = Clock::now() + ready_wait_max;
    while (!says_ready(file_text(data_dir + "/postmaster.pid", 0), postmaster)) {
        if (std::optional<int> status = poll_exit(postmaster)) {
            postmaster = -1;
            return {Errc::unavailable, "postgres exited (" + describe_exit(*status) + ")"};
        }
        if (Clock::now() >= give_up) {
            (void)kill_postmaster();
            return {Errc::unavailable, "postgres did not accept connections within 30 s"};
        }
        std::this_thread::sleep_for(milliseconds(5));
    }
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) +
                                 " user=postgres dbname=postgres connect_timeout=10";
    if (PQping(conninfo.c_str()) != PQPING_OK) {
        (void)kill_postmaster();
        return {Errc::unavailable, "postgres says it is ready but does not answer on 127.0.0.1"};
    }
    return {};
}

// Starts the postmaster; when it refuses because of a killed one's leftovers (its shared memory
// still attached, its port still bound), tries again for up to `leftover_retry`.
Status TestServer::Impl::start_postmaster(milliseconds leftover_retry) {
    const auto give_up = Clock::now() + leftover_retry;
    for (;;) {
        const std::uintmax_t log_before = file_size_or_zero(log_path);
        Status started = launch_and_wait_ready();
        if (started.ok() || postmaster > 0 || Clock::now() >= give_up ||
            !leftover_of_killed_server(file_text(log_path, log_before))) {
            return started;
        }
        std::this_thread::sleep_for(milliseconds(20));
    }
}

Status TestServer::Impl::kill_postmaster() {
    if (postmaster < 0) {
        return {};
    }
    // Its children are listed first: once it dies they belong to PID 1. SIGKILL goes to the
    // postmaster first, so that it cannot react to a child's death by forking new ones.
    std::vector<pid_t> children = children_of(postmaster);
    ::kill(postmaster, SIGKILL);
    for (pid_t child : children) {
        ::kill(child, SIGKILL);
    }
    (void)wait_exit(postmaster, gone_wait_max);
    postmaster = -1;
    const auto give_up = Clock::now() + gone_wait_max;
    while (!std::all_of(children.begin(), children.end(), process_gone)) {
        if (Clock::now() >= give_up) {
            return {Errc::timeout, "postgres backends still running 10 s after SIGKILL"};
        }
        std::this_thread::sleep_for(milliseconds(2));
    }
    return {};
}

Status TestServer::Impl::stop_postmaster(milliseconds wait_max) {
    if (postmaster < 0) {
        return {};
    }
    ::kill(postmaster, SIGINT);  // fast shutdown: ends sessions, writes a shutdown checkpoint
    if (!wait_exit(postmaster, wait_max)) {
        return {Errc::timeout,
                "postgres still running " + std::to_string(wait_max.count()) + " ms after SIGINT"};
    }
    postmaster = -1;
    return {};
}

Result<ConnectionPtr> TestServer::Impl::connect_admin() const {
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) +
                                 " user=postgres dbname=postgres connect_timeout=10";
    ConnectionPtr connection(PQconnectdb(conninfo.c_str()), &PQfinish);
    if (connection == nullptr) {
        return Status(Errc::unavailable, "connect to the test server: out of memory");
    }
    if (PQstatus(connection.get()) != CONNECTION_OK) {
        return Status(Errc::unavailable,
                      "connect to the test server: " + trimmed_error(connection.get()));
    }
    // DROP DATABASE IF EXISTS notices would go to stderr otherwise.
    PQsetNoticeProcessor(
        connection.get(), [](void* /*unused*/, const char* /*unused*/) {}, nullptr);
    return connection;
}

// Runs `before` + the quoted identifier `name` + `after` on the `postgres` database.
Status TestServer::Impl::admin_command(const std::string& before,
                                       std::string_view name,
                                       const std::string& after) const {
    if (name.empty() || name.size() > 63) {
        // PostgreSQL would truncate a longer name, so two long names could meet.
        return {Errc::invalid_argument, "database name must have 1 to 63 bytes"};
    }
    Result<ConnectionPtr> connection = connect_admin();
    if (!connection.ok()) {
        return connection.status();
    }
    char* quoted = PQescapeIdentifier(connection->get(), name.data(), name.size());
    if (quoted == nullptr) {
        return {Errc::invalid_argument, "database name: " + trimmed_error(connection->get())};
    }
    const std::string sql = before + quoted + after;
    PQfreemem(quoted);
    ResultPtr result(PQexec(connection->get(), sql.c_str()), &PQclear);
    if (PQresultStatus(result.get()) == PGRES_COMMAND_OK) {
        return {};
    }
    const char* sqlstate = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    const bool duplicate = sqlstate != nullptr && std::strcmp(sqlstate, "42P04") == 0;
    return {duplicate ? Errc::conflict : Errc::io_error,
            sql + ": " + trimmed_error(connection->get())};
}

TestServer::TestServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TestServer::~TestServer() {
    if (::getpid() != impl_->owner) {
        return;  // a forked child exiting: the server and its directory are the parent's
    }
    if (!impl_->stop_postmaster(seconds(10)).ok()) {
        (void)impl_->kill_postmaster();
    }
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

Result<std::unique_ptr<TestServer>> TestServer::start(const TestServerOptions& options) {
    if (::access((std::string(bin_dir) + "/postgres").c_str(), X_OK) != 0) {
        return Status(Errc::unavailable, std::string("no PostgreSQL 15 in ") + bin_dir +
                                             " (scripts/setup installs postgresql-15)");
    }
    auto impl = std::make_unique<Impl>();
    impl->settings = options.settings;
    if (::geteuid() == 0) {  // otherwise the server runs as this process's user
        Result<ServerUser> user = server_user();
        if (!user.ok()) {
            return user.status();
        }
        impl->user = *user;
    }
    Impl& server_impl = *impl;
    // From here on the destructor stops the server and removes the directory on any failure.
    std::unique_ptr<TestServer> server(new TestServer(std::move(impl)));
    if (Status made = server_impl.make_directories(); !made.ok()) {
        return made;
    }
    if (Status watched =
            server_impl.watchdog.start(server_impl.data_dir, server_impl.dir, "qrpay-pg-watchdog");
        !watched.ok()) {
        return watched;
    }
    if (Status initialized = server_impl.initdb(); !initialized.ok()) {
        return initialized;
    }
    // A free port may be taken by someone else before the postmaster binds it: then another.
    for (int attempt = 1;; ++attempt) {
        server_impl.port = options.port != 0 ? options.port : free_port();
        const std::uintmax_t log_before = file_size_or_zero(server_impl.log_path);
        Status started = server_impl.start_postmaster(milliseconds(0));
        if (started.ok()) {
            return server;
        }
        const bool port_taken =
            file_text(server_impl.log_path, log_before).find("Address already in use") !=
            std::string::npos;
        if (options.port != 0 || !port_taken || attempt == free_port_attempts) {
            return Status(Errc::unavailable,
                          started.message() + "; its log ends:\n" + server->log_tail());
        }
    }
}

std::uint16_t TestServer::port() const { return impl_->port; }

std::string TestServer::url(std::string_view database) const {
    std::string url = "postgresql://postgres@127.0.0.1:" + std::to_string(impl_->port) + "/";
    for (char c : database) {  // percent-encoded outside the unreserved characters
        if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' ||
            c == '~') {
            url += c;
        } else {
            constexpr std::string_view hex = "0123456789ABCDEF";
            const auto byte = static_cast<unsigned char>(c);
            url += '%';
            url += hex[byte >> 4];
            url += hex[byte & 0xF];
        }
    }
    return url;
}

Status TestServer::create_database(std::string_view name) {
    // template0: empty whatever a test did to template1.
    return impl_->admin_command("CREATE DATABASE ", name, " TEMPLATE template0");
}

Status TestServer::drop_database(std::string_view name) {
    // FORCE ends the sessions a test left open on it.
    return impl_->admin_command("DROP DATABASE IF EXISTS ", name, " WITH (FORCE)");
}

Status TestServer::kill() { return impl_->kill_postmaster(); }

Status TestServer::stop() { return impl_->stop_postmaster(stop_wait_max); }

Status TestServer::restart() {
    if (running()) {
        return {Errc::conflict, "the test server is running"};
    }
    Status started = impl_->start_postmaster(leftover_retry_max);
    if (!started.ok()) {
        return {started.code(), started.message() + "; its log ends:\n" + log_tail()};
    }
    return {};
}

bool TestServer::running() const {
    if (impl_->postmaster > 0 && poll_exit(impl_->postmaster)) {
        impl_->postmaster = -1;  // it exited by itself
    }
    return impl_->postmaster > 0;
}

std::string TestServer::log_tail(std::size_t bytes_max) const {
    return file_tail(impl_->log_path, bytes_max);
}

TestServer& shared_test_server() {
    // Started on first use (a function-local static is initialized once, thread-safely) and
    // stopped by its destructor at exit, in this process only (see ~TestServer).
    static const std::unique_ptr<TestServer> server = [] {
        Result<std::unique_ptr<TestServer>> started = TestServer::start();
        if (!started.ok()) {
            std::fprintf(stderr, "shared_test_server: %s\n", started.status().to_string().c_str());
            std::abort();
        }
        return std::move(started).value();
    }();
    return *server;
}

std::string unique_database_name(std::string_view suffix) {
    static std::atomic<std::uint64_t> counter{0};
    std::string name = "t_" + std::to_string(::getpid()) + "_" +
                       std::to_string(counter.fetch_add(1) + 1) + "_" + std::string(suffix);
    for (char& c : name) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            c = '_';
        }
    }
    name.resize(std::min<std::size_t>(name.size(), 63));  // PostgreSQL's identifier limit
    return name;
}

}  // namespace qrpay::postgres::testing
