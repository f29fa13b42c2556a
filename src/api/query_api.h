#pragma once
// QueryApi: the query side of the HTTP API (issue 5). Histories and sales come from the
// payments read model (eventually consistent; every answer carries `as_of`); the events of
// one transaction come from the command side (strongly consistent), as server-sent events.
//
//   GET /v1/me/payments?status=&from=&to=&limit=&cursor=
//        consumer or merchant (the token's role picks the side): own payments, newest first,
//        `limit` 1..100 (default 20), `next_cursor` for the next page (keyset), `status` one
//        of the API's status words, `from`/`to` a business date YYYY-MM-DD (inclusive, in the
//        service's time zone) or an RFC 3339 instant (from inclusive, to exclusive)
//   GET /v1/me/sales?from=YYYY-MM-DD&to=YYYY-MM-DD
//        merchant: one row per business day and currency (completed and cancelled counts and
//        amounts, net); at most 366 days; default the last 31 days up to today
//   GET /v1/transactions/{id}/events
//        its consumer or merchant, or an admin (who may read any transaction, as with
//        GET /v1/transactions/{id}; never its QR image): text/event-stream, one `status` event per
//        status change (data = the transaction as GET /v1/transactions/{id} showed it at that
//        version, id = the version). The first event is the current status; after it every status
//        the transaction passes through is sent, in order, also those that lasted less than one
//        command (preparing_to_payment: TokenRead and PaymentStarted are stored together):
//        versions the stream did not see are read back from the journal and replayed. Only
//        when that read cannot be made (read queue full, journal error) are intermediate
//        versions skipped; the current status is always sent. The stream ends after a state
//        with no way out (failed, expired, cancelled; see ends_event_stream), not at
//        completed, which a cancellation can still leave. A comment line as heartbeat; at most
//        sse_subscribers_max streams at once (then 503 unavailable) and
//        sse_subscribers_per_subject_max per token subject (then 429 too_many_event_streams),
//        both with Retry-After; each stream at most sse_duration_max long (then an event
//        `timeout`; the client reconnects)
//
// Query parameters are validated like bodies: an unknown one, a bad date, limit or cursor is a
// 422 problem (code invalid_query) and nothing is read. Another party's transaction is 404.
//
// Threads: handle() returns at once. Reads run on the API's own read threads (bounded queue:
// 503 when full); stream steps run on entity executors and the feed's thread. stop() ends the
// read threads; streams end with the HTTP server (stop it first).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/change_feed.h"
#include "api/problem.h"
#include "api/requests.h"
#include "base/clock.h"
#include "domain/payment_flows.h"
#include "http/scheduler.h"
#include "http/server.h"
#include "journal/journal.h"
#include "projection/payments/payments_queries.h"
#include "projection/store.h"
#include "projection/time_zone.h"

namespace qrpay::api {

struct QueryApiOptions {
    std::size_t history_limit_default = 20;
    int sales_days_max = 366;
    int sales_days_default = 31;
    std::size_t sse_subscribers_max = 512;
    // Open event streams of one token subject (role and subject): one client with one code
    // cannot take the streams of everybody else.
    std::size_t sse_subscribers_per_subject_max = 8;
    std::chrono::milliseconds sse_heartbeat{15'000};
    std::chrono::milliseconds sse_duration_max{std::chrono::minutes(10)};
    std::size_t read_threads = 2;
    std::size_t reads_pending_max = 1'024;
};

// Where the read model is and how fresh it is.
struct ReadModel {
    projection::Store* store = nullptr;
    const projection::TimeZone* business_zone = nullptr;
    // The time up to which the read model is complete (projection::Engine::as_of).
    std::function<std::optional<UnixMs>()> as_of{};
};

// Where an event stream reads the versions it did not see: the command side's journal, whose
// events domain::decode_transaction_event and apply_transaction_event read. It must outlive the
// QueryApi.
struct EventHistory {
    journal::Journal& journal;
};

// Counts open event streams, in total and per subject. Thread-safe.
class EventStreamSlots {
public:
    enum class Refusal { none, subscribers_max, per_subject_max };

