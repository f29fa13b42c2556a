#include "sqlite/read_pool.h"

#include "base/assert.h"

namespace qrpay::sqlite {

ReadPool::ReadPool(const ReadPoolOptions& options)
    : BoundedPool<Connection>(
          [path = options.path, lock_wait_max = options.lock_wait_max] {
              return Connection::open(path, OpenMode::reader, lock_wait_max);
          },
          options.connections_max,
          options.wait_max,
          {.lost =
               [](Connection& connection) {
                   QRPAY_ASSERT(!connection.in_transaction(),
                                "read connection returned inside a transaction");
                   return false;
               },
           .alive = {},
           .check_idle_after = {}}) {}

}  // namespace qrpay::sqlite
