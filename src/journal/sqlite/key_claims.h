#pragma once
// The SQL of key claims (journal.h, "key claim"; the claimed_keys table of sqlite_schema.cc),
// shared by the writer (check and store inside its transaction, forget expired claims) and
// the readers (find, count).

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "base/status.h"
#include "journal/journal.h"

namespace qrpay::sqlite {
class Connection;
}  // namespace qrpay::sqlite

namespace qrpay::journal::sqlite {

// The claim of `key` that still holds at `now` under `retention`, as `db` sees it.
Result<std::optional<KeyClaim>> find_live_claim(qrpay::sqlite::Connection& db,
                                                const std::string& key,
                                                UnixMs now,
                                                std::chrono::milliseconds retention);

// key_taken when a key of `request` is held by another persistence id at the request's
// written_at. Reads only.
Status check_key_claims(qrpay::sqlite::Connection& db,
                        const AppendRequest& request,
                        std::chrono::milliseconds retention);

// Binds every key of `request` to its persistence id. A key the entity holds keeps its first
// claim time; an expired claim of another entity is replaced. REQUIRES: check_key_claims()
// passed in the same transaction.
Status store_key_claims(qrpay::sqlite::Connection& db, const AppendRequest& request);

// Deletes up to `max_count` claims made before `claimed_before`, in the caller's transaction.
// Returns how many went.
Result<std::size_t> forget_claims(qrpay::sqlite::Connection& db,
                                  UnixMs claimed_before,
                                  std::size_t max_count);

Result<std::size_t> count_claims(qrpay::sqlite::Connection& db);

}  // namespace qrpay::journal::sqlite
