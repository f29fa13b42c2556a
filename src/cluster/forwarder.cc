#include "cluster/forwarder.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "base/log.h"
#include "cluster/forward_wire.h"
#include "cluster/internal_api.h"
#include "http/client.h"

namespace qrpay::cluster {

namespace {

constexpr std::size_t retry_tasks_max = 65'536;

Status gone() { return Status(Errc::unavailable, "the node is stopping"); }

// A peer that does not take a connection within ten tries' time is taken as unreachable.
std::chrono::milliseconds peer_connect_timeout(const ForwarderOptions& options) {
    return options.retry_interval * 10;
}

}  // namespace

std::string internal_address_of(const std::string& node_info) {
    const nlohmann::json info = nlohmann::json::parse(node_info, nullptr, false);
    if (!info.is_object()) {
        return "";
    }
    const auto internal = info.find("internal");
    return internal != info.end() && internal->is_string() ? internal->get<std::string>() : "";
}

// One command on its way. Exactly one path holds it at a time (a try, a wait), so `done` needs
// no lock; an attempt dropped unanswered (the node stops) answers unavailable as it goes.
struct PeerForwarder::Attempt {
    ShardId shard;
    runtime::ForwardedCommand command;
    std::string frame;
    runtime::ForwardDone done;
    std::chrono::steady_clock::time_point deadline;

    Attempt(ShardId shard_in,
            runtime::ForwardedCommand command_in,
            runtime::ForwardDone done_in,
            std::chrono::steady_clock::time_point deadline_in)
        : shard(shard_in),
          command(std::move(command_in)),
          frame(encode_forwarded(shard, command)),
          done(std::move(done_in)),
          deadline(deadline_in) {}
    ~Attempt() { answer(gone()); }
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;
    Attempt(Attempt&&) = delete;
    Attempt& operator=(Attempt&&) = delete;

    void answer(Result<std::string> result) {
        if (runtime::ForwardDone answering = std::exchange(done, nullptr)) {
            answering(std::move(result));
        }
    }
};

PeerForwarder::PeerForwarder(runtime::Runtime& runtime,
                             const Clock& clock,
                             ForwarderOptions options)
    : runtime_(runtime),
      clock_(clock),
      options_(std::move(options)),
      retries_(retry_tasks_max, clock),
      shard_owners_(runtime.options().shard_count) {}

PeerForwarder::~PeerForwarder() { stop(); }

void PeerForwarder::start() { retries_.start("forward-retry"); }

void PeerForwarder::stop() {
    std::map<std::string, Peer> closing;
    std::vector<Retired> retired;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) {
            return;
        }
        stopped_ = true;
        closing.swap(peers_);
        retired.swap(retired_);
    }
    for (auto& [id, peer] : closing) {
        peer.client->stop();  // calls in flight answer; their waits land on retries_
    }
    for (Retired& old : retired) {
        old.client->stop();
    }
    retries_.stop();  // waiting attempts answer unavailable when their tasks are destroyed
}

void PeerForwarder::update(const ClusterView& view) {
    // The peers to reach and where; their connections are opened outside the lock (opening
    // starts a thread), so that routing never waits for it.
    std::map<std::string, std::string> wanted;  // node id -> internal address
    for (const ClusterView::Node& node : view.nodes) {
        const std::string address = internal_address_of(node.info);
        if (node.id != options_.node_id && !address.empty()) {
            wanted.emplace(node.id, address);
        }
    }
    std::map<std::string, Peer> next;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& [id, peer] : peers_) {
            if (auto want = wanted.find(id); want != wanted.end() && want->second == peer.address) {
                next.emplace(id, peer);
            }
        }
    }
    for (const auto& [id, address] : wanted) {
        if (next.contains(id)) {
            continue;
        }
        auto client =
            http::Client::open({.base_url = "http://" + address,
                                .connect_timeout = peer_connect_timeout(options_),
                                .response_timeout = options_.response_timeout,
                                .connections_max = options_.connections_per_peer_max,
                                .calls_waiting_max = options_.calls_waiting_per_peer_max});
        if (!client.ok()) {
            // Its commands wait for it as for a node that cannot be reached; tried again at
            // the next view.
            QRPAY_LOG_DEBUG("forwarding: node %s at %s: %s", id.c_str(), address.c_str(),
                            client.status().to_string().c_str());
            continue;
        }
        next.emplace(id, Peer{address, std::shared_ptr<http::Client>(std::move(*client))});
    }
    std::vector<std::shared_ptr<http::Client>> closing;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) {
            closing.reserve(next.size());
            for (auto& [id, peer] : next) {
                closing.push_back(std::move(peer.client));
            }
        } else {
            shard_owners_ = view.shard_owners;
            shard_owners_.resize(runtime_.options().shard_count);
            const auto now = clock_.monotonic_now();
            for (auto& [id, peer] : peers_) {
                if (auto kept = next.find(id);
                    kept == next.end() || kept->second.client != peer.client) {
                    retired_.push_back({std::move(peer.client), now});
                }
            }
            peers_ = std::move(next);
        }
    }
    for (const auto& client : closing) {
        client->stop();
    }
    close_finished_retirees();
}

void PeerForwarder::close_finished_retirees() {
    // Every call ends within its connect and response timeouts; one more retry interval covers
    // a call taken just as its client was retired.
    const auto oldest_kept = clock_.monotonic_now() - peer_connect_timeout(options_) -
                             options_.response_timeout - options_.retry_interval;
    std::vector<std::shared_ptr<http::Client>> closing;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::erase_if(retired_, [&](Retired& old) {
            if (old.client->calls_unfinished() > 0 && old.since > oldest_kept) {
                return false;
            }
            closing.push_back(std::move(old.client));
            return true;
        });
    }
    for (const auto& client : closing) {
        client->stop();
    }
}

