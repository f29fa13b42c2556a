#pragma once
// Pool: a bounded set of connections to one database, opened on demand and lent to one caller
// at a time. A lost connection is not given back: the next caller opens a new one.
//
// Thread safety: acquire() may be called from any thread; a Lease is used by one.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "postgres/connection.h"

namespace qrpay::postgres {

struct PoolOptions {
    std::string url;
    ConnectOptions connect;
    std::size_t connections_max = 4;
    std::chrono::milliseconds wait_max{5'000};  // for a free connection
};

class Pool {
public:
    explicit Pool(PoolOptions options) : options_(std::move(options)) {}
    ~Pool() = default;  // REQUIRES: no lease outstanding
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    Pool(Pool&&) = delete;
    Pool& operator=(Pool&&) = delete;

    class Lease {
    public:
        Lease(Pool& pool, std::unique_ptr<Connection> connection)
            : pool_(&pool), connection_(std::move(connection)) {}
        ~Lease();
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        Connection& operator*() const { return *connection_; }
        Connection* operator->() const { return connection_.get(); }

    private:
        Pool* pool_;
        std::unique_ptr<Connection> connection_;
    };

    // An idle connection, or a new one while fewer than connections_max exist; else waits up
    // to wait_max (then unavailable). A failed connect answers its own status.
    Result<Lease> acquire();

private:
    void give_back(std::unique_ptr<Connection> connection);

    const PoolOptions options_;
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_ = 0;  // idle and lent
};

}  // namespace qrpay::postgres
