#pragma once
// Effect: what an entity's command handler decides (STYLE 2.6). Built only through
//   persist(events...).then_reply(reply)   events first; the reply is sent once they are durable
//   persist(events...).no_reply()          events, nobody waits (a timer or agency result)
//   reply(value)                           no events, answer now
//   reject(status)                         no events, the command is refused with an error
//   no_effect()                            nothing at all
// and optionally extended with
//   .and_then(side_effect)                 runs after the events are durable, on the entity's
//                                          executor; its results come back as commands
//   .wake_after(duration)                  a non-durable reminder: on_wake runs again then
//   .claiming(key)                         binds a unique key to this entity atomically with
//                                          the events (journal.h, "key claim"); when another
//                                          entity holds it, nothing is stored and the command
//                                          is answered key_taken
//
// A Persist alone is not an Effect, so a forgotten reply does not compile.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/strong_types.h"

namespace qrpay::runtime {

// The reply type of an effect that never replies.
struct NoReply {};

// What a handler may know besides state and command. Handlers stay pure: time comes from
// here, never from a clock of their own.
template <class Command>
struct CommandContext {
    UnixMs now;
    std::string entity_id;
    SequenceNr seq;  // the entity's version: the sequence of its last applied event
    // Delivers a command to this entity later (from any thread, e.g. an agency callback).
    std::function<void(Command)> tell_self;
};

template <class Event, class Reply>
class [[nodiscard]] Effect {
public:
    using SideEffect = std::function<void()>;

    struct Rejected {
        Status status;
    };

    Effect(std::vector<Event> events, std::optional<Reply> reply)
        : events_(std::move(events)), outcome_(std::move(reply)) {}
    explicit Effect(Rejected rejected) : outcome_(std::move(rejected)) {}

    template <class OtherReply>
    Effect(Effect<Event, OtherReply>&& other)  // NOLINT(google-explicit-constructor)
        : events_(std::move(other.events_)),
          side_effects_(std::move(other.side_effects_)),
          wake_after_(other.wake_after_),
          claimed_keys_(std::move(other.claimed_keys_)) {
        if (other.is_rejected()) {
            outcome_ = Rejected{other.rejection()};
        } else if (other.reply()) {
            if constexpr (std::is_constructible_v<Reply, OtherReply>) {
                outcome_ = std::optional<Reply>(Reply(std::move(*other.reply())));
            } else {
                QRPAY_ASSERT(false, "an effect's reply type cannot be converted");
            }
        }
    }

    Effect&& and_then(SideEffect side_effect) && {
        side_effects_.push_back(std::move(side_effect));
        return std::move(*this);
    }
    Effect&& wake_after(std::chrono::milliseconds delay) && {
        wake_after_ = delay;
        return std::move(*this);
    }
    Effect&& claiming(std::string key) && {
        QRPAY_ASSERT(!events_.empty(), "a key is claimed with events");
        claimed_keys_.push_back(std::move(key));
        return std::move(*this);
    }

    [[nodiscard]] const std::vector<Event>& events() const { return events_; }
    std::vector<Event>& events() { return events_; }
    [[nodiscard]] bool is_rejected() const { return std::holds_alternative<Rejected>(outcome_); }
    [[nodiscard]] const Status& rejection() const { return std::get<Rejected>(outcome_).status; }
    std::optional<Reply>& reply() { return std::get<std::optional<Reply>>(outcome_); }
    [[nodiscard]] const std::optional<Reply>& reply() const {
        return std::get<std::optional<Reply>>(outcome_);
    }
    std::vector<SideEffect>& side_effects() { return side_effects_; }
    [[nodiscard]] std::optional<std::chrono::milliseconds> wake_delay() const {
        return wake_after_;
    }
    std::vector<std::string>& claimed_keys() { return claimed_keys_; }

private:
    template <class, class>
    friend class Effect;

    std::vector<Event> events_;
    std::variant<std::optional<Reply>, Rejected> outcome_;
    std::vector<SideEffect> side_effects_;
    std::optional<std::chrono::milliseconds> wake_after_;
    std::vector<std::string> claimed_keys_;
};

// Events waiting for their reply decision.
template <class Event>
class [[nodiscard]] Persist {
public:
    explicit Persist(std::vector<Event> events) : events_(std::move(events)) {}

    template <class Reply>
    Effect<Event, Reply> then_reply(Reply reply) && {
        return Effect<Event, Reply>(std::move(events_), std::optional<Reply>(std::move(reply)));
    }
    // Nobody waits for these events; converts to an Effect of any reply type.
    Effect<Event, NoReply> no_reply() && {
        return Effect<Event, NoReply>(std::move(events_), std::nullopt);
    }

private:
    std::vector<Event> events_;
};

template <class Event, class... Events>
Persist<Event> persist(Events&&... events) {
    std::vector<Event> list;
    list.reserve(sizeof...(Events));
    (list.emplace_back(std::forward<Events>(events)), ...);
    return Persist<Event>(std::move(list));
}

template <class Reply>
struct ReplyOnly {
    Reply value;
    template <class Event, class R>
    operator Effect<Event, R>() && {  // NOLINT(google-explicit-constructor)
        return Effect<Event, R>({}, std::optional<R>(R(std::move(value))));
    }
};
template <class Reply>
ReplyOnly<Reply> reply(Reply value) {
    return ReplyOnly<Reply>{std::move(value)};
}

struct Rejection {
    Status status;
    template <class Event, class R>
    operator Effect<Event, R>() && {  // NOLINT(google-explicit-constructor)
        return Effect<Event, R>(typename Effect<Event, R>::Rejected{std::move(status)});
    }
};
inline Rejection reject(Status status) {
    QRPAY_ASSERT(!status.ok(), "reject() needs an error");
    return Rejection{std::move(status)};
}

struct NoEffect {
    template <class Event, class R>
    operator Effect<Event, R>() && {  // NOLINT(google-explicit-constructor)
        return Effect<Event, R>({}, std::nullopt);
    }
};
inline NoEffect no_effect() { return {}; }

}  // namespace qrpay::runtime
