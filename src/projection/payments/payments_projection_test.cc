// The payments read model, fed by the real engine from a journal of real Transaction events
// (encoded by the domain's codec): random payments, cancellations and expiries, checked
// against a model of what they mean; the rebuild equals the live tables; the queries.

#include "projection/payments/payments_projection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "base/hash.h"
#include "base/testing/eventually.h"
#include "projection/testing/stores.h"
#include "journal/conformance/journal_test_support.h"
#include "projection/engine.h"
#include "projection/payments/payments_queries.h"
#include "projection/rebuild.h"

namespace qrpay::projection::payments {
namespace {

using namespace std::chrono_literals;
using journal::conformance::TempDir;

constexpr std::uint32_t shard_count = 8;
constexpr std::int64_t hour_ms = 3'600'000;
constexpr UnixMs start_time{1'795'651'200'000};  // 2026-11-26T00:00Z, 09:00 in Tokyo

class NoAgency final : public domain::AgencyPort {
    void pay(const domain::AgencyPayment&, Done) override {}
    void inquire(const std::string&, Done) override {}
    void reverse(const domain::AgencyReversal&, Done) override {}
};

// What the test expects of one transaction, and where its event stream stands.
struct Expected {
    std::string id;
    std::string consumer;
    std::string merchant;
    Money amount;
    std::string status;  // empty before TokenGenerated
    UnixMs created_at;
    std::uint64_t seq = 0;
};

struct SalesKey {
    std::string merchant;
    std::string day;
    std::string currency;
    auto operator<=>(const SalesKey&) const = default;
};

// Appends Transaction events through the domain codec and keeps the model of their meaning.
class Payments {
public:
    Payments(journal::Journal& journal, const TimeZone& zone) : journal_(journal), zone_(zone) {}

