#include "api/query_api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "api/payment_api.h"
#include "api/views.h"
#include "base/assert.h"
#include "base/base64.h"
#include "base/log.h"
#include "projection/payments/payments_projection.h"

namespace qrpay::api {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using projection::payments::HistoryCursor;

constexpr std::string_view me_prefix = "/v1/me/";
constexpr std::string_view transactions_prefix = "/v1/transactions/";
constexpr std::string_view events_suffix = "/events";
constexpr std::size_t cursor_id_bytes_max = 128;
// Versions an event stream reads back at once to show the statuses it did not see (a
// transaction has about ten events in all; beyond this the rest is skipped, not read).
constexpr std::size_t replay_events_max = 256;

Problem invalid_query(std::string detail) {
    return make_problem(422, "invalid_query", std::move(detail));
}

// The value of a query parameter; nullopt when absent or empty ("status=" means no filter).
std::optional<std::string> param(const http::QueryParams& query, std::string_view name) {
    auto found = query.find(name);
    if (found == query.end() || found->second.empty()) {
        return std::nullopt;
    }
    return found->second;
}

std::optional<Problem> check_names(const http::QueryParams& query,
                                   const std::set<std::string, std::less<>>& allowed) {
    for (const auto& [name, value] : query) {
        if (!allowed.contains(name)) {
            return invalid_query("unknown query parameter '" + name + "'");
        }
    }
    return std::nullopt;
}

template <class Int>
std::optional<Int> parse_integer(std::string_view text) {
    Int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// A bound of the created-at window: a business date (its first instant; for `to`, the first
// instant of the next day) or an RFC 3339 instant.
std::optional<UnixMs> parse_bound(std::string_view text,
                                  const projection::TimeZone& zone,
                                  bool is_end) {
    if (auto day = projection::parse_iso_date(text)) {
        auto start =
            is_end ? std::chrono::year_month_day(std::chrono::sys_days(*day) + std::chrono::days(1))
                   : *day;
        return zone.start_of_day(start);
    }
    return parse_rfc3339(text);
}

Json time_or_null(const std::optional<UnixMs>& at) {
    return at ? Json(rfc3339(*at)) : Json(nullptr);
}

Json text_or_null(const std::optional<std::string>& text) {
    return text ? Json(*text) : Json(nullptr);
}

Json payment_json(const projection::payments::PaymentRecord& row) {
    Json amount = nullptr;
    if (row.amount) {
        amount = {{"value", row.amount->amount_minor}, {"currency", row.amount->currency}};
    }
    return {{"transaction_id", row.transaction_id},
            {"status", row.status},
            {"amount", amount},
            {"consumer_id", row.consumer_id},
            {"merchant_id", text_or_null(row.merchant_id)},
            {"order_id", text_or_null(row.order_id)},
            {"agency_reference", text_or_null(row.agency_reference)},
            {"created_at", rfc3339(row.created_at)},
            {"updated_at", rfc3339(row.updated_at)},
            {"completed_at", time_or_null(row.completed_at)},
            {"cancelled_at", time_or_null(row.cancelled_at)}};
}

Json sales_json(const projection::payments::DailySales& row) {
    // read_sales refuses any total that is not a non-negative 64-bit integer, so net fits.
    QRPAY_ASSERT(row.completed_amount_minor >= 0 && row.cancelled_amount_minor >= 0,
                 "daily sales totals are non-negative");
    return {{"date", row.business_day},
            {"currency", row.currency},
            {"completed_count", row.completed_count},
            {"completed_amount", row.completed_amount_minor},
            {"cancelled_count", row.cancelled_count},
            {"cancelled_amount", row.cancelled_amount_minor},
            {"net_amount", row.completed_amount_minor - row.cancelled_amount_minor}};
}

std::string persistence_id_of(const std::string& transaction_id) {
    return journal::persistence_id_of(domain::Transaction::type_name, transaction_id);
}

}  // namespace

std::optional<UnixMs> parse_rfc3339(std::string_view text) {
    if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
        text[16] != ':') {
        return std::nullopt;
    }
    auto day = projection::parse_iso_date(text.substr(0, 10));
    auto hours = parse_integer<int>(text.substr(11, 2));
    auto minutes = parse_integer<int>(text.substr(14, 2));
    auto seconds = parse_integer<int>(text.substr(17, 2));
    if (!day || !hours || !minutes || !seconds || *hours > 23 || *minutes > 59 || *seconds > 60) {
        return std::nullopt;
    }
    std::string_view rest = text.substr(19);
    std::int64_t millis = 0;
    if (!rest.empty() && rest[0] == '.') {
        std::size_t digits = rest.find_first_not_of("0123456789", 1);
        digits = digits == std::string_view::npos ? rest.size() : digits;
        if (digits == 1 || digits > 10) {
            return std::nullopt;
        }
        std::string fraction(rest.substr(1, digits - 1));
        fraction.resize(3, '0');
        millis = *parse_integer<std::int64_t>(fraction);
        rest.remove_prefix(digits);
    }
    std::int64_t offset_s = 0;
    if (rest == "Z" || rest == "z") {
        offset_s = 0;
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-' || rest[0] == ' ') &&
               rest[3] == ':') {
        // ' ': a '+' that arrived unescaped in a query string
        auto offset_hours = parse_integer<int>(rest.substr(1, 2));
        auto offset_minutes = parse_integer<int>(rest.substr(4, 2));
        if (!offset_hours || !offset_minutes || *offset_hours > 23 || *offset_minutes > 59) {
            return std::nullopt;
        }
        offset_s = (rest[0] == '-' ? -1 : 1) * (*offset_hours * 3'600 + *offset_minutes * 60);
    } else {
        return std::nullopt;
    }
    std::int64_t local_s = std::chrono::sys_days(*day).time_since_epoch().count() * 86'400 +
                           *hours * 3'600 + *minutes * 60 + std::min(*seconds, 59);
    return UnixMs{(local_s - offset_s) * 1'000 + millis};
}

std::string encode_cursor(const HistoryCursor& cursor) {
    return base64url_encode(std::to_string(cursor.created_at.value) + "." + cursor.transaction_id);
}

std::optional<HistoryCursor> decode_cursor(std::string_view text) {
    auto bytes = base64url_decode(text);
    if (!bytes) {
        return std::nullopt;
    }
    std::size_t dot = bytes->find('.');
    if (dot == std::string::npos) {
        return std::nullopt;
    }
    auto created = parse_integer<std::int64_t>(std::string_view(*bytes).substr(0, dot));
    std::string id = bytes->substr(dot + 1);
    bool id_ok = !id.empty() && id.size() <= cursor_id_bytes_max &&
                 std::all_of(id.begin(), id.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                 });
    if (!created || *created < 0 || !id_ok) {
        return std::nullopt;
    }
    return HistoryCursor{UnixMs{*created}, id};
}

Parsed<HistoryParams> parse_history_params(const http::QueryParams& query,
                                           const projection::TimeZone& zone,
                                           std::size_t limit_default) {
    if (auto problem = check_names(query, {"status", "from", "to", "limit", "cursor"})) {
        return *problem;
    }
    HistoryParams params;
    params.limit = limit_default;
    if (auto status = param(query, "status")) {
        const auto& words = projection::payments::payment_statuses;
        if (std::find(std::begin(words), std::end(words), *status) == std::end(words)) {
            return invalid_query("status must be one of the transaction status words");
        }
        params.status = *status;
    }
    if (auto limit = param(query, "limit")) {
        auto value = parse_integer<std::size_t>(*limit);
        if (!value || *value < 1 || *value > projection::payments::history_page_rows_max) {
            return invalid_query("limit must be an integer from 1 to 100");
        }
        params.limit = *value;
    }
    if (auto cursor = param(query, "cursor")) {
        params.after = decode_cursor(*cursor);
        if (!params.after) {
            return invalid_query("cursor is not one this API returned");
        }
    }
    for (bool is_end : {false, true}) {
        if (auto text = param(query, is_end ? "to" : "from")) {
            auto bound = parse_bound(*text, zone, is_end);
            if (!bound) {
                return invalid_query(std::string(is_end ? "to" : "from") +
                                     " must be a date YYYY-MM-DD or an RFC 3339 time");
            }
            (is_end ? params.until : params.from) = bound;
        }
    }
    if (params.from && params.until && *params.from >= *params.until) {
        return invalid_query("from must be before to");
    }
    return params;
}

Parsed<SalesParams> parse_sales_params(const http::QueryParams& query,
                                       const projection::TimeZone& zone,
                                       UnixMs now,
                                       int days_default,
                                       int days_max) {
    using std::chrono::days;
    using std::chrono::sys_days;
    if (auto problem = check_names(query, {"from", "to"})) {
        return *problem;
    }
    auto day_of = [](const std::optional<std::string>& text) {
        return text ? projection::parse_iso_date(*text) : std::nullopt;
    };
    auto from_text = param(query, "from");
    auto to_text = param(query, "to");
    auto from = day_of(from_text);
    auto to = day_of(to_text);
    if ((from_text && !from) || (to_text && !to)) {
        return invalid_query("from and to must be dates YYYY-MM-DD");
    }
    // A default bound is clamped into the days a date can name (iso_date_min..max): from
    // 9999-12-31 the default range is that one day, never a "10000-01-30" no client can send.
    if (!to) {
        to = from ? std::chrono::year_month_day(std::min(sys_days(*from) + days(days_default - 1),
                                                         sys_days(projection::iso_date_max)))
                  : zone.local_day(now);
    }
    if (!from) {
        from = std::max(sys_days(*to) - days(days_default - 1), sys_days(projection::iso_date_min));
    }
    auto span = (sys_days(*to) - sys_days(*from)).count() + 1;
    if (span < 1) {
        return invalid_query("from must not be after to");
    }
    if (span > days_max) {
        return invalid_query("at most " + std::to_string(days_max) + " days at once");
    }
    return SalesParams{projection::format_iso_date(*from), projection::format_iso_date(*to)};
}

std::vector<domain::TransactionView> status_changes_after(
    const domain::TransactionView& from, const std::vector<journal::StoredEvent>& events) {
    std::vector<domain::TransactionView> changes;
    domain::TransactionView view = from;
    std::string_view status = status_word(from.state);
    for (const journal::StoredEvent& stored : events) {
        if (stored.seq.value != view.version.value + 1) {
            break;  // a gap: what follows cannot be applied to this state
        }
        view.state = domain::apply_transaction_event(std::move(view.state),
                                                     domain::decode_transaction_event(stored));
        view.version = stored.seq;
        if (status_word(view.state) != status) {
            status = status_word(view.state);
            changes.push_back(view);
        }
    }
    return changes;
}

// One client's event stream: shows the transaction's status whenever it changes, until a
// state with no way out, the duration cap, or the client going away. Its steps form one chain
// (each schedules the next), so its fields need no lock; it frees its slot when the last step
// lets go of it.
class QueryApi::Subscription : public std::enable_shared_from_this<Subscription> {
public:
    struct Parts {
        domain::PaymentFlows& flows;
        ChangeFeed& feed;
        EventHistory history;
        std::shared_ptr<http::Scheduler> reads;
        std::shared_ptr<EventStreamSlots> slots;
    };

