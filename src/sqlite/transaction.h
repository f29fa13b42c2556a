#pragma once
// Transactions on one Connection: BEGIN, COMMIT with its two kinds of failure, ROLLBACK, and
// in_transaction() that runs a body between them.
//
// Thread safety: that of the Connection (one thread at a time).

#include "base/status.h"
#include "sqlite/connection.h"

namespace qrpay::sqlite {

enum class Begin {
    deferred,   // BEGIN: takes locks as statements need them (reads)
    immediate,  // BEGIN IMMEDIATE: takes the write lock now, waiting up to lock_wait_max
};

// io_error when BEGIN failed, also when a transaction is already open.
Status begin(Connection& connection, Begin mode);

// COMMIT. ok: committed, synced as the connection's pragmas say (synchronous=FULL: on disk).
// io_error: COMMIT did nothing and the transaction is still open; rolling it back is certain.
// unknown_outcome: SQLite ended the transaction while writing or syncing it, so it may or may
// not have reached the disk. Either way the caller then calls rollback().
Status commit(Connection& connection);

// Rolls back the open transaction, if any. io_error when ROLLBACK itself failed (the
// transaction is then still open).
Status rollback(Connection& connection);

// Runs `body` (a callable returning Status) between begin(mode) and commit(); rolls back when
// the body or the commit fails. Returns the status of begin, of the body, or of commit.
template <class Body>
Status in_transaction(Connection& connection, Begin mode, Body body) {
    if (Status begun = begin(connection, mode); !begun.ok()) {
        return begun;
    }
    Status done = body();
    if (done.ok()) {
        done = commit(connection);
    }
    if (!done.ok()) {
        (void)rollback(connection);  // the body's or the commit's status says what went wrong
    }
    return done;
}

}  // namespace qrpay::sqlite
