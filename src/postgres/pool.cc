#include "postgres/pool.h"

namespace qrpay::postgres {

Pool::Pool(const PoolOptions& options)
    : BoundedPool<Connection>(
          [url = options.url, connect = options.connect] { return Connection::open(url, connect); },
          options.connections_max,
          options.wait_max,
          {.lost = [](Connection& connection) { return connection.broken(); },
           .alive = {},
           .check_idle_after = {}}) {}

}  // namespace qrpay::postgres
