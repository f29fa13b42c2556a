#pragma once
// Client: an asynchronous client for etcd v3 (3.4) over its JSON gRPC gateway, for keys,
// leases, revisions and transactions. One or more members ("endpoints") of one cluster.
//
// Errors of a call (its `done` gets exactly one Result):
//   invalid_argument  refused before anything was sent (empty key, negative lease, ttl below
//                     1 s, a request above request_bytes_max), or refused by etcd; also
//                     range_prefix when etcd holds more than range_keys_max keys under it
//   not_found         keep_alive / revoke_lease of a lease that is gone; put / create with one
//   unavailable       surely not applied: no member could be reached, every member tried
//                     said so ("etcdserver: no leader", too many requests), too many calls in
//                     flight, or the client is stopped
//   timeout           sent, no answer within request_timeout: it may have been applied
//   unknown_outcome   sent, then the connection failed or etcd's answer says the write may
//                     have been applied ("request timed out", "leader changed") or cannot be
//                     read: it may have been applied
//   remote_error      any other answer etcd gives (a read's unreadable answer included)
// A read (get, range_prefix) or a keep_alive may be repeated without harm, so its doubts are
// unavailable, never unknown_outcome (timeout stays timeout).
//
// Members: a call starts at the member that answered last. It goes on to the next member only
// when the current one surely did not apply it (unavailable), or for a read or keep_alive also
// when the connection failed (unknown_outcome); each member at most once. A write that may
// have been applied is never sent again. A member that timed out or failed is passed over by
// the next call. So one call takes at most members × (connect_timeout + request_timeout).
//
// Threads: `done` runs on an I/O thread of the client, or on the caller's thread before the
// method returns when the call is refused before sending (bad input, stopped, full). It must
// not block, and must not call stop() or destroy the client. Every method may be called from
// any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "etcd/types.h"

namespace qrpay::etcd {

struct ClientOptions {
    // The members' client URLs, comma-separated: "http://127.0.0.1:2379,http://...". At most
    // endpoints_max, no TLS, each once.
    std::string endpoints{};
    std::chrono::milliseconds request_timeout{1'000};  // per try: send to the last answer byte
    std::chrono::milliseconds connect_timeout{500};    // per try; also the wait for a connection
    std::size_t connections_per_endpoint_max = 4;      // open HTTP connections to one member
    std::size_t calls_in_flight_max = 1'024;           // beyond: unavailable at once
    // A request body above this is refused (invalid_argument). etcd's own bound is 1.5 MiB
    // (--max-request-bytes) of protobuf, which 1 MiB of JSON with base64 stays below.
    std::size_t request_bytes_max = std::size_t{1024} * 1024;
    // An answer above this is cut: unknown_outcome for a write, unavailable for a read.
    std::size_t response_bytes_max = std::size_t{8} * 1024 * 1024;
    std::size_t range_keys_max = 10'000;  // keys one range_prefix may answer with
};

// Inputs a call refuses with invalid_argument.
inline constexpr std::size_t endpoints_max = 16;
inline constexpr std::chrono::seconds lease_ttl_min{1};
inline constexpr std::chrono::seconds lease_ttl_max{9'000'000'000};  // etcd's MaxLeaseTTL

class Client {
public:
    template <class T>
    using Done = std::function<void(Result<T>)>;
    using StatusDone = std::function<void(Status)>;

    // Parses the endpoints and starts one HTTP client per member (nothing is sent yet).
    // Errors: invalid_argument (bad options or endpoints), unavailable (a host does not resolve).
    static Result<std::unique_ptr<Client>> open(const ClientOptions& options);
    ~Client();  // stop()
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    Client(Client&&) = delete;
    Client& operator=(Client&&) = delete;

    // A new lease of `ttl` (etcd may raise it to its minimum, 1.5 election timeouts).
    // REQUIRES: lease_ttl_min <= ttl <= lease_ttl_max.
    void grant_lease(std::chrono::seconds ttl, Done<Lease> done);
    // Renews `lease` once; answers its TTL from now. not_found when it is gone.
    void keep_alive(std::int64_t lease, Done<std::chrono::seconds> done);
    // Ends `lease` and deletes its keys. not_found when it was gone already.
    void revoke_lease(std::int64_t lease, StatusDone done);

    // Writes `key` (attached to `lease`, 0 for none); answers the revision of the write.
    void put(std::string_view key,
             std::string_view value,
             std::int64_t lease,
             Done<std::int64_t> done);
    // Writes `key` only if it is absent (one txn: compare create_revision == 0). Answers
    // whether it was created, the store's revision after the call, and otherwise the key that
    // is there.
    void create(std::string_view key,
                std::string_view value,
                std::int64_t lease,
                Done<CreateResult> done);
    // Deletes `key` only while its mod_revision is `mod_revision` (> 0); true when deleted,
    // false when it changed or is gone.
    void delete_if_unchanged(std::string_view key, std::int64_t mod_revision, Done<bool> done);

    // The key, or nullopt when absent (a linearizable read).
    void get(std::string_view key, Done<std::optional<KeyValue>> done);
    // Every key that starts with `prefix`, sorted by key (a linearizable read).
    void range_prefix(std::string_view prefix, Done<RangeResult> done);

    // The member the next call tries first ("http://host:port"): the one that answered last.
    [[nodiscard]] std::string preferred_endpoint() const;

    // Fails calls waiting for a connection (unavailable), cuts those in flight
    // (unknown_outcome; a read's or keep_alive's: unavailable) and joins the I/O threads.
    // Every pending `done` has run when it returns; later calls answer unavailable.
    // Idempotent. REQUIRES: not called from a `done` callback.
    void stop();

    class Impl;

private:
    explicit Client(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace qrpay::etcd
