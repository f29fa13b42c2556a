#pragma once
// The contract between the runtime and an entity type (STYLE 2.6). The runtime hosts; the
// domain declares. A behavior object is immutable after construction and shared by every
// entity of its type, on every executor thread: its methods must be const and thread-safe.
//
//   State on_event(State, const Event&)                   pure, total; also used for replay.
//                                                         A stored event that cannot apply is
//                                                         a broken invariant (QRPAY_ASSERT).
//   Effect on_command(const State&, const Command&, const Context&)
//                                                         decides; pure apart from the side
//                                                         effects it returns for later.
//   Effect on_wake(const State&, const Context&)          the entity's deadline passed, a
//                                                         wake_after reminder fired, or the
//                                                         node started while the entity had
//                                                         unfinished work (deadline(state)).
//   std::optional<UnixMs> deadline(const State&)          durable: stored with every append;
//                                                         nullopt means "no unfinished work".
//   EventData encode_event(const Event&)                  versioned bytes, see the codec file
//   Event decode_event(const StoredEvent&)                asserts on bytes it cannot read
//   std::string encode_state(const State&)                for snapshots
//   State decode_state(std::string_view)

#include <concepts>
#include <optional>
#include <string>
#include <string_view>

#include "journal/journal.h"
#include "runtime/effect.h"

namespace qrpay::runtime {

using journal::EventData;
using journal::StoredEvent;

template <class B>
concept Behavior = requires(const B& behavior,
                            typename B::State state,
                            const typename B::Command& command,
                            const typename B::Event& event,
                            const CommandContext<typename B::Command>& context,
                            const StoredEvent& stored,
                            std::string_view bytes) {
    { B::type_name } -> std::convertible_to<std::string_view>;
    { behavior.on_event(state, event) } -> std::same_as<typename B::State>;
    {
        behavior.on_command(state, command, context)
        } -> std::same_as<Effect<typename B::Event, typename B::Reply>>;
    {
        behavior.on_wake(state, context)
        } -> std::same_as<Effect<typename B::Event, typename B::Reply>>;
    { behavior.deadline(state) } -> std::same_as<std::optional<UnixMs>>;
    { behavior.encode_event(event) } -> std::same_as<EventData>;
    { behavior.decode_event(stored) } -> std::same_as<typename B::Event>;
    { behavior.encode_state(state) } -> std::same_as<std::string>;
    { behavior.decode_state(bytes) } -> std::same_as<typename B::State>;
};

}  // namespace qrpay::runtime