void PeerForwarder::forward(ShardId shard,
                            runtime::ForwardedCommand command,
                            runtime::ForwardDone done) {
    try_once(std::make_shared<Attempt>(shard, std::move(command), std::move(done),
                                       clock_.monotonic_now() + options_.move_wait_max));
}

PeerForwarder::Route PeerForwarder::route_of(ShardId shard,
                                             std::shared_ptr<http::Client>& client,
                                             std::string& why) const {
    if (runtime_.serves(shard)) {
        return Route::here;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string& owner = shard_owners_.at(shard.value);
    if (owner.empty()) {
        why = "no node claims it";
        return Route::wait;
    }
    if (owner == options_.node_id) {
        why = "this node is taking it";
        return Route::wait;
    }
    auto peer = peers_.find(owner);
    if (peer == peers_.end()) {
        why = "its owner " + owner + " has no internal address";
        return Route::wait;
    }
    client = peer->second.client;
    return Route::peer;
}

void PeerForwarder::try_once(const std::shared_ptr<Attempt>& attempt) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) {
            attempt->answer(gone());
            return;
        }
    }
    std::shared_ptr<http::Client> client;
    std::string why;
    switch (route_of(attempt->shard, client, why)) {
        case Route::here:
            runtime_.deliver_forwarded(attempt->command,
                                       [this, attempt](Result<std::string> answer) {
                                           on_answer(attempt, std::move(answer));
                                       });
            return;
        case Route::wait:
            wait_and_retry(attempt, why);
            return;
        case Route::peer:
            break;
    }
    ++forwarded_;
    http::ClientRequest request{.method = "POST",
                                .path = std::string(internal_commands_path),
                                .headers = {{"Authorization", "Bearer " + options_.secret},
                                            {"Content-Type", "application/octet-stream"}},
                                .body = attempt->frame,
                                // A peer closes an idle connection without reading what
                                // arrives on it (a node stopping after it left).
                                .replay_on_stale_connection = true};
    client->call_async(std::move(request), [this, attempt](Result<http::Response> response) {
        on_peer_response(attempt, std::move(response));
    });
}

void PeerForwarder::on_peer_response(const std::shared_ptr<Attempt>& attempt,
                                     Result<http::Response> response) {
    if (!response.ok()) {
        if (response.status().code() == Errc::unavailable) {  // surely not sent
            wait_and_retry(attempt, "its owner cannot be reached: " + response.status().message());
            return;
        }
        ++lost_answers_;
        QRPAY_LOG_WARN("forwarding: answer lost: %s", response.status().to_string().c_str());
        attempt->answer(Status(Errc::unknown_outcome,
                               "forwarded, answer lost: " + response.status().to_string()));
        return;
    }
    // The peer's listener refused the connection before reading anything. Any other 503 (its
    // handler did not answer in time) may come after the command ran.
    if (response->status == 503 &&
        response->body.find("\"too_many_connections\"") != std::string::npos) {
        wait_and_retry(attempt, "its owner is saturated");
        return;
    }
    if (response->status == 503) {
        ++lost_answers_;
        QRPAY_LOG_WARN("forwarding: the owner answered 503: %s", response->body.c_str());
        attempt->answer(Status(Errc::unknown_outcome, "the owner did not answer in time"));
        return;
    }
    if (response->status != 200) {
        attempt->answer(Status(
            Errc::remote_error,
            "a peer answered a forwarded command with HTTP " + std::to_string(response->status)));
        return;
    }
    Result<Result<std::string>> answer = decode_answer(response->body);
    if (!answer.ok()) {
        ++lost_answers_;
        attempt->answer(Status(Errc::unknown_outcome, answer.status().message()));
        return;
    }
    on_answer(attempt, std::move(answer).value());
}

void PeerForwarder::on_answer(const std::shared_ptr<Attempt>& attempt, Result<std::string> answer) {
    if (!answer.ok() && answer.status().code() == Errc::not_owner) {
        wait_and_retry(attempt, "its owner let go of it");  // refused at the door: not run
        return;
    }
    attempt->answer(std::move(answer));
}

void PeerForwarder::wait_and_retry(const std::shared_ptr<Attempt>& attempt,
                                   const std::string& why) {
    const auto next_try = clock_.monotonic_now() + options_.retry_interval;
    if (next_try > attempt->deadline) {
        ++gave_up_;
        attempt->answer(Status(
            Errc::not_owner,
            "no node took shard " + std::to_string(attempt->shard.value) + "'s command within " +
                std::to_string(options_.move_wait_max.count()) + " ms (" + why + ")"));
        return;
    }
    if (attempts_waiting_.load() >= options_.attempts_waiting_max) {
        attempt->answer(Status(Errc::unavailable, "too many forwarded commands wait for a shard"));
        return;
    }
    ++retries_counted_;
    ++attempts_waiting_;
    retries_.post_at(next_try, [this, attempt] {
        --attempts_waiting_;
        try_once(attempt);
    });
}

ForwarderStats PeerForwarder::stats() const {
    return {.forwarded = forwarded_.load(),
            .retries = retries_counted_.load(),
            .gave_up = gave_up_.load(),
            .lost_answers = lost_answers_.load()};
}

}  // namespace qrpay::cluster
