#pragma once
// InternalApi: a cluster node's internal listener (`serve --internal-listen`), where peers send
// the commands of the shards this node serves (forwarder.h).
//
//   POST /internal/v1/commands   body: a forwarded command (forward_wire.h)
//                                200 with the answer (forward_wire.h): the entity's reply or
//                                error, not_owner when the shard is not served here (the
//                                sender then looks again); 400 for a body that is not a
//                                command; 401 without the cluster's bearer token
//   GET  /internal/v1/ping       200: the node's process is up (peers' failure detection)
//   GET  /internal/v1/watch      200 after internal_watch_hold, or when the node stops: a
//                                long poll whose dropped connection tells a peer that this
//                                process is gone (peer_watch.h)
//
// Every request must carry "Authorization: Bearer <internal_secret(token key)>": every node
// of a cluster shares the token key, and nothing else may send commands as a peer.
//
// Thread safety: handle() from any of the listener's threads.

#include <chrono>
#include <string>
#include <string_view>

#include "http/message.h"
#include "http/scheduler.h"
#include "http/server.h"
#include "runtime/runtime.h"

namespace qrpay::cluster {

inline constexpr std::string_view internal_commands_path = "/internal/v1/commands";
inline constexpr std::string_view internal_ping_path = "/internal/v1/ping";
inline constexpr std::string_view internal_watch_path = "/internal/v1/watch";
inline constexpr std::chrono::milliseconds internal_watch_hold{5'000};

// The bearer token of the internal listeners, derived from the cluster's shared token key (so
// an operator configures one secret): the hex SHA-256 of a fixed label and the key.
std::string internal_secret(std::string_view token_key);

class InternalApi {
public:
    // REQUIRES: `runtime` outlives this.
    InternalApi(runtime::Runtime& runtime, std::string secret);
    void handle(const http::Request& request, const http::Responder& responder);
    // Answers the watches held open now and every later one at once, so that the listener
    // stops without waiting for them. Idempotent.
    void stop();

private:
    [[nodiscard]] bool authorized(const http::Request& request) const;
    void hold_watch(const http::Responder& responder);

    runtime::Runtime& runtime_;
    const std::string expected_authorization_;
    http::Scheduler watches_;
};

}  // namespace qrpay::cluster