    Subscription(Parts parts,
                 http::StreamWriter writer,
                 std::string subject,
                 std::string transaction_id,
                 const QueryApiOptions& options)
        : flows_(parts.flows),
          feed_(parts.feed),
          history_(parts.history),
          reads_(std::move(parts.reads)),
          slots_(std::move(parts.slots)),
          writer_(std::move(writer)),
          subject_(std::move(subject)),
          transaction_id_(std::move(transaction_id)),
          persistence_id_(persistence_id_of(transaction_id_)),
          heartbeat_(options.sse_heartbeat),
          deadline_(SteadyClock::now() + options.sse_duration_max) {}
    ~Subscription() {
        writer_.end();
        slots_->release(subject_);
    }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    Subscription(Subscription&&) = delete;
    Subscription& operator=(Subscription&&) = delete;

    // Shows every status from the last view shown up to `view`, then waits for the next
    // change, or ends the stream after a state with no way out.
    void show(const domain::TransactionView& view) {
        QRPAY_ASSERT(!shown_ || view.version >= shown_->version,
                     "an event stream sees versions in order");
        bool gap = shown_ && view.version.value > shown_->version.value + 1;
        if (!gap) {
            show_current(view);
            return;
        }
        // The journal read blocks: it runs on a read thread, never on an entity executor.
        auto self = shared_from_this();
        auto scheduled = reads_->run_after(std::chrono::milliseconds(0),
                                           [self, view] { self->show_between(view); });
        if (!scheduled.ok()) {
            QRPAY_LOG_WARN("event stream %s: read queue full, versions %lld..%lld not shown",
                           transaction_id_.c_str(),
                           static_cast<long long>(shown_->version.value + 1),
                           static_cast<long long>(view.version.value - 1));
            show_current(view);
        }
    }

private:
    // Replays the versions between the last shown one and `view` (their statuses), then
    // shows `view`. On a read thread.
    void show_between(const domain::TransactionView& view) {
        auto count = std::min<std::size_t>(
            replay_events_max,
            static_cast<std::size_t>(view.version.value - shown_->version.value - 1));
        auto events = history_.journal.read_events(persistence_id_,
                                                   SequenceNr{shown_->version.value + 1}, count);
        if (!events.ok()) {
            QRPAY_LOG_WARN("event stream %s: versions before %lld not shown: %s",
                           transaction_id_.c_str(), static_cast<long long>(view.version.value),
                           events.status().to_string().c_str());
        } else {
            for (const domain::TransactionView& change : status_changes_after(*shown_, *events)) {
                if (!send(change)) {
                    return;
                }
            }
        }
        show_current(view);
    }

