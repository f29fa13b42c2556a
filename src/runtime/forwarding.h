#pragma once
// Forwarding: how a command reaches an entity whose shard another node serves (DESIGN §6).
//
// The runtime knows only that a shard is or is not served here. When it is not, an entity host
// whose Behavior can put its commands and replies into bytes (ForwardableBehavior below) hands
// the command to the runtime's Forwarder, which the cluster implements: it finds the shard's
// owner, sends the bytes over an internal connection, and the owner's runtime delivers them to
// the entity there (Runtime::deliver_forwarded), local delivery only. Without a Forwarder (one
// node alone), or for a command the Behavior keeps local, the command is refused not_owner.
//
// A forwarded command is delivered at most once: the forwarder re-sends only what surely did
// not run (refused at the owner's door as not_owner, or never sent); an answer lost after the
// send is unknown_outcome, as for a local write whose answer was lost.

#include <concepts>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/strong_types.h"

namespace qrpay::runtime {

struct ForwardedCommand {
    std::string type_name;     // the Behavior's type_name
    std::string entity_id;     // may be a secret (a payment code): never logged as is
    bool presume_new = false;  // EntityHost::ask_new
    bool wants_reply = true;   // false for EntityHost::tell
    std::string command;       // the Behavior's encode_command bytes
};

// The reply's bytes (the Behavior's encode_reply), or the command's error.
using ForwardDone = std::function<void(Result<std::string>)>;

class Forwarder {
public:
    virtual ~Forwarder() = default;
    // Delivers `command` to the node that serves `shard` and runs `done` once with its answer,
    // on any thread; it must not block. Errors besides the entity's own: not_owner (no node
    // served the shard within the forwarder's wait: 503 shard_unavailable), unavailable (the
    // internal queue is full, surely not delivered), unknown_outcome (sent, answer lost).
    virtual void forward(ShardId shard, ForwardedCommand command, ForwardDone done) = 0;
};

// A Behavior whose commands may travel to another node. encode_command returns nullopt for a
// command that must stay on the node that made it (an entity's message to itself about a call
// only this node made); such a command for a shard served elsewhere is dropped, and the entity's
// durable deadline makes its new owner ask again. The decoders return invalid_argument for bytes
// they cannot read: they come from another process, maybe of another version.
template <class B>
concept ForwardableBehavior = requires(const B& behavior,
                                       const typename B::Command& command,
                                       const typename B::Reply& reply,
                                       std::string_view bytes) {
    { behavior.encode_command(command) } -> std::same_as<std::optional<std::string>>;
    { behavior.decode_command(bytes) } -> std::same_as<Result<typename B::Command>>;
    { behavior.encode_reply(reply) } -> std::same_as<std::string>;
    { behavior.decode_reply(bytes) } -> std::same_as<Result<typename B::Reply>>;
};

}  // namespace qrpay::runtime
