#pragma once
// The SQLite journal's on-disk schema (its grammar is at the top of sqlite_schema.cc).

#include <cstdint>

#include "base/status.h"

namespace qrpay::sqlite {
class Connection;
}  // namespace qrpay::sqlite

namespace qrpay::journal::sqlite {

// The version this build writes into PRAGMA user_version.
inline constexpr std::int64_t schema_version = 1;

// Creates the schema in an empty database and accepts one at schema_version.
// corruption: the file holds a newer version, or tables of something else than a journal.
// io_error: SQLite failed. REQUIRES: a writer connection with no transaction open.
Status ensure_schema(qrpay::sqlite::Connection& connection);

}  // namespace qrpay::journal::sqlite