    void show_current(const domain::TransactionView& view) {
        if (!send(view)) {
            return;
        }
        if (ends_event_stream(view.state)) {
            writer_.end();
            return;
        }
        wait(view.version);
    }

    // Sends `view` as a status event when its status differs from the last one sent. False
    // when the client went away.
    bool send(const domain::TransactionView& view) {
        shown_ = view;
        std::string status(status_word(view.state));
        if (status == last_status_) {
            return true;
        }
        last_status_ = status;
        std::string event = "id: " + std::to_string(view.version.value) +
                            "\nevent: status\ndata: " + transaction_json(view) + "\n\n";
        return writer_.write(std::move(event));
    }

    void wait(SequenceNr seen) {
        auto now = SteadyClock::now();
        if (now >= deadline_) {
            (void)writer_.write("event: timeout\ndata: {}\n\n");
            writer_.end();
            return;
        }
        auto timeout = std::min<std::chrono::milliseconds>(
            heartbeat_, std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now) +
                            std::chrono::milliseconds(1));
        if (next_heartbeat_ == SteadyClock::time_point{}) {
            next_heartbeat_ = now + heartbeat_;
        }
        // A transaction another node runs is not heard through the change feed: read it
        // again after a short wait that doubles up to remote_poll_max_.
        polling_ = !flows_.runs_here(domain::TransactionId{transaction_id_});
        if (polling_) {
            timeout = std::min(timeout, poll_);
            poll_ = std::min(poll_ * 2, remote_poll_max_);
        }
        fires_at_ = now + timeout;
        auto self = shared_from_this();
        auto waiter = feed_.wait(persistence_id_, seen, timeout,
                                 [self, seen](bool changed) { self->on_fired(changed, seen); });
        if (!waiter.ok()) {
            writer_.end();  // too many waiters: the client may reconnect
            return;
        }
        // Registered first, read second: a change in between is not missed.
        flows_.get(domain::TransactionId{transaction_id_},
                   [self, seen, id = *waiter](Result<domain::TransactionView> again) {
                       if (again.ok() && again->version > seen) {
                           self->feed_.fire_now(self->persistence_id_, id);
                       }
                   });
    }

