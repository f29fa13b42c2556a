#include "etcd/wire.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <optional>
#include <utility>

#include "base/base64.h"

namespace qrpay::etcd::wire {
namespace {

// gRPC status codes (grpc/codes): the ones etcd's answers carry.
enum GrpcCode : std::int64_t {
    canceled = 1,
    invalid_argument = 3,
    deadline_exceeded = 4,
    not_found = 5,
    already_exists = 6,
    permission_denied = 7,
    resource_exhausted = 8,
    failed_precondition = 9,
    out_of_range = 11,
    unimplemented = 12,
    unavailable = 14,
    unauthenticated = 16,
};

// The part of an answer body quoted in an error message.
constexpr std::size_t quoted_body_bytes_max = 200;

Status bad_answer(const std::string& what) { return {Errc::remote_error, "etcd answer: " + what}; }

Result<std::int64_t> parse_int64(const std::string& text, const char* name) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || stop != end) {
        return bad_answer(std::string(name) + " is no int64: \"" + text + "\"");
    }
    return value;
}

// An int64 member, written as a string or a number; 0 when absent (proto3's default).
Result<std::int64_t> int64_member(const Json& object, const char* name) {
    auto member = object.find(name);
    if (member == object.end() || member->is_null()) {
        return std::int64_t{0};
    }
    if (member->is_string()) {
        return parse_int64(member->get_ref<const std::string&>(), name);
    }
    if (member->is_number_unsigned() &&
        member->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return bad_answer(std::string(name) + " is above int64");
    }
    if (member->is_number_integer()) {
        return member->get<std::int64_t>();
    }
    return bad_answer(std::string(name) + " is neither a string nor an integer");
}

// A bytes member (base64); "" when absent.
Result<std::string> bytes_member(const Json& object, const char* name) {
    auto member = object.find(name);
    if (member == object.end() || member->is_null()) {
        return std::string();
    }
    if (!member->is_string()) {
        return bad_answer(std::string(name) + " is not a string");
    }
    std::optional<std::string> bytes = base64_decode(member->get_ref<const std::string&>());
    if (!bytes) {
        return bad_answer(std::string(name) + " is not base64");
    }
    return std::move(*bytes);
}

// A bool member; false when absent.
Result<bool> bool_member(const Json& object, const char* name) {
    auto member = object.find(name);
    if (member == object.end() || member->is_null()) {
        return false;
    }
    if (!member->is_boolean()) {
        return bad_answer(std::string(name) + " is not a boolean");
    }
    return member->get<bool>();
}

// An array member; an empty array when absent.
Result<Json> array_member(const Json& object, const char* name) {
    auto member = object.find(name);
    if (member == object.end() || member->is_null()) {
        return Json::array();
    }
    if (!member->is_array()) {
        return bad_answer(std::string(name) + " is not an array");
    }
    return *member;
}

std::string quoted(std::string_view body) {
    return std::string(body.substr(0, quoted_body_bytes_max));
}

// Unavailable answers that etcd gives before it proposes anything: surely not applied.
bool never_applied(std::string_view message) {
    constexpr std::array<std::string_view, 3> refusals = {
        "etcdserver: no leader", "etcdserver: not capable", "etcdserver: unhealthy cluster"};
    return std::ranges::any_of(refusals, [message](std::string_view refusal) {
        return message.find(refusal) != std::string_view::npos;
    });
}

Status grpc_error(std::int64_t code, const std::string& message, Repeat repeat) {
    const std::string text = "etcd: " + message + " (gRPC code " + std::to_string(code) + ")";
    const bool safe = repeat == Repeat::safe;
    switch (code) {
        case GrpcCode::invalid_argument:
        case GrpcCode::out_of_range:
            return {Errc::invalid_argument, text};
        case GrpcCode::not_found:
            return {Errc::not_found, text};
        case GrpcCode::resource_exhausted:
            return {Errc::unavailable, text};
        case GrpcCode::deadline_exceeded:
            return {Errc::timeout, text};
        case GrpcCode::unavailable:
            return {safe || never_applied(message) ? Errc::unavailable : Errc::unknown_outcome,
                    text};
        case GrpcCode::canceled:
            return {safe ? Errc::unavailable : Errc::unknown_outcome, text};
        case GrpcCode::already_exists:
        case GrpcCode::permission_denied:
        case GrpcCode::failed_precondition:
        case GrpcCode::unimplemented:
        case GrpcCode::unauthenticated:
            return {Errc::remote_error, text};
        default:
            return {safe ? Errc::remote_error : Errc::unknown_outcome, text};
    }
}

// The message of an error object: "message", else "error" (grpc-gateway writes both).
std::string error_message(const Json& error) {
    for (const char* name : {"message", "error"}) {
        auto member = error.find(name);
        if (member != error.end() && member->is_string()) {
            return member->get<std::string>();
        }
    }
    return "(no message)";
}

