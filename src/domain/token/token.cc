#include "domain/token/token.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "base/secret.h"
#include "base/status.h"

namespace qrpay::domain {
namespace {

using Effect = Token::Effect;
using Context = Token::Context;
using runtime::no_effect;
using runtime::persist;
using runtime::reject;
using runtime::reply;

bool in_use_until_now(const TokenState& state, UnixMs now) {
    return state.phase == TokenPhase::in_use && now < state.expires_at;
}

// Unused: the code is free.
Effect start_use_unused(const StartUse& command, const Context& context) {
    return persist<TokenEvent>(UseStarted{.transaction_id = command.transaction_id,
                                          .expires_at = command.expires_at,
                                          .at = context.now})
        .then_reply(UseAccepted{});
}

// InUse, but its expires_at passed and the timer has not run yet: expire, then start anew.
Effect start_use_past_expiry(const TokenState& state,
                             const StartUse& command,
                             const Context& context) {
    QRPAY_ASSERT(state.phase == TokenPhase::in_use, "past expiry needs a use");
    QRPAY_ASSERT(context.now >= state.expires_at, "the current use has not expired");
    return persist<TokenEvent>(Expired{.expires_at = state.expires_at, .at = context.now},
                               UseStarted{.transaction_id = command.transaction_id,
                                          .expires_at = command.expires_at,
                                          .at = context.now})
        .then_reply(UseAccepted{});
}

// InUse and still valid: only the holder's own retry is accepted.
Effect start_use_in_use(const TokenState& state, const StartUse& command) {
    if (state.holder == command.transaction_id) {
        return reply(UseAccepted{});
    }
    return reject(Status(Errc::conflict, "code in use"));
}

Effect start_use(const TokenState& state, const StartUse& command, const Context& context) {
    if (!is_valid_id(command.transaction_id)) {
        return reject(Status(Errc::invalid_argument, "transaction id must have 1..128 bytes"));
    }
    if (command.expires_at <= context.now) {
        return reject(Status(Errc::invalid_argument, "expires_at must be in the future"));
    }
    if (state.phase == TokenPhase::unused) {
        return start_use_unused(command, context);
    }
    if (context.now >= state.expires_at) {
        return start_use_past_expiry(state, command, context);
    }
    return start_use_in_use(state, command);
}

Effect resolve(const TokenState& state, const Context& context) {
    if (!in_use_until_now(state, context.now)) {
        return reject(Status(Errc::not_found, "no open transaction for this code"));
    }
    QRPAY_ASSERT(is_valid_id(state.holder), "an in-use token names its holder");
    return reply(Resolved{.transaction_id = state.holder});
}

TokenState apply_use_started(TokenState state, const UseStarted& event) {
    QRPAY_ASSERT(state.phase == TokenPhase::unused, "UseStarted applies to an unused token");
    QRPAY_ASSERT(is_valid_id(event.transaction_id), "UseStarted names its transaction");
    state.phase = TokenPhase::in_use;
    state.holder = event.transaction_id;
    state.expires_at = event.expires_at;
    return state;
}

TokenState apply_expired(const TokenState& state, const Expired& event) {
    QRPAY_ASSERT(state.phase == TokenPhase::in_use, "Expired applies to a token in use");
    QRPAY_ASSERT(event.expires_at == state.expires_at, "Expired names the use's deadline");
    QRPAY_ASSERT(event.at >= event.expires_at, "Expired is recorded after its deadline");
    return TokenState{};
}

}  // namespace

bool is_valid_code(std::string_view code) {
    return code.size() == code_digits &&
           std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

TokenState Token::on_event(TokenState state, const TokenEvent& event) const {
    if (const auto* use_started = std::get_if<UseStarted>(&event)) {
        return apply_use_started(std::move(state), *use_started);
    }
    return apply_expired(state, std::get<Expired>(event));
}

Token::Effect Token::on_command(const TokenState& state,
                                const TokenCommand& command,
                                const Context& context) const {
    if (const auto* start = std::get_if<StartUse>(&command)) {
        return start_use(state, *start, context);
    }
    QRPAY_ASSERT(std::holds_alternative<Resolve>(command), "a token command is handled");
    return resolve(state, context);
}

// Only tokens stored with a durable timer (before expiry became a matter of time) are woken:
// their Expired, once due, also clears their wake-up in the journal.
Token::Effect Token::on_wake(const TokenState& state, const Context& context) const {
    if (state.phase != TokenPhase::in_use || context.now < state.expires_at) {
        return no_effect();
    }
    return persist<TokenEvent>(Expired{.expires_at = state.expires_at, .at = context.now})
        .no_reply();
}

std::optional<UnixMs> Token::deadline(const TokenState& /*state*/) { return std::nullopt; }

std::string loggable_persistence_id(const std::string& persistence_id) {
    static_assert(Token::entity_id_is_secret, "the one entity whose ids are secrets");
    std::string_view secret_prefix = Token::type_name;
    if (persistence_id.size() > secret_prefix.size() &&
        persistence_id.compare(0, secret_prefix.size(), secret_prefix) == 0 &&
        persistence_id[secret_prefix.size()] == '|') {
        return redacted_persistence_id(persistence_id);
    }
    return persistence_id;
}

}  // namespace qrpay::domain
