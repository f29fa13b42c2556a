#include "cluster/forward_wire.h"

#include <cstdint>
#include <optional>

#include "base/assert.h"

namespace qrpay::cluster {
namespace {

constexpr std::uint8_t wire_version = 1;
constexpr std::uint8_t flag_presume_new = 1;
constexpr std::uint8_t flag_wants_reply = 2;
constexpr std::uint8_t kind_reply = 0;
constexpr std::uint8_t kind_error = 1;

void put_u8(std::string& out, std::uint8_t value) { out.push_back(static_cast<char>(value)); }

void put_u16(std::string& out, std::size_t value) {
    QRPAY_ASSERT(value <= 0xFFFF, "a u16 field fits");
    put_u8(out, static_cast<std::uint8_t>(value >> 8));
    put_u8(out, static_cast<std::uint8_t>(value));
}

void put_u32(std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        put_u8(out, static_cast<std::uint8_t>(value >> shift));
    }
}

// Reads fields off the front of the bytes; once a read runs past the end, every read fails.
class Reader {
public:
    explicit Reader(std::string_view bytes) : rest_(bytes) {}

    std::optional<std::uint32_t> number(std::size_t width) {
        if (rest_.size() < width) {
            return std::nullopt;
        }
        std::uint32_t value = 0;
        for (std::size_t i = 0; i < width; ++i) {
            value = (value << 8) | static_cast<std::uint8_t>(rest_[i]);
        }
        rest_.remove_prefix(width);
        return value;
    }
    std::optional<std::string_view> text(std::size_t length) {
        if (rest_.size() < length) {
            return std::nullopt;
        }
        std::string_view value = rest_.substr(0, length);
        rest_.remove_prefix(length);
        return value;
    }
    [[nodiscard]] std::string_view rest() const { return rest_; }

private:
    std::string_view rest_;
};

Status unreadable(const char* what) {
    return Status(Errc::invalid_argument, std::string("unreadable forwarded ") + what);
}

}  // namespace

std::string encode_forwarded(ShardId shard, const runtime::ForwardedCommand& command) {
    QRPAY_ASSERT(command.type_name.size() <= forwarded_type_bytes_max, "type name within bound");
    QRPAY_ASSERT(command.entity_id.size() <= forwarded_entity_id_bytes_max, "id within bound");
    std::string out;
    out.reserve(10 + command.type_name.size() + command.entity_id.size() + command.command.size());
    put_u8(out, wire_version);
    put_u8(out, static_cast<std::uint8_t>((command.presume_new ? flag_presume_new : 0) |
                                          (command.wants_reply ? flag_wants_reply : 0)));
    put_u32(out, shard.value);
    put_u16(out, command.type_name.size());
    out += command.type_name;
    put_u16(out, command.entity_id.size());
    out += command.entity_id;
    out += command.command;
    return out;
}

Result<ForwardedFrame> decode_forwarded(std::string_view bytes) {
    Reader in(bytes);
    const std::optional<std::uint32_t> version = in.number(1);
    const std::optional<std::uint32_t> flags = in.number(1);
    const std::optional<std::uint32_t> shard = in.number(4);
    if (!version || *version != wire_version || !flags || !shard) {
        return unreadable("command header");
    }
    const std::optional<std::uint32_t> type_length = in.number(2);
    const std::optional<std::string_view> type = type_length ? in.text(*type_length) : std::nullopt;
    const std::optional<std::uint32_t> id_length = in.number(2);
    const std::optional<std::string_view> id = id_length ? in.text(*id_length) : std::nullopt;
    if (!type || !id || type->empty() || type->size() > forwarded_type_bytes_max ||
        id->size() > forwarded_entity_id_bytes_max) {
        return unreadable("command names");
    }
    return ForwardedFrame{
        .shard = ShardId(*shard),
        .command = runtime::ForwardedCommand{.type_name = std::string(*type),
                                             .entity_id = std::string(*id),
                                             .presume_new = (*flags & flag_presume_new) != 0,
                                             .wants_reply = (*flags & flag_wants_reply) != 0,
                                             .command = std::string(in.rest())}};
}

std::string encode_answer(const Result<std::string>& answer) {
    std::string out;
    put_u8(out, wire_version);
    if (answer.ok()) {
        put_u8(out, kind_reply);
        out += *answer;
        return out;
    }
    put_u8(out, kind_error);
    const std::string_view code = errc_name(answer.status().code());
    put_u8(out, static_cast<std::uint8_t>(code.size()));
    out += code;
    out += answer.status().message();
    return out;
}

Result<Result<std::string>> decode_answer(std::string_view bytes) {
    Reader in(bytes);
    const std::optional<std::uint32_t> version = in.number(1);
    const std::optional<std::uint32_t> kind = in.number(1);
    if (!version || *version != wire_version || !kind) {
        return unreadable("answer header");
    }
    if (*kind == kind_reply) {
        return Result<std::string>(std::string(in.rest()));
    }
    const std::optional<std::uint32_t> code_length = in.number(1);
    const std::optional<std::string_view> code_name =
        code_length ? in.text(*code_length) : std::nullopt;
    const std::optional<Errc> code = code_name ? errc_named(*code_name) : std::nullopt;
    if (*kind != kind_error || !code || *code == Errc::ok) {
        return unreadable("answer error");
    }
    return Result<std::string>(Status(*code, std::string(in.rest())));
}

}  // namespace qrpay::cluster