// An error with a gRPC code in `code_name`, or nullopt when it has none.
std::optional<Status> coded_error(const Json& error, const char* code_name, Repeat repeat) {
    auto code = error.find(code_name);
    if (code == error.end() || !code->is_number_integer()) {
        return std::nullopt;
    }
    return grpc_error(code->get<std::int64_t>(), error_message(error), repeat);
}

// A non-2xx answer that is not etcd's error object.
Status http_error(int http_status, std::string_view body, Repeat repeat) {
    const bool maybe_applied = http_status >= 500 && repeat == Repeat::unsafe;
    return {maybe_applied ? Errc::unknown_outcome : Errc::remote_error,
            "etcd answered HTTP " + std::to_string(http_status) + ": " + quoted(body)};
}

// The answer as one JSON object: the whole body, else its first line (a stream of one
// message); nullopt when neither is.
std::optional<Json> parse_object(std::string_view body) {
    Json parsed = Json::parse(body, nullptr, false);
    if (parsed.is_discarded() && body.find('\n') != std::string_view::npos) {
        parsed = Json::parse(body.substr(0, body.find('\n')), nullptr, false);
    }
    if (parsed.is_discarded() || !parsed.is_object()) {
        return std::nullopt;
    }
    return parsed;
}

Result<Json> interpret_success(int http_status, std::string_view body, Repeat repeat) {
    std::optional<Json> answer = parse_object(body);
    if (!answer) {
        return Status(repeat == Repeat::safe ? Errc::remote_error : Errc::unknown_outcome,
                      "etcd answered HTTP " + std::to_string(http_status) +
                          " with no JSON object: " + quoted(body));
    }
    auto error = answer->find("error");  // a streamed RPC's error ("error" is else a string)
    if (error != answer->end() && error->is_object()) {
        return coded_error(*error, "grpc_code", repeat)
            .value_or(Status(Errc::remote_error, "etcd stream error: " + quoted(body)));
    }
    auto result = answer->find("result");  // a streamed RPC's message
    if (result != answer->end() && result->is_object()) {
        return Json(std::move(*result));
    }
    return std::move(*answer);
}

Json put_request(std::string_view key, std::string_view value, std::int64_t lease) {
    Json put{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
    if (lease != 0) {
        put["lease"] = std::to_string(lease);
    }
    return put;
}

}  // namespace

std::string grant_body(std::chrono::seconds ttl) {
    return Json{{"TTL", std::to_string(ttl.count())}}.dump();
}

std::string lease_body(std::int64_t lease) { return Json{{"ID", std::to_string(lease)}}.dump(); }

std::string put_body(std::string_view key, std::string_view value, std::int64_t lease) {
    return put_request(key, value, lease).dump();
}

std::string create_body(std::string_view key, std::string_view value, std::int64_t lease) {
    const std::string key_text = base64_encode(key);
    Json compare{
        {"key", key_text}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
    Json body{{"compare", Json::array({compare})},
              {"success", Json::array({Json{{"request_put", put_request(key, value, lease)}}})},
              {"failure", Json::array({Json{{"request_range", Json{{"key", key_text}}}}})}};
    return body.dump();
}

std::string delete_if_unchanged_body(std::string_view key, std::int64_t mod_revision) {
    const std::string key_text = base64_encode(key);
    Json compare{{"key", key_text},
                 {"target", "MOD"},
                 {"result", "EQUAL"},
                 {"mod_revision", std::to_string(mod_revision)}};
    Json body{{"compare", Json::array({compare})},
              {"success", Json::array({Json{{"request_delete_range", Json{{"key", key_text}}}}})}};
    return body.dump();
}

std::string range_body(std::string_view key, std::string_view range_end, std::size_t limit) {
    Json body{{"key", base64_encode(key)}};
    if (!range_end.empty()) {
        body["range_end"] = base64_encode(range_end);
    }
    if (limit > 0) {
        body["limit"] = std::to_string(limit);
    }
    return body.dump();
}

std::string prefix_end(std::string_view prefix) {
    QRPAY_ASSERT(!prefix.empty(), "an empty prefix has no range end");
    std::string end(prefix);
    while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) {
        end.pop_back();
    }
    if (end.empty()) {
        return {'\0'};  // etcd: every key >= the prefix
    }
    end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
    return end;
}

Result<Json> interpret(int http_status, std::string_view body, Repeat repeat) {
    if (http_status >= 200 && http_status < 300) {
        return interpret_success(http_status, body, repeat);
    }
    if (std::optional<Json> answer = parse_object(body)) {
        if (std::optional<Status> error = coded_error(*answer, "code", repeat)) {
            return *std::move(error);
        }
    }
    return http_error(http_status, body, repeat);
}

