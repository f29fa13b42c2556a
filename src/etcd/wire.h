#pragma once
// Private to etcd/: the JSON of etcd 3.4's gRPC gateway, both ways. Pure functions, no I/O.
//
// Requests are POSTs of one JSON object; answers are one JSON object (a streamed RPC's answer,
// LeaseKeepAlive, comes wrapped as {"result": {...}}). Protobuf's JSON mapping applies:
//   - bytes (key, value, range_end) are standard padded base64;
//   - int64 (ID, TTL, lease, revisions, limit) are decimal strings (numbers are accepted too);
//   - proto3 defaults are left out: a missing field is 0, false, "" or [] (a txn whose compare
//     failed has no "succeeded").
//   POST /v3/lease/grant      {"TTL": n}                 -> {"header", "ID", "TTL", "error"?}
//   POST /v3/lease/keepalive  {"ID": id}                 -> {"result": {"header", "ID", "TTL"}}
//                                                           TTL 0 or none: the lease is gone
//   POST /v3/lease/revoke     {"ID": id}                 -> {"header"}
//   POST /v3/kv/put           {"key", "value", "lease"?} -> {"header"}
//   POST /v3/kv/range         {"key", "range_end"?, "limit"?} -> {"header", "kvs"?, "more"?}
//   POST /v3/kv/txn           {"compare", "success", "failure"} -> {"header", "succeeded"?,
//                                                           "responses": [{"response_range"}]}
// Errors: a non-2xx answer {"error": msg, "message": msg, "code": grpc_code}, or, for a
// streamed RPC, a 200 answer {"error": {"grpc_code", "http_code", "message"}}.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/status.h"
#include "etcd/types.h"

namespace qrpay::etcd::wire {

using Json = nlohmann::json;

inline constexpr std::string_view lease_grant_path = "/v3/lease/grant";
inline constexpr std::string_view lease_keepalive_path = "/v3/lease/keepalive";
inline constexpr std::string_view lease_revoke_path = "/v3/lease/revoke";
inline constexpr std::string_view put_path = "/v3/kv/put";
inline constexpr std::string_view range_path = "/v3/kv/range";
inline constexpr std::string_view txn_path = "/v3/kv/txn";

// Request bodies.
std::string grant_body(std::chrono::seconds ttl);
std::string lease_body(std::int64_t lease);  // keepalive and revoke
std::string put_body(std::string_view key, std::string_view value, std::int64_t lease);
// A txn: if the key's create revision is 0 (absent), put it; else range it.
std::string create_body(std::string_view key, std::string_view value, std::int64_t lease);
// A txn: if the key's mod revision is `mod_revision`, delete it.
std::string delete_if_unchanged_body(std::string_view key, std::int64_t mod_revision);
// A range of [key, range_end), or of `key` alone when range_end is empty; `limit` 0: none.
std::string range_body(std::string_view key, std::string_view range_end, std::size_t limit);

// The range_end that covers every key starting with `prefix` (etcd's GetPrefixRangeEnd): the
// prefix with its last byte below 0xff incremented and what follows dropped; "\0" (to the
// end of the keyspace) when every byte is 0xff. REQUIRES: prefix not empty.
std::string prefix_end(std::string_view prefix);

// Whether repeating a call can change what it did: a read or a lease renewal cannot, so any
// doubt about it is plain unavailability; a write's doubt is an unknown outcome.
enum class Repeat { safe, unsafe };

// The JSON object of an answer with HTTP status `http_status`, {"result"} unwrapped, or the
// Status the answer means:
//   invalid_argument  etcd refused the request (gRPC InvalidArgument or OutOfRange)
//   not_found         gRPC NotFound (etcd: "requested lease not found")
//   unavailable       surely not applied: gRPC ResourceExhausted ("too many requests", "no
//                     space"), Unavailable with "no leader", "not capable" or "unhealthy
//                     cluster"; for a safe call also any other Unavailable or Canceled
//   timeout           gRPC DeadlineExceeded
//   unknown_outcome   an unsafe call that may have been applied: any other Unavailable
//                     ("request timed out", "leader changed", "server stopped"), a gRPC code
//                     that is no refusal, a 5xx that is not etcd's, an unparsable 2xx answer
//   remote_error      any other refusal or answer
Result<Json> interpret(int http_status, std::string_view body, Repeat repeat);

// Answer readers. Errors: remote_error when a field has the wrong type or bad base64, or the
// answer lacks what it must hold; as said for each.
Result<KeyValue> key_value(const Json& kv);
Result<std::int64_t> header_revision(const Json& answer);  // > 0
Result<Lease> granted_lease(const Json& answer);
// not_found when the lease is gone (TTL 0 or none).
Result<std::chrono::seconds> kept_alive_ttl(const Json& answer);
Result<CreateResult> create_result(const Json& answer);
Result<bool> txn_succeeded(const Json& answer);
// invalid_argument when etcd says it holds more keys than the `limit` the range was sent with.
Result<RangeResult> range_result(const Json& answer);

}  // namespace qrpay::etcd::wire
