#include "cluster/internal_api.h"

#include <utility>

#include "base/sha256.h"
#include "cluster/forward_wire.h"

namespace qrpay::cluster {
namespace {

constexpr std::string_view secret_label = "qrpay internal listener v1\n";

// Compares in time that depends on the lengths only, not on where the bytes differ.
bool same_bytes(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return difference == 0;
}

http::Response plain(int status, std::string text) {
    return http::Response::text(status, std::move(text));
}

}  // namespace

std::string internal_secret(std::string_view token_key) {
    return sha256_hex(std::string(secret_label) + std::string(token_key));
}

InternalApi::InternalApi(runtime::Runtime& runtime, std::string secret)
    : runtime_(runtime), expected_authorization_("Bearer " + std::move(secret)) {}

bool InternalApi::authorized(const http::Request& request) const {
    return same_bytes(request.header("Authorization"), expected_authorization_);
}

void InternalApi::stop() { watches_.stop(); }

void InternalApi::hold_watch(const http::Responder& responder) {
    auto held = watches_.run_after(internal_watch_hold,
                                   [responder] { responder(plain(200, "still here\n")); });
    if (!held.ok()) {  // stopping (or too many held): the watcher pings again after a while
        responder(plain(503, "not holding watches now\n"));
    }
}

void InternalApi::handle(const http::Request& request, const http::Responder& responder) {
    if (!authorized(request)) {
        responder(plain(401, "a peer's bearer token is required\n"));
        return;
    }
    if (request.path == internal_ping_path) {
        responder(plain(request.method == "GET" ? 200 : 405, "ok\n"));
        return;
    }
    if (request.path == internal_watch_path) {
        if (request.method != "GET") {
            responder(plain(405, "GET a watch\n"));
            return;
        }
        hold_watch(responder);
        return;
    }
    if (request.path != internal_commands_path) {
        responder(plain(404, "no such internal path\n"));
        return;
    }
    if (request.method != "POST") {
        responder(plain(405, "POST a forwarded command\n"));
        return;
    }
    Result<ForwardedFrame> frame = decode_forwarded(request.body);
    if (!frame.ok()) {
        responder(plain(400, frame.status().message() + "\n"));
        return;
    }
    if (frame->shard.value >= runtime_.options().shard_count) {
        responder(plain(400, "shard out of range: the nodes disagree on the shard count\n"));
        return;
    }
    runtime_.deliver_forwarded(std::move(frame->command), [responder](Result<std::string> answer) {
        http::Response response;
        response.status = 200;
        response.headers["Content-Type"] = "application/octet-stream";
        response.body = encode_answer(answer);
        responder(std::move(response));
    });
}

}  // namespace qrpay::cluster