    void on_fired(bool changed, SequenceNr seen) {
        if (!changed) {
            // Fired before its time: the feed is stopping. Otherwise a heartbeat when one is
            // due, which also finds out whether the client is still there, and for a
            // transaction another node runs, a new read.
            const auto now = SteadyClock::now();
            if (now + std::chrono::milliseconds(1) < fires_at_) {
                writer_.end();
                return;
            }
            if (now + std::chrono::milliseconds(1) >= next_heartbeat_) {
                if (!writer_.write(": keep-alive\n\n")) {
                    writer_.end();
                    return;
                }
                next_heartbeat_ = now + heartbeat_;
            }
            if (!polling_) {
                wait(seen);
                return;
            }
        }
        auto self = shared_from_this();
        flows_.get(domain::TransactionId{transaction_id_},
                   [self](Result<domain::TransactionView> view) {
                       if (!view.ok()) {
                           self->writer_.end();
                           return;
                       }
                       self->show(*view);
                   });
    }

    domain::PaymentFlows& flows_;
    ChangeFeed& feed_;
    const EventHistory history_;
    const std::shared_ptr<http::Scheduler> reads_;
    const std::shared_ptr<EventStreamSlots> slots_;
    http::StreamWriter writer_;
    const std::string subject_;
    const std::string transaction_id_;
    const std::string persistence_id_;
    const std::chrono::milliseconds heartbeat_;
    const SteadyClock::time_point deadline_;
    SteadyClock::time_point fires_at_{};
    SteadyClock::time_point next_heartbeat_{};
    static constexpr std::chrono::milliseconds remote_poll_max_{320};
    std::chrono::milliseconds poll_{10};  // the next wait before reading a remote one again
    bool polling_ = false;                // the transaction runs on another node
    std::optional<domain::TransactionView> shown_;  // the last view shown (sent or not)
    std::string last_status_;                       // the status of the last event sent
};

