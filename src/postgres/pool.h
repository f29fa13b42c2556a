#pragma once
// Pool: a bounded set of connections to one database, opened on demand and lent to one caller
// at a time. A lost connection is not given back: the next caller opens a new one.
//
// Thread safety: acquire() may be called from any thread; a Lease is used by one.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/bounded_pool.h"
#include "base/status.h"
#include "postgres/connection.h"

namespace qrpay::postgres {

struct PoolOptions {
    std::string url;
    ConnectOptions connect;
    std::size_t connections_max = 4;
    std::chrono::milliseconds wait_max{5'000};  // for a free connection
};

// BoundedPool (base/bounded_pool.h) of connections to options.url; a lost connection is
// closed when given back, never lent again.
class Pool : public BoundedPool<Connection> {
public:
    explicit Pool(const PoolOptions& options);
};

}  // namespace qrpay::postgres
