#include "api/views.h"

#include <ctime>
#include <nlohmann/json.hpp>

namespace qrpay::api {

using domain::TransactionOutcome;
using domain::TransactionPhase;

bool is_final(const domain::TransactionState& state) {
    // A completed payment can still be cancelled, but nothing more happens without a new
    // command: for waiting clients it is an end.
    return state.phase == TransactionPhase::finished;
}

bool ends_event_stream(const domain::TransactionState& state) {
    return is_final(state) && state.outcome != domain::TransactionOutcome::completed;
}

std::string rfc3339(UnixMs at) {
    std::time_t seconds = at.value / 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[40];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    char with_ms[48];
    std::snprintf(with_ms, sizeof with_ms, "%s.%03dZ", text, static_cast<int>(at.value % 1000));
    return with_ms;
}

std::string transaction_json(const domain::TransactionView& view) {
    const auto& state = view.state;
    nlohmann::json amount = nullptr;
    if (!state.amount.currency.empty()) {
        amount = {{"value", state.amount.amount_minor}, {"currency", state.amount.currency}};
    }
    auto text_or_null = [](const std::string& text) -> nlohmann::json {
        return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
    };
    nlohmann::json json = {
        {"transaction_id", view.transaction_id.value},
        {"status", status_word(state)},
        {"version", view.version.value},
        {"amount", amount},
        {"merchant_id", text_or_null(state.merchant_id.value)},
        {"consumer_id", state.consumer_id.value},
        {"order_id", text_or_null(state.order_id)},
        {"created_at", rfc3339(state.created_at)},
        {"updated_at", rfc3339(state.updated_at)},
        {"expires_at", rfc3339(state.expires_at)},
        {"failure_reason", text_or_null(state.failure_reason)},
        {"agency_reference", text_or_null(state.agency_reference)},
    };
    return json.dump();
}

}  // namespace qrpay::api