EventStreamSlots::EventStreamSlots(std::size_t subscribers_max, std::size_t per_subject_max)
    : subscribers_max_(subscribers_max), per_subject_max_(per_subject_max) {
    QRPAY_ASSERT(per_subject_max_ >= 1, "a subject may have one event stream at least");
}

EventStreamSlots::Refusal EventStreamSlots::acquire(const std::string& subject) {
    std::lock_guard lock(mutex_);
    if (open_ >= subscribers_max_) {
        ++refused_subscribers_max_;
        return Refusal::subscribers_max;
    }
    std::size_t& of_subject = per_subject_[subject];  // a new subject's 0 is taken at once
    if (of_subject >= per_subject_max_) {
        ++refused_per_subject_max_;
        return Refusal::per_subject_max;
    }
    ++of_subject;
    ++open_;
    QRPAY_ASSERT(of_subject <= per_subject_max_ && open_ <= subscribers_max_,
                 "event stream slots stay within their bounds");
    return Refusal::none;
}

void EventStreamSlots::release(const std::string& subject) {
    std::lock_guard lock(mutex_);
    auto found = per_subject_.find(subject);
    QRPAY_ASSERT(found != per_subject_.end() && found->second > 0 && open_ > 0,
                 "an event stream releases a slot it took");
    if (--found->second == 0) {
        per_subject_.erase(found);
    }
    --open_;
}

std::size_t EventStreamSlots::open() const {
    std::lock_guard lock(mutex_);
    return open_;
}

std::uint64_t EventStreamSlots::refused(Refusal reason) const {
    std::lock_guard lock(mutex_);
    switch (reason) {
        case Refusal::subscribers_max:
            return refused_subscribers_max_;
        case Refusal::per_subject_max:
            return refused_per_subject_max_;
        case Refusal::none:
            break;
    }
    return 0;
}

QueryApi::QueryApi(ReadModel read_model,
                   domain::PaymentFlows& flows,
                   ChangeFeed& feed,
                   EventHistory history,
                   const TokenSigner& signer,
                   const Clock& clock,
                   QueryApiOptions options)
    : read_model_(std::move(read_model)),
      flows_(flows),
      feed_(feed),
      history_(history),
      signer_(signer),
      clock_(clock),
      options_(options),
      slots_(std::make_shared<EventStreamSlots>(options.sse_subscribers_max,
                                                options.sse_subscribers_per_subject_max)),
      reads_(std::make_shared<http::Scheduler>(http::SchedulerOptions{
          .threads = options.read_threads, .tasks_pending_max = options.reads_pending_max})) {
    QRPAY_ASSERT(read_model_.store != nullptr && read_model_.business_zone != nullptr &&
                     read_model_.as_of != nullptr,
                 "the query API needs its read model");
    QRPAY_ASSERT(options_.sse_heartbeat.count() > 0 && options_.sse_duration_max.count() > 0,
                 "event streams need a heartbeat and a duration cap");
}

