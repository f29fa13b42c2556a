#pragma once
// Strong integer types for identities and counters, so a shard id cannot be passed where a
// sequence number is expected (STYLE 2.4).

#include <compare>
#include <cstdint>
#include <functional>

namespace qrpay {

template <class Tag, class Rep = std::uint64_t>
struct StrongInt {
    Rep value = 0;

    constexpr StrongInt() = default;
    constexpr explicit StrongInt(Rep v) : value(v) {}
    constexpr auto operator<=>(const StrongInt&) const = default;
    [[nodiscard]] constexpr StrongInt next() const { return StrongInt(value + 1); }
};

// Position of an event in one entity's stream: 1 for the first event, 0 for "none yet".
using SequenceNr = StrongInt<struct SequenceNrTag>;
// Shard = stable hash of the entity id over a fixed shard count.
using ShardId = StrongInt<struct ShardIdTag, std::uint32_t>;
// Issued to a shard's owner; the journal refuses appends carrying an older one.
using FencingToken = StrongInt<struct FencingTokenTag>;
// Position of an event in one shard's gap-free order: 1 for the first event.
using ShardOffset = StrongInt<struct ShardOffsetTag>;

}  // namespace qrpay

template <class Tag, class Rep>
struct std::hash<qrpay::StrongInt<Tag, Rep>> {
    std::size_t operator()(const qrpay::StrongInt<Tag, Rep>& id) const noexcept {
        return std::hash<Rep>{}(id.value);
    }
};
