#pragma once
// The bytes of a forwarded command and its answer between two nodes (forwarder.h), sent as the
// body of an HTTP/1.1 POST on the internal listener. Integers are big-endian.
//
//   command  u8 version (1) | u8 flags (1: presume new, 2: wants a reply) | u32 shard
//            | u16 type length | type | u16 entity id length | entity id | command bytes (rest)
//   answer   u8 version (1) | u8 kind (0: reply, 1: error)
//            kind 0: reply bytes (rest)
//            kind 1: u8 code name length | code name (errc_name) | message (rest)
//
// The entity id may be a payment code: it travels in the body, never in a URL a log could show.
// Decoders refuse what they cannot read with invalid_argument.

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/strong_types.h"
#include "runtime/forwarding.h"

namespace qrpay::cluster {

inline constexpr std::size_t forwarded_type_bytes_max = 64;
inline constexpr std::size_t forwarded_entity_id_bytes_max = 1'024;

struct ForwardedFrame {
    ShardId shard;
    runtime::ForwardedCommand command;
};

// REQUIRES: type and entity id within the bounds above.
std::string encode_forwarded(ShardId shard, const runtime::ForwardedCommand& command);
Result<ForwardedFrame> decode_forwarded(std::string_view bytes);

// An answer: the reply's bytes or the command's error.
std::string encode_answer(const Result<std::string>& answer);
// The answer the bytes carry, or invalid_argument (in the outer Result) for bytes that are
// not an answer.
Result<Result<std::string>> decode_answer(std::string_view bytes);

}  // namespace qrpay::cluster
