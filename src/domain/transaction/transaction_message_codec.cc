// Transaction commands and replies as they travel between nodes (runtime/forwarding.h),
// version 1. Compact JSON objects with sorted keys; "c" names a command, "r" a reply:
//
//   Generate   {"c":"Generate","code":str,"consumer_id":str,"expires_at_unix_ms":i64,"v":1}
//   ReadToken  {"amount_minor":i64,"c":"ReadToken","currency":str,"merchant_id":str,
//               "order_id":str,"request_hash":str,"request_key":str,"v":1}
//   Cancel     {"c":"Cancel","merchant_id":str,"request_hash":str,"request_key":str,"v":1}
//   Get        {"c":"Get","v":1}
//   View       {"r":"View","state":<the snapshot format of transaction_codec.cc>,
//               "transaction_id":str,"v":1,"version":i64}
//
// AgencyAnswered never travels: it reports a call this node made, to the entity as this node
// knew it. After the shard moved, the new owner's entity asks the agency again on its deadline.
// The command's own rules check the values (amounts, ids, lengths) as for a local command.

#include <string>
#include <utility>

#include "domain/codec_json.h"
#include "domain/transaction/transaction.h"

namespace qrpay::domain {
namespace {

using codec::Json;
using codec::MessageReader;

Json command_named(const char* name) { return Json{{"v", codec::version_1}, {"c", name}}; }

void put_request_key(Json& object, const std::string& key, const std::string& hash) {
    object["request_key"] = key;
    object["request_hash"] = hash;
}

}  // namespace

std::optional<std::string> Transaction::encode_command(const TransactionCommand& command) const {
    if (const auto* generate = std::get_if<Generate>(&command)) {
        Json object = command_named("Generate");
        object["consumer_id"] = generate->consumer_id.value;
        object["code"] = generate->code.reveal();
        object["expires_at_unix_ms"] = generate->expires_at.value;
        return codec::dump(object);
    }
    if (const auto* read = std::get_if<ReadToken>(&command)) {
        Json object = command_named("ReadToken");
        object["merchant_id"] = read->merchant_id.value;
        object["amount_minor"] = read->amount.amount_minor;
        object["currency"] = read->amount.currency;
        object["order_id"] = read->order_id;
        put_request_key(object, read->request_key, read->request_hash);
        return codec::dump(object);
    }
    if (const auto* cancel = std::get_if<Cancel>(&command)) {
        Json object = command_named("Cancel");
        object["merchant_id"] = cancel->merchant_id.value;
        put_request_key(object, cancel->request_key, cancel->request_hash);
        return codec::dump(object);
    }
    if (std::holds_alternative<Get>(command)) {
        return codec::dump(command_named("Get"));
    }
    return std::nullopt;  // AgencyAnswered stays here
}

Result<TransactionCommand> Transaction::decode_command(std::string_view bytes) const {
    Result<MessageReader> reader = MessageReader::parse(bytes, codec::version_1);
    if (!reader.ok()) {
        return reader.status();
    }
    MessageReader& in = *reader;
    const std::string name = in.string("c");
    TransactionCommand command;
    if (name == "Generate") {
        command = Generate{.consumer_id = {in.string("consumer_id")},
                           .code = Secret(in.string("code")),
                           .expires_at = UnixMs{in.integer("expires_at_unix_ms")}};
    } else if (name == "ReadToken") {
        command = ReadToken{.merchant_id = {in.string("merchant_id")},
                            .amount = {.amount_minor = in.integer("amount_minor"),
                                       .currency = in.string("currency")},
                            .order_id = in.string("order_id"),
                            .request_key = in.string("request_key"),
                            .request_hash = in.string("request_hash")};
    } else if (name == "Cancel") {
        command = Cancel{.merchant_id = {in.string("merchant_id")},
                         .request_key = in.string("request_key"),
                         .request_hash = in.string("request_hash")};
    } else if (name == "Get") {
        command = Get{};
    } else {
        in.fail("unknown transaction command \"" + name + "\"");
    }
    if (!in.status().ok()) {
        return in.status();
    }
    return command;
}

std::string Transaction::encode_reply(const TransactionReply& reply) const {
    const TransactionView& view = std::get<TransactionView>(reply);
    return codec::dump(Json{{"v", codec::version_1},
                            {"r", "View"},
                            {"transaction_id", view.transaction_id.value},
                            {"version", view.version.value},
                            {"state", encode_transaction_state(view.state)}});
}

Result<TransactionReply> Transaction::decode_reply(std::string_view bytes) const {
    Result<MessageReader> reader = MessageReader::parse(bytes, codec::version_1);
    if (!reader.ok()) {
        return reader.status();
    }
    MessageReader& in = *reader;
    if (const std::string name = in.string("r"); in.status().ok() && name != "View") {
        in.fail("unknown transaction reply \"" + name + "\"");
    }
    const std::int64_t version = in.integer("version");
    if (version < 0) {
        in.fail("a transaction's version is not negative");
    }
    TransactionView view{.transaction_id = {in.string("transaction_id")},
                         .state = {},
                         .version = SequenceNr(static_cast<std::uint64_t>(version))};
    const std::string state_bytes = in.string("state");
    if (!in.status().ok()) {
        return in.status();
    }
    Result<TransactionState> state = read_transaction_state(state_bytes);
    if (!state.ok()) {
        return state.status();
    }
    view.state = std::move(state).value();
    return TransactionReply(std::move(view));
}

}  // namespace qrpay::domain
