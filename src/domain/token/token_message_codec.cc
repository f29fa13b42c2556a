// Token commands and replies as they travel between nodes (runtime/forwarding.h), version 1.
// Compact JSON objects with sorted keys; "c" names a command, "r" a reply:
//
//   StartUse     {"c":"StartUse","expires_at_unix_ms":i64,"transaction_id":str,"v":1}
//   Resolve      {"c":"Resolve","v":1}
//   UseAccepted  {"r":"UseAccepted","v":1}
//   Resolved     {"r":"Resolved","transaction_id":str,"v":1}
//
// A node reads every version an older node of the cluster may still send during a rolling
// upgrade; a new meaning is a new name or a new "v".

#include <string>
#include <utility>

#include "domain/codec_json.h"
#include "domain/token/token.h"

namespace qrpay::domain {
namespace {

using codec::Json;
using codec::MessageReader;

Status unknown(const std::string& kind, const std::string& name) {
    return Status(Errc::invalid_argument, "unknown token " + kind + " \"" + name + "\"");
}

}  // namespace

std::optional<std::string> Token::encode_command(const TokenCommand& command) const {
    if (const auto* start = std::get_if<StartUse>(&command)) {
        return codec::dump(Json{{"v", codec::version_1},
                                {"c", "StartUse"},
                                {"transaction_id", start->transaction_id.value},
                                {"expires_at_unix_ms", start->expires_at.value}});
    }
    return codec::dump(Json{{"v", codec::version_1}, {"c", "Resolve"}});
}

Result<TokenCommand> Token::decode_command(std::string_view bytes) const {
    Result<MessageReader> reader = MessageReader::parse(bytes, codec::version_1);
    if (!reader.ok()) {
        return reader.status();
    }
    const std::string name = reader->string("c");
    TokenCommand command;
    if (name == "StartUse") {
        command = StartUse{.transaction_id = {reader->string("transaction_id")},
                           .expires_at = UnixMs{reader->integer("expires_at_unix_ms")}};
    } else if (name == "Resolve") {
        command = Resolve{};
    } else if (reader->status().ok()) {
        return unknown("command", name);
    }
    if (!reader->status().ok()) {
        return reader->status();
    }
    return command;
}

std::string Token::encode_reply(const TokenReply& reply) const {
    if (const auto* resolved = std::get_if<Resolved>(&reply)) {
        return codec::dump(Json{{"v", codec::version_1},
                                {"r", "Resolved"},
                                {"transaction_id", resolved->transaction_id.value}});
    }
    return codec::dump(Json{{"v", codec::version_1}, {"r", "UseAccepted"}});
}

Result<TokenReply> Token::decode_reply(std::string_view bytes) const {
    Result<MessageReader> reader = MessageReader::parse(bytes, codec::version_1);
    if (!reader.ok()) {
        return reader.status();
    }
    const std::string name = reader->string("r");
    TokenReply reply;
    if (name == "Resolved") {
        reply = Resolved{.transaction_id = {reader->string("transaction_id")}};
    } else if (name == "UseAccepted") {
        reply = UseAccepted{};
    } else if (reader->status().ok()) {
        return unknown("reply", name);
    }
    if (!reader->status().ok()) {
        return reader->status();
    }
    return reply;
}

}  // namespace qrpay::domain
