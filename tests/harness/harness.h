#pragma once
// Test harness: real processes on 127.0.0.1 in temporary directories (STYLE 2.8).
// Every child is killed in teardown, also when the test fails; every wait has a deadline.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "http/client.h"

namespace qrpay::harness {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port();

// A child process; its stdout and stderr go to `log_path`.
class Process {
public:
    Process(std::vector<std::string> argv,
            std::string log_path,
            std::map<std::string, std::string> environment = {});
    ~Process();  // kill -9 if still running
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    void kill_hard();                // SIGKILL and reap
    void signal(int signal_number);  // e.g. SIGSTOP, SIGCONT; nothing once it was reaped
    int terminate();                 // SIGTERM, wait (10 s at most, then SIGKILL); the exit status
    int wait_exit();                 // waits (30 s at most, then SIGKILL) for it to exit by itself
    bool running();
    const std::string& log_path() const { return log_path_; }
    std::string log_tail(std::size_t bytes = 4000) const;

private:
    int reap_within(std::chrono::seconds limit);  // the exit status; SIGKILL after `limit`

    pid_t pid_ = -1;
    std::string log_path_;
};

// The built qrpay binary (from the build system).
std::string qrpay_binary();

// Polls GET url_path on host:port until it answers 200 or `deadline` passes.
Status wait_until_ready(std::uint16_t port,
                        const std::string& path,
                        std::chrono::milliseconds deadline);

// A synchronous JSON client for one server.
std::unique_ptr<http::Client> client_for(
    std::uint16_t port,
    std::chrono::milliseconds timeout = std::chrono::seconds(15),
    std::size_t connections = 8);

// `qrpay agency-sim` in its own directory.
struct AgencySimFlags {
    double decline_rate = 0;
    double error_5xx_rate = 0;
    double timeout_rate = 0;
    int latency_ms = 0;
};
class AgencySim {
public:
    AgencySim(const std::string& dir, AgencySimFlags flags);
    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    Process& process() { return *process_; }

private:
    std::uint16_t port_;
    std::unique_ptr<Process> process_;
};

// `qrpay serve` on fixed ports and a data directory: restartable.
class Server {
public:
    Server(std::string data_dir, std::vector<std::string> extra_flags);
    void start();
    void kill_hard() { process_->kill_hard(); }
    int terminate() { return process_->terminate(); }
    std::uint16_t port() const { return port_; }
    std::uint16_t admin_port() const { return admin_port_; }
    const std::string& data_dir() const { return data_dir_; }
    // True when QRPAY_TEST_JOURNAL=postgres gave it a PostgreSQL journal.
    bool journal_in_postgres() const { return !journal_url_.empty(); }
    const std::string& journal_url() const { return journal_url_; }
    Process& process() { return *process_; }
    // Every start's log, oldest first, each under a header line.
    std::string logs() const;
    // A bearer token from `qrpay token issue` against this server's key.
    std::string token(const std::string& role, const std::string& subject) const;

private:
    void add_postgres_journal_when_asked();
    void spawn();
    Status wait_ready_or_exit();

    std::string data_dir_;
    std::vector<std::string> extra_flags_;
    std::uint16_t port_;
    std::uint16_t admin_port_;
    int starts_ = 0;
    std::string journal_url_;  // set when the journal is in PostgreSQL
    std::unique_ptr<Process> process_;
};

// Runs a command and returns its stdout (trailing newline removed); empty on failure.
std::string run_and_capture(const std::string& command);

}  // namespace qrpay::harness
