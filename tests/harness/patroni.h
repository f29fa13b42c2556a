#pragma once
// PatroniPair: a PostgreSQL 15 primary with a synchronous standby, each run by Patroni
// (Debian's patroni 3.0, from scripts/setup) on an etcd the test gives, on 127.0.0.1 in a
// temporary directory. Test-only.
//
// The settings are the smallest that Patroni 3.0 runs steadily with (ttl 5, loop_wait 1,
// retry_timeout 2; smaller ones flap): a crashed primary's standby is promoted once the
// primary's leader key expires, about ttl + 0.5 s after the crash. synchronous_mode is on, so
// while both run, a commit is acknowledged only once it is on both; not strict, so a primary
// left alone goes on taking writes.
//
// Patroni runs as `postgres` when this process is root. It starts the postmaster through a
// helper that exits, so the postmaster is not this process's child: kill() sends SIGKILL to
// Patroni, then to the postmaster named in its postmaster.pid and to that one's children.
// A watchdog kills everything working under the directory if this process dies without
// running the destructor.
//
// Errors: start() unavailable (with the members' log tails) when the pair does not come up
// with a primary and a sync standby within its bound; kill(), restart() invalid_argument for a
// member out of range; create_database() as TestServer's.
//
// Thread safety: url(), primary() and create_database() from any thread while no thread calls
// kill() or restart().

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace qrpay::harness {

struct PatroniPairOptions {
    std::string etcd_hosts;  // "127.0.0.1:2379[,host:port...]": Patroni's etcd3 hosts
    std::string scope;       // the Patroni cluster's name; unique per etcd
};

class PatroniPair {
public:
    static constexpr std::size_t members = 2;

    // Starts both members and waits until one is the primary and the other its sync standby.
    static Result<std::unique_ptr<PatroniPair>> start(const PatroniPairOptions& options);
    ~PatroniPair();  // SIGTERM to both (a clean stop), SIGKILL to what remains, removes the dir
    PatroniPair(const PatroniPair&) = delete;
    PatroniPair& operator=(const PatroniPair&) = delete;
    PatroniPair(PatroniPair&&) = delete;
    PatroniPair& operator=(PatroniPair&&) = delete;

    // "postgresql://postgres@127.0.0.1:P0,127.0.0.1:P1/<database>?target_session_attrs=
    // read-write&connect_timeout=2": libpq finds whichever member is the primary.
    [[nodiscard]] std::string url(std::string_view database) const;
    // CREATE DATABASE on the primary; conflict when it exists.
    Status create_database(std::string_view name);

    // The member that is the primary now, as its Patroni says (REST GET /primary is 200);
    // unavailable while none is.
    [[nodiscard]] Result<std::size_t> primary() const;
    // Waits until one member is the primary and the other its synchronous standby.
    Status wait_primary_and_sync(std::chrono::milliseconds wait_max) const;

    // A crash of the member's machine: SIGKILL to Patroni, the postmaster and its children.
    Status kill(std::size_t member);
    // Starts the member's Patroni again on its data: it rejoins as a standby (pg_rewind when
    // its timeline forked) on its own. Does not wait.
    Status restart(std::size_t member);

    [[nodiscard]] std::string log_tail(std::size_t member, std::size_t bytes_max = 4096) const;

private:
    struct Impl;
    explicit PatroniPair(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace qrpay::harness
