#pragma once
// Idempotency keys of merchant writes, in this process: at most one request per key at a time.
//
// What a key led to is stored by the transaction itself: its ReadToken or Cancel claims the
// key in the journal in the same append (domain::request_key_claim, journal.h "key claim"), so
// a key needs no entity and no write of its own, and is kept for the journal's key retention
// (24 hours by default), then forgotten. PaymentApi looks a key up before it runs a request.

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

namespace qrpay::api {

// The keys a request of this process holds right now: at most one request per key at a time.
// A Hold gives its key back when released or destroyed; it shares the set with KeyClaims, so
// a Hold still in a queue when the API is destroyed (shutdown) stays safe. Thread-safe; the
// set is bounded by the requests in flight, which the HTTP server bounds.
//
// A request of another process (or of this one before a restart) with the same key is safe
// too: the journal lets one transaction take a key (key_taken for the others), and the
// Transaction answers a ReadToken or Cancel with the same merchant and request key as a retry
// (transaction.h), so nothing happens twice. In a cluster the set should live with the key's
// shard owner (requests forwarded there), so that the 409 stays exact.
class KeyClaims {
    struct Held {
        std::mutex mutex;  // guards keys: requests run on every HTTP and entity thread
        std::unordered_set<std::string> keys;
    };

public:
    class Hold {
    public:
        Hold(std::shared_ptr<Held> held, std::string key_id)
            : held_(std::move(held)), key_id_(std::move(key_id)) {}
        ~Hold() { release(); }
        Hold(const Hold&) = delete;
        Hold& operator=(const Hold&) = delete;
        Hold(Hold&&) = delete;
        Hold& operator=(Hold&&) = delete;
        void release();  // idempotent

    private:
        std::shared_ptr<Held> held_;
        std::string key_id_;
        std::once_flag released_;
    };

    // A hold on `key_id`, or null when another request of this process holds it.
    std::shared_ptr<Hold> try_hold(const std::string& key_id);
    [[nodiscard]] std::size_t held() const;

private:
    std::shared_ptr<Held> held_ = std::make_shared<Held>();
};

}  // namespace qrpay::api
