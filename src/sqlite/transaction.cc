#include "sqlite/transaction.h"

namespace qrpay::sqlite {

Status begin(Connection& connection, Begin mode) {
    return connection.run(mode == Begin::immediate ? "BEGIN IMMEDIATE" : "BEGIN");
}

Status commit(Connection& connection) {
    Status committed = connection.run("COMMIT");
    if (committed.ok()) {
        return committed;
    }
    // Still open: COMMIT did nothing and the rollback is certain. Ended: SQLite gave up while
    // writing or syncing the commit, which may or may not have reached the disk.
    Errc code = connection.in_transaction() ? Errc::io_error : Errc::unknown_outcome;
    return {code, committed.message()};
}

Status rollback(Connection& connection) {
    if (!connection.in_transaction()) {
        return {};
    }
    return connection.run("ROLLBACK");
}

}  // namespace qrpay::sqlite
