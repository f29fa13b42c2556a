#pragma once
// TestServer: a real PostgreSQL 15 server for tests, in a temporary directory, stopped and
// removed by its destructor. Test-only (library qrpay_postgres_testing).
//
// When this process is root the server runs as the `postgres` user (initdb and postgres refuse
// root), otherwise as this process's user. Either way it is this process's own child (setpriv
// execs the postmaster in place), so kill() and restart() need no wait for an orphan's reaping.
// It listens on 127.0.0.1 only, on a free port, with fsync and synchronous_commit on: what a
// test measures is durable.
//
// A watchdog process kills the server and removes the directory when this process dies without
// running the destructor (a crash, an abort, SIGKILL). A forked child's exit leaves the server
// to its parent. With QRPAY_TEST_KEEP_DIRS set, the directory (data, postgres.log) is kept and
// its path printed.
//
// Errors: start() and restart() unavailable; create_database() and drop_database() unavailable
// when the server does not answer, conflict (create, the name is taken), invalid_argument (a
// name that is empty or longer than 63 bytes), io_error (any other refusal); kill() and stop()
// timeout when the processes outlive their bound.
//
// Thread safety: port(), url(), create_database() and drop_database() may be called from any
// thread (each opens its own connection) while no thread calls kill(), stop() or restart().

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace qrpay::postgres::testing {

struct TestServerOptions {
    std::uint16_t port = 0;  // 0: a free port
    // Extra `-c name=value` settings for the postmaster, appended after the defaults.
    std::vector<std::string> settings;
};

class TestServer {
public:
    // initdb in a new temporary directory under /tmp, then starts the server and waits until it
    // accepts connections. unavailable (with the server's log tail) when it cannot.
    static Result<std::unique_ptr<TestServer>> start(const TestServerOptions& options = {});
    ~TestServer();  // fast shutdown, then removes the directory
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;
    TestServer(TestServer&&) = delete;
    TestServer& operator=(TestServer&&) = delete;

    [[nodiscard]] std::uint16_t port() const;
    // "postgresql://postgres@127.0.0.1:<port>/<database>"
    [[nodiscard]] std::string url(std::string_view database) const;

    // CREATE DATABASE (a fresh, empty one); conflict when it exists.
    Status create_database(std::string_view name);
    // DROP DATABASE ... WITH (FORCE); ok when it does not exist.
    Status drop_database(std::string_view name);

    // SIGKILL to the postmaster and its children; waits until they are gone. Ok when not running.
    Status kill();
    // SIGINT (fast shutdown); waits until it is gone. Ok when not running.
    Status stop();
    // Starts it again on the same directory and port (after kill() or stop()); waits until it
    // accepts connections (crash recovery included). conflict when it runs.
    Status restart();
    // False after kill() or stop(), and once the postmaster exited by itself.
    [[nodiscard]] bool running() const;

    // The server's log (for failure messages).
    [[nodiscard]] std::string log_tail(std::size_t bytes_max = 4096) const;

private:
    struct Impl;
    explicit TestServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// One server for the whole test binary, started on first use and stopped at exit. Each test
// takes its own database from it (unique_database_name()). Aborts the test binary with the
// server's log when it cannot start. CTest runs each test case in its own process, so each
// case that uses it pays one initdb and start (~0.5 s measured).
TestServer& shared_test_server();

// A database name no other test of this process used: "t_<pid>_<counter>_<suffix>", lowercase,
// each byte outside [a-z0-9_] made '_', cut to PostgreSQL's 63 bytes.
std::string unique_database_name(std::string_view suffix);

}  // namespace qrpay::postgres::testing
