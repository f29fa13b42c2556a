#pragma once
// Token: the QR code's value (DESIGN §2). Entity id = the code, code_digits decimal digits.
// Codes are reused over time, but at any instant a code belongs to at most one open
// transaction (DESIGN §5.2): this entity is the one writer that decides who holds it.
//
//   state    event                              next
//   Unused   UseStarted(transaction, expires_at) InUse
//   InUse    Expired                            Unused
//
// Expiry is a matter of time, not of a stored event: an InUse token whose expires_at has
// passed answers as Unused (Resolve: not_found; StartUse: free). Its Expired is stored only
// when the code is drawn again (Expired + UseStarted in one append), so a token keeps no timer
// and costs nothing once its transaction is done: no wake-up, no recovery and no append at
// expiry for every payment. (Tokens written before this kept a durable timer; on_wake still
// records their Expired when such a token is woken.)
//
// Commands and their answers (error codes are qrpay::Errc):
//   StartUse  Unused                  -> UseStarted, reply UseAccepted
//             InUse, same transaction -> reply UseAccepted (a retry; nothing stored)
//             InUse, before expires_at-> conflict "code in use"
//             InUse, past expires_at  -> Expired + UseStarted
//             bad transaction id or expires_at <= now -> invalid_argument
//   Resolve   InUse, before expires_at-> reply Resolved{holder}; otherwise not_found
//
// Thread safety: a Token is immutable and shared by every token entity on every executor.

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/clock.h"
#include "domain/expired.h"
#include "domain/ids.h"
#include "journal/journal.h"
#include "runtime/behavior.h"
#include "runtime/effect.h"
#include "runtime/forwarding.h"

namespace qrpay::domain {

inline constexpr std::size_t code_digits = 20;

// True for a well-formed code: exactly code_digits decimal digits.
bool is_valid_code(std::string_view code);

enum class TokenPhase { unused, in_use };

struct TokenState {  // the whole truth; nothing outside it survives a restart
    TokenPhase phase = TokenPhase::unused;
    TransactionId holder;  // meaningful only while in use
    UnixMs expires_at;     // meaningful only while in use
    bool operator==(const TokenState&) const = default;
};

// Events (DESIGN §2 names).
struct UseStarted {
    TransactionId transaction_id;
    UnixMs expires_at;
    UnixMs at;
    bool operator==(const UseStarted&) const = default;
};
using TokenEvent = std::variant<UseStarted, Expired>;

// Commands.
struct StartUse {
    TransactionId transaction_id;
    UnixMs expires_at;
};
struct Resolve {};
using TokenCommand = std::variant<StartUse, Resolve>;

// Replies.
struct UseAccepted {
    bool operator==(const UseAccepted&) const = default;
};
struct Resolved {
    TransactionId transaction_id;
    bool operator==(const Resolved&) const = default;
};
using TokenReply = std::variant<UseAccepted, Resolved>;

class Token {
public:
    using State = TokenState;
    using Event = TokenEvent;
    using Command = TokenCommand;
    using Reply = TokenReply;
    using Context = runtime::CommandContext<Command>;
    using Effect = runtime::Effect<Event, Reply>;

    static constexpr std::string_view type_name = "token";
    static constexpr bool entity_id_is_secret = true;  // the id is the payment code

    [[nodiscard]] State on_event(State state, const Event& event) const;
    [[nodiscard]] Effect on_command(const State& state,
                                    const Command& command,
                                    const Context& context) const;
    [[nodiscard]] Effect on_wake(const State& state, const Context& context) const;
    // Always nullopt: a token needs no timer (see the table above).
    [[nodiscard]] static std::optional<UnixMs> deadline(const State& state);

    // Codec (token_codec.cc): versioned JSON, see the grammar there.
    [[nodiscard]] journal::EventData encode_event(const Event& event) const;
    [[nodiscard]] Event decode_event(const journal::StoredEvent& stored) const;
    [[nodiscard]] std::string encode_state(const State& state) const;
    [[nodiscard]] State decode_state(std::string_view bytes) const;

    // Forwarding codec (token_message_codec.cc): commands and replies sent between nodes
    // (runtime/forwarding.h), versioned JSON; the decoders refuse what they cannot read.
    [[nodiscard]] std::optional<std::string> encode_command(const Command& command) const;
    [[nodiscard]] Result<Command> decode_command(std::string_view bytes) const;
    [[nodiscard]] std::string encode_reply(const Reply& reply) const;
    [[nodiscard]] Result<Reply> decode_reply(std::string_view bytes) const;
};

static_assert(runtime::Behavior<Token>);
static_assert(runtime::ForwardableBehavior<Token>);

// A persistence id as logs, metric labels and /readyz may show it: a Token's id is its
// payment code, a secret while the code is valid, so only a prefix shows.
std::string loggable_persistence_id(const std::string& persistence_id);

}  // namespace qrpay::domain
