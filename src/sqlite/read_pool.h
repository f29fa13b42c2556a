#pragma once
// A pool of read connections to one SQLite file. In WAL mode a reader sees the last commit
// before its statement (or read transaction) began and never waits for the writer, so reads do
// not queue behind writes.
//
// Thread safety: acquire() may be called from any thread; a lease is used by one thread.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "sqlite/connection.h"

namespace qrpay::sqlite {

struct ReadPoolOptions {
    std::string path;
    std::size_t connections_max = 4;                 // opened lazily; at least 1
    std::chrono::milliseconds wait_max{2'000};       // for a free connection
    std::chrono::milliseconds lock_wait_max{5'000};  // each connection's wait for a SQLite lock
};

class ReadPool {
public:
    explicit ReadPool(ReadPoolOptions options);
    ReadPool(const ReadPool&) = delete;
    ReadPool& operator=(const ReadPool&) = delete;
    ReadPool(ReadPool&&) = delete;
    ReadPool& operator=(ReadPool&&) = delete;
    ~ReadPool() = default;  // REQUIRES: no lease outstanding

    // One connection lent to one caller; goes back to the pool when the lease is destroyed.
    // REQUIRES: does not outlive the pool; no transaction left open on it.
    class Lease {
    public:
        Lease(ReadPool& pool, std::unique_ptr<Connection> connection)
            : pool_(&pool), connection_(std::move(connection)) {}
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();
        Connection& operator*() { return *connection_; }
        Connection* operator->() { return connection_.get(); }

    private:
        ReadPool* pool_;
        std::unique_ptr<Connection> connection_;
    };

    // An idle connection, or a new one while fewer than connections_max are open; else waits
    // up to wait_max for one to come back. unavailable after that wait, io_error when a new
    // connection cannot be opened.
    Result<Lease> acquire();

private:
    void give_back(std::unique_ptr<Connection> connection);
    Result<Lease> open_new();

    const ReadPoolOptions options_;
    // Guards idle_ and open_count_; shared by every thread that reads.
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_count_ = 0;  // idle, lent out or being opened; at most connections_max
};

}  // namespace qrpay::sqlite