QueryApi::~QueryApi() { stop(); }

void QueryApi::stop() { reads_->stop(); }

std::string QueryApi::metrics() const {
    using Refusal = EventStreamSlots::Refusal;
    std::string out =
        "# HELP qrpay_event_streams_open Open server-sent event streams "
        "(GET /v1/transactions/{id}/events).\n# TYPE qrpay_event_streams_open gauge\n"
        "qrpay_event_streams_open " +
        std::to_string(slots_->open()) +
        "\n# HELP qrpay_event_streams_refused_total Event streams refused, by the bound that "
        "refused them.\n# TYPE qrpay_event_streams_refused_total counter\n";
    for (auto [reason, name] : {std::pair{Refusal::subscribers_max, "subscribers_max"},
                                std::pair{Refusal::per_subject_max, "per_subject_max"}}) {
        out += "qrpay_event_streams_refused_total{reason=\"" + std::string(name) + "\"} " +
               std::to_string(slots_->refused(reason)) + "\n";
    }
    return out;
}

bool QueryApi::handle(const http::Request& request, const http::Responder& responder) {
    const std::string& path = request.path;
    bool is_me = path.starts_with(me_prefix);
    bool is_events = path.starts_with(transactions_prefix) && path.ends_with(events_suffix) &&
                     path.size() > transactions_prefix.size() + events_suffix.size();
    if (!is_me && !is_events) {
        return false;
    }
    if (request.method != "GET") {
        respond_problem(responder, make_problem(405, "method_not_allowed", "use GET"));
        return true;
    }
    auto principal = signer_.verify_bearer(request.header("Authorization"), clock_.wall_now());
    if (!principal.ok()) {
        respond_problem(responder, make_problem(401, "unauthorized", principal.status().message()));
        return true;
    }
    if (path == "/v1/me/payments") {
        list_payments(request, responder, *principal);
    } else if (path == "/v1/me/sales") {
        list_sales(request, responder, *principal);
    } else if (is_events) {
        std::string id =
            path.substr(transactions_prefix.size(),
                        path.size() - transactions_prefix.size() - events_suffix.size());
        stream_events(responder, *principal, id);
    } else {
        respond_problem(responder, make_problem(404, "not_found", "no such route"));
    }
    return true;
}

void QueryApi::run_read(const http::Responder& responder,
                        std::function<void(sql::Connection&, const http::Responder&)> read) {
    auto scheduled =
        reads_->run_after(std::chrono::milliseconds(0), [this, responder, read = std::move(read)] {
            auto lease = read_model_.store->read();
            if (!lease.ok()) {
                respond_problem(responder, problem_from(lease.status()));
                return;
            }
            read(**lease, responder);
        });
    if (!scheduled.ok()) {
        respond_problem(responder, make_problem(503, "unavailable", "too many reads waiting"));
    }
}

void QueryApi::list_payments(const http::Request& request,
                             const http::Responder& responder,
                             const Principal& principal) {
    if (principal.role != Role::consumer && principal.role != Role::merchant) {
        respond_problem(responder, make_problem(403, "forbidden", "for consumers and merchants"));
        return;
    }
    auto parsed = parse_history_params(request.query, *read_model_.business_zone,
                                       options_.history_limit_default);
    if (auto* problem = std::get_if<Problem>(&parsed)) {
        respond_problem(responder, *problem);
        return;
    }
    const HistoryParams& params = std::get<HistoryParams>(parsed);
    projection::payments::HistoryQuery query{.party = principal.role == Role::consumer
                                                          ? projection::payments::Party::consumer
                                                          : projection::payments::Party::merchant,
                                             .party_id = principal.subject,
                                             .status = params.status,
                                             .created_from = params.from,
                                             .created_until = params.until,
                                             .limit = params.limit,
                                             .after = params.after};
    run_read(responder, [this, query](sql::Connection& db, const http::Responder& answer) {
        std::optional<UnixMs> as_of = read_model_.as_of();  // before the read: rows are newer
        auto page = projection::payments::read_history(db, query);
        if (!page.ok()) {
            respond_problem(answer, problem_from(page.status()));
            return;
        }
        Json rows = Json::array();
        for (const auto& row : page->payments) {
            rows.push_back(payment_json(row));
        }
        Json body = {{"payments", rows},
                     {"next_cursor", page->next ? Json(encode_cursor(*page->next)) : Json(nullptr)},
                     {"as_of", time_or_null(as_of)}};
        answer(http::Response::json(200, body.dump()));
    });
}

