#include "journal/sqlite/key_claims.h"

#include "sqlite/connection.h"

namespace qrpay::journal::sqlite {

namespace {

using qrpay::sqlite::Statement;
using qrpay::sqlite::Step;
using qrpay::sqlite::to_column;

constexpr const char* sql_find_claim =
    "SELECT persistence_id, claimed_at_unix_ms FROM claimed_keys WHERE key = ?1";
// A key the entity holds keeps its first claim; an expired claim of another entity (the only
// other kind check_key_claims lets through) is replaced.
constexpr const char* sql_store_claim =
    "INSERT INTO claimed_keys (key, persistence_id, claimed_at_unix_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (key) DO UPDATE SET persistence_id = excluded.persistence_id, "
    "claimed_at_unix_ms = excluded.claimed_at_unix_ms "
    "WHERE claimed_keys.persistence_id <> excluded.persistence_id";
constexpr const char* sql_forget_claims =
    "DELETE FROM claimed_keys WHERE key IN (SELECT key FROM claimed_keys "
    "WHERE claimed_at_unix_ms < ?1 ORDER BY claimed_at_unix_ms LIMIT ?2)";
constexpr const char* sql_count_claims = "SELECT count(*) FROM claimed_keys";

bool holds_at(const KeyClaim& claim, UnixMs now, std::chrono::milliseconds retention) {
    return claim.claimed_at.value + retention.count() > now.value;
}

}  // namespace

Result<std::optional<KeyClaim>> find_live_claim(qrpay::sqlite::Connection& db,
                                                const std::string& key,
                                                UnixMs now,
                                                std::chrono::milliseconds retention) {
    Result<Statement> query = db.prepare(sql_find_claim);
    if (!query.ok()) {
        return query.status();
    }
    query->bind_text_borrowed(1, key);
    Step step = query->step();
    if (step == Step::error) {
        return query->error("find key claim");
    }
    if (step == Step::done) {
        return std::optional<KeyClaim>();
    }
    KeyClaim claim{query->column_text(0), UnixMs{query->column_int(1)}};
    if (!holds_at(claim, now, retention)) {
        return std::optional<KeyClaim>();
    }
    return std::optional<KeyClaim>(std::move(claim));
}

Status check_key_claims(qrpay::sqlite::Connection& db,
                        const AppendRequest& request,
                        std::chrono::milliseconds retention) {
    for (const std::string& key : request.claimed_keys) {
        Result<std::optional<KeyClaim>> claim =
            find_live_claim(db, key, request.written_at, retention);
        if (!claim.ok()) {
            return claim.status();
        }
        if (*claim && (*claim)->persistence_id != request.persistence_id) {
            return {Errc::key_taken, "a claimed key is held by another entity"};
        }
    }
    return {};
}

Status store_key_claims(qrpay::sqlite::Connection& db, const AppendRequest& request) {
    for (const std::string& key : request.claimed_keys) {
        Result<Statement> upsert = db.prepare(sql_store_claim);
        if (!upsert.ok()) {
            return upsert.status();
        }
        upsert->bind_text_borrowed(1, key);
        upsert->bind_text_borrowed(2, request.persistence_id);
        upsert->bind_int(3, request.written_at.value);
        if (Status stored = upsert->run("store key claim"); !stored.ok()) {
            return stored;
        }
    }
    return {};
}

Result<std::size_t> forget_claims(qrpay::sqlite::Connection& db,
                                  UnixMs claimed_before,
                                  std::size_t max_count) {
    Result<Statement> erase = db.prepare(sql_forget_claims);
    if (!erase.ok()) {
        return erase.status();
    }
    erase->bind_int(1, claimed_before.value);
    erase->bind_int(2, to_column(max_count));
    if (Status ran = erase->run("forget key claims"); !ran.ok()) {
        return ran;
    }
    return static_cast<std::size_t>(db.changes());
}

Result<std::size_t> count_claims(qrpay::sqlite::Connection& db) {
    Result<Statement> query = db.prepare(sql_count_claims);
    if (!query.ok()) {
        return query.status();
    }
    if (query->step() != Step::row) {
        return query->error("count key claims");
    }
    return static_cast<std::size_t>(query->column_int(0));
}

}  // namespace qrpay::journal::sqlite
