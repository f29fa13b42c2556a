#pragma once
// A pool of read connections to one SQLite file. In WAL mode a reader sees the last commit
// before its statement (or read transaction) began and never waits for the writer, so reads do
// not queue behind writes.
//
// Thread safety: acquire() may be called from any thread; a lease is used by one thread.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/bounded_pool.h"
#include "base/status.h"
#include "sqlite/connection.h"

namespace qrpay::sqlite {

struct ReadPoolOptions {
    std::string path;
    std::size_t connections_max = 4;                 // opened lazily; at least 1
    std::chrono::milliseconds wait_max{2'000};       // for a free connection
    std::chrono::milliseconds lock_wait_max{5'000};  // each connection's wait for a SQLite lock
};

// BoundedPool (base/bounded_pool.h) of `reader` connections to options.path.
class ReadPool : public BoundedPool<Connection> {
public:
    explicit ReadPool(const ReadPoolOptions& options);
};

}  // namespace qrpay::sqlite