void QueryApi::list_sales(const http::Request& request,
                          const http::Responder& responder,
                          const Principal& principal) {
    if (principal.role != Role::merchant) {
        respond_problem(responder, make_problem(403, "forbidden", "sales are for merchants"));
        return;
    }
    auto parsed = parse_sales_params(request.query, *read_model_.business_zone, clock_.wall_now(),
                                     options_.sales_days_default, options_.sales_days_max);
    if (auto* problem = std::get_if<Problem>(&parsed)) {
        respond_problem(responder, *problem);
        return;
    }
    SalesParams params = std::get<SalesParams>(parsed);
    std::string merchant = principal.subject;
    run_read(responder, [this, params, merchant](sql::Connection& db,
                                                 const http::Responder& answer) {
        std::optional<UnixMs> as_of = read_model_.as_of();
        auto sales = projection::payments::read_sales(db, merchant, params.from_day, params.to_day);
        if (!sales.ok()) {
            respond_problem(answer, problem_from(sales.status()));
            return;
        }
        Json days = Json::array();
        for (const auto& row : *sales) {
            days.push_back(sales_json(row));
        }
        Json body = {{"merchant_id", merchant},
                     {"time_zone", read_model_.business_zone->name()},
                     {"from", params.from_day},
                     {"to", params.to_day},
                     {"days", days},
                     {"as_of", time_or_null(as_of)}};
        answer(http::Response::json(200, body.dump()));
    });
}

void QueryApi::stream_events(const http::Responder& responder,
                             const Principal& principal,
                             const std::string& transaction_id) {
    if (!domain::is_well_formed_transaction_id(transaction_id)) {
        respond_problem(responder,
                        make_problem(404, "transaction_not_found", "no such transaction"));
        return;
    }
    flows_.get(domain::TransactionId{transaction_id}, [this, principal, responder](
                                                          Result<domain::TransactionView> view) {
        if (!view.ok() && view.status().code() != Errc::not_found) {
            respond_problem(responder, problem_from(view.status()));
        } else if (!view.ok() || !is_visible_to(principal, view->state)) {  // as a direct read
            respond_problem(responder,
                            make_problem(404, "transaction_not_found", "no such transaction"));
        } else {
            start_stream(responder, principal, *view);
        }
    });
}

void QueryApi::start_stream(const http::Responder& responder,
                            const Principal& principal,
                            const domain::TransactionView& view) {
    std::string subject = std::string(role_name(principal.role)) + ":" + principal.subject;
    switch (slots_->acquire(subject)) {
        case EventStreamSlots::Refusal::none:
            break;
        case EventStreamSlots::Refusal::subscribers_max:
            respond_problem(responder, make_problem(503, "unavailable", "too many event streams"));
            return;
        case EventStreamSlots::Refusal::per_subject_max:
            respond_problem(
                responder,
                make_problem(429, "too_many_event_streams",
                             "at most " + std::to_string(options_.sse_subscribers_per_subject_max) +
                                 " event streams per client; close one first"));
            return;
    }
    auto writer = responder.stream(
        200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-store"}});
    if (!writer) {
        slots_->release(subject);
        return;
    }
    auto subscription =
        std::make_shared<Subscription>(Subscription::Parts{flows_, feed_, history_, reads_, slots_},
                                       *writer, subject, view.transaction_id.value, options_);
    subscription->show(view);
}

}  // namespace qrpay::api