    Expected& create(const std::string& consumer, UnixMs at) {
        char id[40];
        std::snprintf(id, sizeof id, "tx_%032zx", transactions_.size() + 1);
        Expected& tx = transactions_[id];
        tx.id = id;
        tx.consumer = consumer;
        tx.created_at = at;
        append(tx,
               {domain::TokenGenerated{
                   {consumer}, Secret("12345678901234567890"), UnixMs{at.value + 300'000}, at}});
        tx.status = "waiting_for_read_token";
        return tx;
    }
    void expire(Expected& tx, UnixMs at) {
        UnixMs deadline{tx.created_at.value + 300'000};
        append(tx, {domain::Expired{deadline, std::max(at, deadline)}});
        tx.status = "expired";
    }
    void read(Expected& tx, const std::string& merchant, Money amount, UnixMs at) {
        tx.merchant = merchant;
        tx.amount = amount;
        append(tx, {domain::TokenRead{{merchant}, amount, "order-" + tx.id, "key", "", at},
                    domain::PaymentStarted{tx.id, {merchant}, amount, "order-" + tx.id, at}});
        tx.status = "waiting_for_payment_execution";
    }
    void complete(Expected& tx, UnixMs at) {
        append(tx, {domain::PaymentCompleted{"ref-" + tx.id, at}});
        tx.status = "completed";
        add_sale(tx, at, 0);
    }
    void fail(Expected& tx, UnixMs at) {
        append(tx, {domain::PaymentFailed{"declined", at}});
        tx.status = "failed";
    }
    void start_cancel(Expected& tx, UnixMs at) {
        append(tx, {domain::CancellationStarted{{tx.merchant}, "cancel", "", at}});
        tx.status = "waiting_for_payment_cancellation";
    }
    void finish_cancel(Expected& tx, bool reversed, UnixMs at) {
        if (reversed) {
            append(tx, {domain::CancellationCompleted{at}});
            tx.status = "cancelled";
            add_sale(tx, at, 1);
        } else {
            append(tx, {domain::CancellationFailed{"window closed", at}});
            tx.status = "completed";
        }
    }
    // Noise: another entity type's events on the same shards.
    void token_event(std::size_t n) {
        std::string pid = "token|" + std::to_string(n);
        journal::AppendRequest request{.shard = shard_of(pid, shard_count),
                                       .fencing = {},
                                       .persistence_id = pid,
                                       .expected_seq = SequenceNr(token_seqs_[pid]++),
                                       .events = {{"UseStarted", "{}"}},
                                       .written_at = start_time,
                                       .wake_at = {},
                                       .claimed_keys = {}};
        ASSERT_TRUE(journal_.append_and_wait(std::move(request)).ok());
    }

    std::map<std::string, Expected>& transactions() { return transactions_; }
    const std::map<SalesKey, std::array<std::int64_t, 4>>& sales() const { return sales_; }

private:
    void append(Expected& tx, std::vector<domain::TransactionEvent> events) {
        std::string pid = "transaction|" + tx.id;
        journal::AppendRequest request{.shard = shard_of(pid, shard_count),
                                       .fencing = {},
                                       .persistence_id = pid,
                                       .expected_seq = SequenceNr(tx.seq),
                                       .events = {},
                                       .written_at = start_time,
                                       .wake_at = {},
                                       .claimed_keys = {}};
        for (const auto& event : events) {
            request.events.push_back(codec_.encode_event(event));
        }
        tx.seq += events.size();
        Status appended = journal_.append_and_wait(std::move(request));
        ASSERT_TRUE(appended.ok()) << appended.to_string();
    }
    void add_sale(const Expected& tx, UnixMs at, std::size_t cancelled) {
        auto& row = sales_[{tx.merchant, format_iso_date(zone_.local_day(at)), tx.amount.currency}];
        row[cancelled * 2] += 1;
        // The model too never overflows: a sum beyond 64 bits is no sum (the projection stops).
        if (__builtin_add_overflow(row[cancelled * 2 + 1], tx.amount.amount_minor,
                                   &row[cancelled * 2 + 1])) {
            row[cancelled * 2 + 1] = -1;
        }
    }

    journal::Journal& journal_;
    const TimeZone& zone_;
    NoAgency agency_;
    domain::Transaction codec_{agency_};
    std::map<std::string, Expected> transactions_;
    std::map<std::string, std::uint64_t> token_seqs_;
    std::map<SalesKey, std::array<std::int64_t, 4>> sales_;
};

TimeZone tokyo() {
    auto zone = TimeZone::load("Asia/Tokyo");
    EXPECT_TRUE(zone.ok());
    return std::move(zone).value();
}

using qrpay::testing::eventually;

class PaymentsProjectionTest : public ::testing::TestWithParam<testing::StoreKind> {
protected:
    // The engine's waits, round spacing and backoffs follow clock_: every look advances it, so
    // time passes only as fast as the test looks.
    template <class Condition>
    bool eventually(Condition condition) {
        return qrpay::testing::eventually([this, &condition] {
            clock_.advance(std::chrono::milliseconds(5));
            return condition();
        });
    }
    PaymentsProjectionTest()
        : projection_(tokyo()), payments_(*journal_, projection_.business_zone()) {}

    void SetUp() override {
        auto store = Store::open({.path = testing::store_location(GetParam(), dir_.path())});
        ASSERT_TRUE(store.ok());
        store_ = std::move(store).value();
        engine_ = std::make_unique<Engine>(*journal_, *store_, projection_, clock_,
                                           EngineOptions{.shard_count = shard_count});
        ASSERT_TRUE(engine_->open().ok());
        journal_->set_commit_listener(
            [this](ShardId shard, ShardOffset offset) { engine_->on_commit(shard, offset); });
        engine_->start();
    }
    void TearDown() override { engine_->stop(); }

    std::uint64_t journal_events() {
        std::uint64_t total = 0;
        for (std::uint32_t shard = 0; shard < shard_count; ++shard) {
            auto events = journal_->read_shard(ShardId(shard), ShardOffset(1), 1'000'000);
            total += events->size();
        }
        return total;
    }
    void wait_caught_up() {
        std::uint64_t expected = journal_events();
        ASSERT_TRUE(eventually([&] { return engine_->stats().events_applied == expected; }));
        ASSERT_TRUE(engine_->healthy());
    }
    std::string dump(const TableSet& tables) {
        auto db = store_->read();
        auto text = dump_tables(**db, tables);
        EXPECT_TRUE(text.ok()) << text.status().to_string();
        return text.ok() ? *text : "";
    }
    std::vector<PaymentRecord> all_pages(HistoryQuery query) {
        std::vector<PaymentRecord> out;
        for (int page = 0; page < 10'000; ++page) {
            auto db = store_->read();
            auto read = read_history(**db, query);
            EXPECT_TRUE(read.ok()) << read.status().to_string();
            out.insert(out.end(), read->payments.begin(), read->payments.end());
            if (!read->next) {
                break;
            }
            query.after = read->next;
        }
        return out;
    }

    // Random steps over the open transactions until 3 000 exist; the last event's time.
    std::int64_t run_random_flows(std::uint64_t seed) {
        std::mt19937_64 random(seed);
        std::vector<Expected*> open;
        std::int64_t now = start_time.value;
        for (int step = 0; step < 12'000; ++step) {
            now += static_cast<std::int64_t>(random() % 60'000);  // days go by
            if (open.empty() || random() % 4 == 0) {
                if (payments_.transactions().size() < 3'000) {
                    open.push_back(
                        &payments_.create("c-" + std::to_string(random() % 20), UnixMs{now}));
                }
                payments_.token_event(random() % 50);
                continue;
            }
            std::size_t pick = random() % open.size();
            if (step_flow(*open[pick], random, UnixMs{now})) {
                open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
            }
        }
        return now;
    }
    // One step of one transaction; true when it reached its last state.
    bool step_flow(Expected& tx, std::mt19937_64& random, UnixMs at) {
        if (tx.status == "waiting_for_read_token") {
            if (random() % 5 == 0) {
                payments_.expire(tx, at);
                return true;
            }
            Money amount{static_cast<std::int64_t>(1 + random() % 10'000),
                         random() % 2 == 0 ? "JPY" : "USD"};
            payments_.read(tx, merchants[random() % 3], amount, at);
        } else if (tx.status == "waiting_for_payment_execution") {
            if (random() % 6 == 0) {
                payments_.fail(tx, at);
                return true;
            }
            payments_.complete(tx, at);
            return random() % 2 == 0;
        } else if (tx.status == "completed") {
            payments_.start_cancel(tx, at);
        } else if (tx.status == "waiting_for_payment_cancellation") {
            payments_.finish_cancel(tx, random() % 4 != 0, at);
            return true;
        }
        return false;
    }

    const std::string merchants[3] = {"m-1", "m-2", "m-3"};

    TempDir dir_;
    ManualClock clock_;
    std::unique_ptr<journal::Journal> journal_ = journal::make_memory_journal();
    PaymentsProjection projection_;
    Payments payments_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<Engine> engine_;
};

TEST_P(PaymentsProjectionTest, CompletedThenCancelledEndsCancelledWithNetZero) {
    Expected& tx = payments_.create("consumer-1", start_time);
    payments_.read(tx, "merchant-1", {1200, "JPY"}, UnixMs{start_time.value + 1'000});
    payments_.complete(tx, UnixMs{start_time.value + 2'000});
    payments_.start_cancel(tx, UnixMs{start_time.value + 3'000});
    payments_.finish_cancel(tx, true, UnixMs{start_time.value + 4'000});
    wait_caught_up();
    auto db = store_->read();
    auto page = read_history(**db, {.party = Party::merchant, .party_id = "merchant-1"});
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->payments.size(), 1U);
    const PaymentRecord& row = page->payments[0];
    EXPECT_EQ(row.status, "cancelled");
    EXPECT_EQ(row.amount, (Money{1200, "JPY"}));
    EXPECT_EQ(row.order_id, "order-" + tx.id);
    EXPECT_EQ(row.agency_reference, "ref-" + tx.id);
    EXPECT_EQ(row.completed_at, UnixMs{start_time.value + 2'000});
    EXPECT_EQ(row.cancelled_at, UnixMs{start_time.value + 4'000});
    auto sales = read_sales(**db, "merchant-1", "2026-11-26", "2026-11-26");
    ASSERT_TRUE(sales.ok());
    ASSERT_EQ(sales->size(), 1U);
    EXPECT_EQ((*sales)[0], (DailySales{"2026-11-26", "JPY", 1, 1200, 1, 1200}));
    // Nobody else sees it.
    EXPECT_TRUE(
        read_history(**db, {.party = Party::consumer, .party_id = "consumer-2"})->payments.empty());
    EXPECT_TRUE(
        read_history(**db, {.party = Party::merchant, .party_id = "merchant-2"})->payments.empty());
    EXPECT_TRUE(read_sales(**db, "merchant-2", "2000-01-01", "2100-01-01")->empty());
}

TEST_P(PaymentsProjectionTest, SalesCountOnTheTokyoBusinessDay) {
    // 14:59:59 UTC is still the 26th in Tokyo; 15:00 UTC is the 27th.
    Expected& late = payments_.create("c", start_time);
    payments_.read(late, "m", {100, "JPY"}, start_time);
    payments_.complete(late, UnixMs{start_time.value + 15 * hour_ms - 1'000});
    Expected& next = payments_.create("c", start_time);
    payments_.read(next, "m", {250, "USD"}, start_time);
    payments_.complete(next, UnixMs{start_time.value + 15 * hour_ms});
    wait_caught_up();
    auto db = store_->read();
    auto sales = read_sales(**db, "m", "2026-11-26", "2026-11-27");
    ASSERT_TRUE(sales.ok());
    ASSERT_EQ(sales->size(), 2U);
    EXPECT_EQ((*sales)[0], (DailySales{"2026-11-26", "JPY", 1, 100, 0, 0}));
    EXPECT_EQ((*sales)[1], (DailySales{"2026-11-27", "USD", 1, 250, 0, 0}));
    EXPECT_EQ(read_sales(**db, "m", "2026-11-27", "2026-11-27")->size(), 1U);
}

// A day's total beyond 2^63 - 1 minor units is refused, never clamped or turned into a float:
// 1024 payments of the largest amount fit (2^63 - 1024), the 1025th stops its shard at its
// PaymentCompleted with the reason, and the day keeps its last exact total.
TEST_P(PaymentsProjectionTest, DailyTotalBeyond64BitsStopsTheShardInsteadOfClamping) {
    const Money largest{amount_minor_max, "JPY"};
    const std::int64_t fitting = 1024;
    for (std::int64_t i = 0; i < fitting; ++i) {
        Expected& tx = payments_.create("c", UnixMs{start_time.value + i});
        payments_.read(tx, "big-m", largest, UnixMs{start_time.value + i});
        payments_.complete(tx, UnixMs{start_time.value + i});
    }
    wait_caught_up();
    const DailySales full{"2026-11-26", "JPY", fitting, fitting * amount_minor_max, 0, 0};
    ASSERT_EQ(full.completed_amount_minor, INT64_MAX - 1023);
    {
        auto db = store_->read();
        auto sales = read_sales(**db, "big-m", "2026-11-26", "2026-11-26");
        ASSERT_TRUE(sales.ok()) << sales.status().to_string();
        ASSERT_EQ(sales->size(), 1U);
        EXPECT_EQ((*sales)[0], full);
    }

    Expected& over = payments_.create("c", start_time);
    payments_.read(over, "big-m", largest, start_time);
    payments_.complete(over, start_time);
    std::optional<ShardFailure> failure;
    ASSERT_TRUE(eventually([&] {
        for (const ShardProgress& shard : engine_->stats().shards) {
            if (shard.failure) {
                failure = shard.failure;
                return true;
            }
        }
        return false;
    })) << "the overflowing sale stops its shard";
    EXPECT_EQ(failure->persistence_id, "transaction|" + over.id);
    EXPECT_NE(failure->message.find("amount overflow"), std::string::npos) << failure->message;
    EXPECT_NE(failure->message.find("big-m"), std::string::npos) << failure->message;
    EXPECT_FALSE(engine_->healthy());
    auto db = store_->read();
    auto sales = read_sales(**db, "big-m", "2026-11-26", "2026-11-26");
    ASSERT_TRUE(sales.ok()) << sales.status().to_string();
    ASSERT_EQ(sales->size(), 1U);
    EXPECT_EQ((*sales)[0], full) << "the last exact total, not a clamped one";
    auto waiting = read_history(
        **db,
        {.party = Party::merchant, .party_id = "big-m", .status = "waiting_for_payment_execution"});
    ASSERT_TRUE(waiting.ok());
    ASSERT_EQ(waiting->payments.size(), 1U);
    EXPECT_EQ(waiting->payments[0].transaction_id, over.id) << "nothing of the stopped event kept";
}

// A read model written before sums were checked may hold a total that overflowed into a float:
// the sales query refuses it (rebuild), never reads it back clamped.
TEST_P(PaymentsProjectionTest, SalesRefuseATotalThatIsNotA64BitInteger) {
    if (GetParam() == testing::StoreKind::postgres) {
        GTEST_SKIP() << "a PostgreSQL bigint column cannot hold a float: nothing to refuse";
    }
    auto writer = store_->open_writer();
    ASSERT_TRUE(writer.ok()) << writer.status().to_string();
    ASSERT_TRUE((*writer)
                    ->run("INSERT INTO daily_sales (merchant_id, business_day, currency, "
                          "completed_count, completed_amount_minor, cancelled_count, "
                          "cancelled_amount_minor) VALUES ('old-m', '2026-11-26', 'JPY', 2, "
                          "1e19, 0, 0)")
                    .ok());
    auto db = store_->read();
    auto sales = read_sales(**db, "old-m", "2026-11-26", "2026-11-26");
    EXPECT_EQ(sales.status().code(), Errc::corruption);
}

// A few thousand random payments, cancellations and expiries, interleaved across
// transactions; the live model matches what the events mean, and a rebuild equals it.
TEST_P(PaymentsProjectionTest, RandomFlowsMatchTheModelAndTheRebuildEqualsLive) {
    std::int64_t now = run_random_flows(20261126);
    ASSERT_GE(payments_.transactions().size(), 2'000U);
    wait_caught_up();

    // Every transaction's status, through each party's pages of its history.
    std::map<std::string, std::string> seen_status;
    for (int consumer = 0; consumer < 20; ++consumer) {
        for (const auto& row : all_pages({.party = Party::consumer,
                               .party_id = "c-" + std::to_string(consumer),
                               .limit = 37})) {
            EXPECT_TRUE(seen_status.emplace(row.transaction_id, row.status).second)
                << "listed twice: " << row.transaction_id;
        }
    }
    ASSERT_EQ(seen_status.size(), payments_.transactions().size());
    for (const auto& [id, tx] : payments_.transactions()) {
        EXPECT_EQ(seen_status[id], tx.status) << id;
    }
    // Daily sales equal the model, row for row.
    std::map<SalesKey, std::array<std::int64_t, 4>> read_back;
    for (const std::string& merchant : merchants) {
        auto db = store_->read();
        auto sales = read_sales(**db, merchant, "2026-01-01", "2027-12-31");
        ASSERT_TRUE(sales.ok());
        for (const DailySales& row : *sales) {
            read_back[{merchant, row.business_day, row.currency}] = {
                row.completed_count, row.completed_amount_minor, row.cancelled_count,
                row.cancelled_amount_minor};
        }
    }
    EXPECT_EQ(read_back, payments_.sales());

    // Rebuild online (the live engine still runs) and compare before and after the swap.
    const std::string live = dump({});
    Rebuilder rebuilder(*journal_, *store_, projection_, clock_, {.shard_count = shard_count});
    ASSERT_TRUE(rebuilder.prepare().ok());
    ASSERT_TRUE(rebuilder.catch_up().ok());
    EXPECT_EQ(dump({.table_suffix = "_rebuild", .index_suffix = ""}), live);
    ASSERT_TRUE(rebuilder.swap().ok());
    EXPECT_EQ(dump({}), live);
    // The live engine goes on after the swap without applying anything twice.
    Expected& after = payments_.create("c-0", UnixMs{now});
    payments_.read(after, "m-1", {5, "JPY"}, UnixMs{now});
    payments_.complete(after, UnixMs{now});
    wait_caught_up();
    auto db = store_->read();
    auto first = read_history(**db, {.party = Party::consumer, .party_id = "c-0", .limit = 1});
    ASSERT_EQ(first->payments.size(), 1U);
    EXPECT_EQ(first->payments[0].transaction_id, after.id);
    EXPECT_EQ(first->payments[0].status, "completed");
}

TEST_P(PaymentsProjectionTest, HistoryPagesAreNewestFirstAndFilterByStatusAndTime) {
    for (int i = 0; i < 25; ++i) {
        Expected& tx = payments_.create("c", UnixMs{start_time.value + (i / 2) * 1'000});
        if (i % 3 == 0) {
            payments_.expire(tx, UnixMs{start_time.value + 400'000});
        }
    }
    wait_caught_up();
    auto rows = all_pages({.party = Party::consumer, .party_id = "c", .limit = 4});
    ASSERT_EQ(rows.size(), 25U);
    EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return std::tie(a.created_at, a.transaction_id) > std::tie(b.created_at, b.transaction_id);
    }));
    auto expired =
        all_pages({.party = Party::consumer, .party_id = "c", .status = "expired", .limit = 100});
    EXPECT_EQ(expired.size(), 9U);
    auto window = all_pages({.party = Party::consumer,
                             .party_id = "c",
                             .created_from = UnixMs{start_time.value + 2'000},
                             .created_until = UnixMs{start_time.value + 4'000},
                             .limit = 3});
    EXPECT_EQ(window.size(), 4U);  // created at +2 s (two) and +3 s (two)
    auto db = store_->read();
    EXPECT_EQ(read_history(**db, {.party_id = "c", .limit = 0}).status().code(),
              Errc::invalid_argument);
    EXPECT_EQ(read_history(**db, {.party_id = "c", .limit = 101}).status().code(),
              Errc::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Stores,
                         PaymentsProjectionTest,
                         ::testing::Values(testing::StoreKind::sqlite,
                                           testing::StoreKind::postgres),
                         testing::store_kind_name);

}  // namespace
}  // namespace qrpay::projection::payments