    EventStreamSlots(std::size_t subscribers_max, std::size_t per_subject_max);
    // Takes a slot for `subject`; Refusal::none when taken, otherwise which bound refused it.
    Refusal acquire(const std::string& subject);
    // REQUIRES: a slot of `subject` was taken and not yet released.
    void release(const std::string& subject);
    [[nodiscard]] std::size_t open() const;
    [[nodiscard]] std::uint64_t refused(Refusal reason) const;

private:
    const std::size_t subscribers_max_;
    const std::size_t per_subject_max_;
    mutable std::mutex mutex_;  // guards the fields below: HTTP threads open, stream steps close
    std::size_t open_ = 0;
    std::map<std::string, std::size_t, std::less<>> per_subject_;  // never holds a 0
    std::uint64_t refused_subscribers_max_ = 0;
    std::uint64_t refused_per_subject_max_ = 0;
};

class QueryApi {
public:
    // REQUIRES: every referenced object outlives the QueryApi and its streams.
    QueryApi(ReadModel read_model,
             domain::PaymentFlows& flows,
             ChangeFeed& feed,
             EventHistory history,
             const TokenSigner& signer,
             const Clock& clock,
             QueryApiOptions options);
    ~QueryApi();  // stop()
    QueryApi(const QueryApi&) = delete;
    QueryApi& operator=(const QueryApi&) = delete;
    QueryApi(QueryApi&&) = delete;
    QueryApi& operator=(QueryApi&&) = delete;

    // Answers the request when its path is one of the routes above (or under /v1/me/) and
    // returns true; returns false, without touching the responder, for any other path.
    bool handle(const http::Request& request, const http::Responder& responder);
    // Runs pending reads now and joins the read threads. Idempotent.
    void stop();

    // Prometheus text: qrpay_event_streams_refused_total{reason="subscribers_max"|
    // "per_subject_max"}.
    [[nodiscard]] std::string metrics() const;

private:
    class Subscription;

    void list_payments(const http::Request& request,
                       const http::Responder& responder,
                       const Principal& principal);
    void list_sales(const http::Request& request,
                    const http::Responder& responder,
                    const Principal& principal);
    void stream_events(const http::Responder& responder,
                       const Principal& principal,
                       const std::string& transaction_id);
    void start_stream(const http::Responder& responder,
                      const Principal& principal,
                      const domain::TransactionView& view);
    // Runs `read` on a read thread with a read connection; 503 when the queue is full.
    void run_read(const http::Responder& responder,
                  std::function<void(sql::Connection&, const http::Responder&)> read);

    ReadModel read_model_;
    domain::PaymentFlows& flows_;
    ChangeFeed& feed_;
    const EventHistory history_;
    const TokenSigner& signer_;
    const Clock& clock_;
    const QueryApiOptions options_;
    // Open event streams; shared with them, since a stream's last step may run after stop().
    std::shared_ptr<EventStreamSlots> slots_;
    // The read threads and their bounded queue; shared with the streams, which read the
    // journal there (a stopped scheduler refuses, and the stream then skips versions).
    std::shared_ptr<http::Scheduler> reads_;
};

// The views, one per status change, that the events after `from` pass through: `events` are
// the entity's events from version from.version + 1 on, applied in order; a view is kept when
// its status word differs from the one before it. Stops at the first gap in the sequence. A
// stored event that cannot be decoded or applied is a broken invariant (the domain asserts).
std::vector<domain::TransactionView> status_changes_after(
    const domain::TransactionView& from, const std::vector<journal::StoredEvent>& events);

// The validated query of GET /v1/me/payments (exposed for tests).
struct HistoryParams {
    std::optional<std::string> status{};
    std::optional<UnixMs> from{};   // inclusive
    std::optional<UnixMs> until{};  // exclusive
    std::size_t limit = 20;
    std::optional<projection::payments::HistoryCursor> after{};
};
Parsed<HistoryParams> parse_history_params(const http::QueryParams& query,
                                           const projection::TimeZone& zone,
                                           std::size_t limit_default = 20);

// The validated query of GET /v1/me/sales: business days, inclusive.
struct SalesParams {
    std::string from_day;
    std::string to_day;
};
Parsed<SalesParams> parse_sales_params(const http::QueryParams& query,
                                       const projection::TimeZone& zone,
                                       UnixMs now,
                                       int days_default = 31,
                                       int days_max = 366);

// Opaque page cursors: base64url of "<created_at_unix_ms>.<transaction id>".
std::string encode_cursor(const projection::payments::HistoryCursor& cursor);
std::optional<projection::payments::HistoryCursor> decode_cursor(std::string_view text);

// "2026-11-26T10:02:52Z", with optional fraction and a Z or ±hh:mm offset.
std::optional<UnixMs> parse_rfc3339(std::string_view text);

}  // namespace qrpay::api