Result<KeyValue> key_value(const Json& kv) {
    if (!kv.is_object()) {
        return bad_answer("a key-value is not an object");
    }
    KeyValue out;
    Result<std::string> key = bytes_member(kv, "key");
    Result<std::string> value = bytes_member(kv, "value");
    Result<std::int64_t> create_revision = int64_member(kv, "create_revision");
    Result<std::int64_t> mod_revision = int64_member(kv, "mod_revision");
    Result<std::int64_t> lease = int64_member(kv, "lease");
    for (const Status* status : {&key.status(), &value.status(), &create_revision.status(),
                                 &mod_revision.status(), &lease.status()}) {
        if (!status->ok()) {
            return *status;
        }
    }
    if (key->empty() || *create_revision <= 0 || *mod_revision < *create_revision) {
        return bad_answer("a key-value without key or with bad revisions");
    }
    return KeyValue{.key = std::move(*key),
                    .value = std::move(*value),
                    .create_revision = *create_revision,
                    .mod_revision = *mod_revision,
                    .lease = *lease};
}

Result<std::int64_t> header_revision(const Json& answer) {
    auto header = answer.find("header");
    if (header == answer.end() || !header->is_object()) {
        return bad_answer("no header");
    }
    Result<std::int64_t> revision = int64_member(*header, "revision");
    if (revision.ok() && *revision <= 0) {
        return bad_answer("no header revision");
    }
    return revision;
}

Result<Lease> granted_lease(const Json& answer) {
    auto error = answer.find("error");
    if (error != answer.end() && error->is_string() &&
        !error->get_ref<const std::string&>().empty()) {
        return Status(Errc::remote_error, "etcd: " + error->get<std::string>());
    }
    Result<std::int64_t> id = int64_member(answer, "ID");
    Result<std::int64_t> ttl = int64_member(answer, "TTL");
    if (!id.ok() || !ttl.ok()) {
        return id.ok() ? ttl.status() : id.status();
    }
    if (*id <= 0 || *ttl <= 0) {
        return bad_answer("a granted lease without ID or TTL");
    }
    return Lease{.id = *id, .ttl = std::chrono::seconds(*ttl)};
}

Result<std::chrono::seconds> kept_alive_ttl(const Json& answer) {
    Result<std::int64_t> ttl = int64_member(answer, "TTL");
    if (!ttl.ok()) {
        return ttl.status();
    }
    if (*ttl <= 0) {
        return Status(Errc::not_found, "etcd: the lease is gone (keep-alive answered TTL 0)");
    }
    return std::chrono::seconds(*ttl);
}

Result<bool> txn_succeeded(const Json& answer) { return bool_member(answer, "succeeded"); }

// The first key-value of a txn's first response, a range.
Result<KeyValue> first_ranged(const Json& answer) {
    Result<Json> responses = array_member(answer, "responses");
    if (!responses.ok() || responses->empty() || !(*responses)[0].is_object()) {
        return bad_answer("a failed create without its range");
    }
    auto range = (*responses)[0].find("response_range");
    if (range == (*responses)[0].end() || !range->is_object()) {
        return bad_answer("a failed create without its range");
    }
    Result<Json> kvs = array_member(*range, "kvs");
    if (!kvs.ok() || kvs->empty()) {
        return bad_answer("a failed create without the existing key");
    }
    return key_value((*kvs)[0]);
}

Result<CreateResult> create_result(const Json& answer) {
    Result<bool> succeeded = txn_succeeded(answer);
    Result<std::int64_t> revision = header_revision(answer);
    if (!succeeded.ok() || !revision.ok()) {
        return succeeded.ok() ? revision.status() : succeeded.status();
    }
    CreateResult out{.created = *succeeded, .revision = *revision, .existing = std::nullopt};
    if (!out.created) {
        Result<KeyValue> existing = first_ranged(answer);
        if (!existing.ok()) {
            return existing.status();
        }
        out.existing = std::move(*existing);
    }
    return out;
}

Result<RangeResult> range_result(const Json& answer) {
    Result<std::int64_t> revision = header_revision(answer);
    Result<Json> kvs = array_member(answer, "kvs");
    Result<bool> more = bool_member(answer, "more");
    for (const Status* status : {&revision.status(), &kvs.status(), &more.status()}) {
        if (!status->ok()) {
            return *status;
        }
    }
    if (*more) {
        return Status(
            Errc::invalid_argument,
            "etcd holds more keys in the range than its limit of " + std::to_string(kvs->size()));
    }
    RangeResult out{.revision = *revision, .kvs = {}};
    out.kvs.reserve(kvs->size());
    for (const Json& kv : *kvs) {
        Result<KeyValue> parsed = key_value(kv);
        if (!parsed.ok()) {
            return parsed.status();
        }
        if (!out.kvs.empty() && out.kvs.back().key >= parsed->key) {
            return bad_answer("keys out of order");
        }
        out.kvs.push_back(std::move(*parsed));
    }
    return out;
}

}  // namespace qrpay::etcd::wire
