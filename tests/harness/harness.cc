#include "tests/harness/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/assert.h"
#include "base/testing/child_process.h"
#include "postgres/testing/test_server.h"

namespace qrpay::harness {

TempDir::TempDir() {
    char pattern[] = "/tmp/qrpay-test-XXXXXX";
    char* made = mkdtemp(pattern);
    QRPAY_ASSERT(made != nullptr, "mkdtemp failed");
    path_ = made;
}

TempDir::~TempDir() {
    if (std::getenv("QRPAY_TEST_KEEP_DIRS") != nullptr) {  // to read a failed test's logs
        std::fprintf(stderr, "kept %s\n", path_.c_str());
        return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::uint16_t free_port() {
    const std::uint16_t port = qrpay::testing::free_port();
    QRPAY_ASSERT(port != 0, "no ephemeral port on 127.0.0.1");
    return port;
}

Process::Process(std::vector<std::string> argv,
                 std::string log_path,
                 std::map<std::string, std::string> environment)
    : log_path_(std::move(log_path)) {
    pid_ = ::fork();
    QRPAY_ASSERT(pid_ >= 0, "fork failed");
    if (pid_ == 0) {
        int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
        for (const auto& [name, value] : environment) {
            ::setenv(name.c_str(), value.c_str(), 1);
        }
        std::vector<char*> args;
        for (auto& arg : argv) {
            args.push_back(arg.data());
        }
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        std::perror("execv");
        ::_exit(127);
    }
}

Process::~Process() { kill_hard(); }

bool Process::running() {
    if (pid_ <= 0) {
        return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

void Process::signal(int signal_number) {
    if (pid_ > 0) {
        ::kill(pid_, signal_number);
    }
}

void Process::kill_hard() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

int Process::terminate() {
    if (pid_ <= 0) {
        return -1;
    }
    ::kill(pid_, SIGTERM);
    return reap_within(std::chrono::seconds(10));
}

int Process::wait_exit() { return reap_within(std::chrono::seconds(30)); }

int Process::reap_within(std::chrono::seconds limit) {
    if (pid_ <= 0) {
        return -1;
    }
    auto give_up = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < give_up) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill_hard();
    return -1;
}

std::string Process::log_tail(std::size_t bytes) const {
    std::ifstream in(log_path_, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string all = text.str();
    return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

std::string qrpay_binary() { return QRPAY_BINARY_PATH; }

std::unique_ptr<http::Client> client_for(std::uint16_t port,
                                         std::chrono::milliseconds timeout,
                                         std::size_t connections) {
    http::ClientOptions options;
    options.base_url = "http://127.0.0.1:" + std::to_string(port);
    options.response_timeout = timeout;
    options.connections_max = connections;
    options.calls_waiting_max = 4096;
    auto client = http::Client::open(options);
    QRPAY_ASSERT(client.ok(), "client for 127.0.0.1 opens");
    return std::move(client).value();
}

Status wait_until_ready(std::uint16_t port,
                        const std::string& path,
                        std::chrono::milliseconds deadline) {
    auto client = client_for(port, std::chrono::milliseconds(500), 1);
    auto give_up = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < give_up) {
        auto response = client->call({.method = "GET", .path = path});
        if (response.ok() && response->status == 200) {
            return {};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return {Errc::timeout, "not ready on port " + std::to_string(port)};
}

AgencySim::AgencySim(const std::string& dir, AgencySimFlags flags) : port_(free_port()) {
    std::filesystem::create_directories(dir);
    process_ = std::make_unique<Process>(
        std::vector<std::string>{qrpay_binary(), "agency-sim", "--listen",
                                 "127.0.0.1:" + std::to_string(port_), "--data-dir", dir,
                                 "--decline-rate", std::to_string(flags.decline_rate),
                                 "--error-5xx-rate", std::to_string(flags.error_5xx_rate),
                                 "--timeout-rate", std::to_string(flags.timeout_rate), "--latency",
                                 std::to_string(flags.latency_ms) + "ms"},
        dir + "/agency-sim.log");
    Status ready = wait_until_ready(port_, "/healthz", std::chrono::seconds(30));
    if (!ready.ok()) {
        std::fprintf(stderr, "agency-sim log:\n%s\n", process_->log_tail().c_str());
    }
    QRPAY_ASSERT(ready.ok(), "agency-sim became ready");
}

Server::Server(std::string data_dir, std::vector<std::string> extra_flags)
    : data_dir_(std::move(data_dir)),
      extra_flags_(std::move(extra_flags)),
      port_(free_port()),
      admin_port_(free_port()) {
    std::filesystem::create_directories(data_dir_);
    add_postgres_journal_when_asked();
}

// QRPAY_TEST_JOURNAL=postgres (ctest's pg.* copies of the integration tests) puts the server's
// journal in a database of its own on the test binary's PostgreSQL server, named after the
// data directory so that a restart finds it again.
void Server::add_postgres_journal_when_asked() {
    const char* backend = std::getenv("QRPAY_TEST_JOURNAL");
    if (backend == nullptr || std::string_view(backend) != "postgres" ||
        std::find(extra_flags_.begin(), extra_flags_.end(), "--journal") != extra_flags_.end()) {
        return;
    }
    auto& server = postgres::testing::shared_test_server();
    // In hex: twenty decimal digits in the log would look like a payment code to the tests
    // that look for leaked codes.
    char database[32];
    std::snprintf(database, sizeof database, "serve_%016zx", std::hash<std::string>{}(data_dir_));
    Status created = server.create_database(database);
    if (!created.ok() && created.code() != Errc::conflict) {
        std::fprintf(stderr, "test database: %s\n", created.to_string().c_str());
        QRPAY_ASSERT(false, "a test database exists");
    }
    journal_url_ = server.url(database);
    extra_flags_.insert(extra_flags_.end(), {"--journal", journal_url_});
}

void Server::start() {
    // A port free a moment ago may be taken by a parallel test before serve binds it: then the
    // server starts again on new ports (at most a few times), instead of failing the test.
    constexpr int bind_attempts_max = 3;
    for (int attempt = 1;; ++attempt) {
        spawn();
        Status ready = wait_ready_or_exit();
        if (ready.ok()) {
            return;
        }
        bool port_taken = !process_->running() &&
                          process_->log_tail().find("Address already in use") != std::string::npos;
        if (!port_taken || attempt == bind_attempts_max) {
            std::fprintf(stderr, "qrpay serve log:\n%s\n", process_->log_tail().c_str());
            QRPAY_ASSERT(false, "qrpay serve became ready");
        }
        port_ = free_port();
        admin_port_ = free_port();
    }
}

std::string Server::logs() const {
    std::string all;
    for (int start = 1; start <= starts_; ++start) {
        std::string path = data_dir_ + "/serve-" + std::to_string(start) + ".log";
        std::ifstream in(path, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        all += "--- " + path + "\n" + text.str();
    }
    return all;
}

void Server::spawn() {
    std::vector<std::string> argv = {qrpay_binary(),   "serve",
                                     "--listen",       "127.0.0.1:" + std::to_string(port_),
                                     "--admin-listen", "127.0.0.1:" + std::to_string(admin_port_),
                                     "--data-dir",     data_dir_};
    argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
    // Tests ask for many codes as one consumer: the per-consumer limits stay out of their way
    // unless a test sets them itself.
    for (const char* limit : {"--codes-burst-max", "--open-codes-max"}) {
        if (std::find(extra_flags_.begin(), extra_flags_.end(), limit) == extra_flags_.end()) {
            argv.insert(argv.end(), {limit, "1000000000"});
        }
    }
    process_ =
        std::make_unique<Process>(argv, data_dir_ + "/serve-" + std::to_string(++starts_) + ".log");
}

// Ready within 30 s, or the process gave up before (bind failed, bad flags).
Status Server::wait_ready_or_exit() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        if (wait_until_ready(admin_port_, "/readyz", std::chrono::milliseconds(250)).ok()) {
            return {};
        }
        if (!process_->running()) {
            return Status(Errc::unavailable, "qrpay serve exited before it was ready");
        }
    }
    return Status(Errc::timeout, "qrpay serve was not ready within 30 s");
}

std::string Server::token(const std::string& role, const std::string& subject) const {
    // Quoted: subjects may hold shell characters such as '|'.
    return run_and_capture(qrpay_binary() + " token issue --data-dir " + data_dir_ + " --role " +
                           role + " --sub '" + subject + "' --ttl 1h");
}

std::string run_and_capture(const std::string& command) {
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return "";
    }
    std::string out;
    char buffer[4096];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
        out.append(buffer, got);
    }
    ::pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

}  // namespace qrpay::harness
