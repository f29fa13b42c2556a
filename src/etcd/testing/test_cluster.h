#pragma once
// TestCluster: a real etcd 3.4 cluster of 1 to members_max members for tests, in a temporary
// directory, killed and removed by its destructor. Test-only (library qrpay_etcd_testing).
//
// Each member is this process's own child (/usr/bin/etcd, from scripts/setup's etcd-server),
// listening on 127.0.0.1 only, on free ports, with the fast settings of the cluster harness
// notes: heartbeat 50 ms, election timeout 500 ms (so a lease TTL of 1 s is allowed), pre-vote.
// fsync stays on. A member's output goes to <dir>/<name>.log, every run appended.
//
// A watchdog process kills the members and removes the directory when this process dies
// without running the destructor (a crash, an abort, SIGKILL). A forked child's exit leaves the
// cluster to its parent. With QRPAY_TEST_KEEP_DIRS set, the directory is kept and its path
// printed.
//
// Errors: start() and restart() unavailable (with the member's log tail); restart() conflict
// when the member runs; kill() and restart() invalid_argument for a member index out of range;
// kill() timeout when the process outlives its bound.
//
// Thread safety: the accessors may be called from any thread while no thread calls kill() or
// restart().

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace qrpay::etcd::testing {

inline constexpr std::size_t members_max = 5;

struct TestClusterOptions {
    std::size_t members = 1;  // 1 to members_max
};

class TestCluster {
public:
    // Starts every member and waits until each answers /health with a leader elected.
    // invalid_argument for a member count out of range.
    static Result<std::unique_ptr<TestCluster>> start(const TestClusterOptions& options = {});
    ~TestCluster();  // SIGKILL to every member, then removes the directory
    TestCluster(const TestCluster&) = delete;
    TestCluster& operator=(const TestCluster&) = delete;
    TestCluster(TestCluster&&) = delete;
    TestCluster& operator=(TestCluster&&) = delete;

    [[nodiscard]] std::size_t size() const;
    // "http://127.0.0.1:<port>" of `member` (0-based). REQUIRES: member < size().
    [[nodiscard]] std::string client_url(std::size_t member) const;
    // Every member's client URL, comma-separated, in member order.
    [[nodiscard]] std::string client_urls() const;
    // The member whose client URL is `url`, or size() when none.
    [[nodiscard]] std::size_t member_of(const std::string& url) const;

    // The member that leads now: the running member whose /v3/maintenance/status names itself
    // as the leader. unavailable while none does (an election is under way, no quorum).
    [[nodiscard]] Result<std::size_t> leader() const;

    // SIGKILL (a crash); waits until the process is gone. Ok when it is not running.
    Status kill(std::size_t member);
    // Starts it again on the same data directory and ports (--initial-cluster-state existing)
    // and waits until it answers /health (which needs a quorum of running members).
    Status restart(std::size_t member);
    // False after kill(), and once the member exited by itself.
    [[nodiscard]] bool running(std::size_t member) const;

    // The member's log (for failure messages). REQUIRES: member < size().
    [[nodiscard]] std::string log_tail(std::size_t member, std::size_t bytes_max = 4096) const;

private:
    struct Impl;
    explicit TestCluster(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// One single-member cluster for the whole test binary, started on first use and killed at
// exit (in this process only). Tests share it by using key prefixes of their own. Aborts the
// test binary with the member's log when it cannot start. CTest runs each test case in its own
// process, so each case that uses it pays one start (~0.3 s measured).
TestCluster& shared_test_cluster();

}  // namespace qrpay::etcd::testing
