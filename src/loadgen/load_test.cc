// Tests of the load generator against a small in-process HTTP server that answers the routes
// of the payment API with fixed bodies. They check counting, flow steps, error kinds and the
// renderings; no assertion depends on speed (durations only bound how long a test runs).

#include "loadgen/load.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "http/server.h"

namespace qrpay::loadgen {
namespace {

using namespace std::chrono_literals;

// Answers like `qrpay serve` would for a payment that completes at once; counts requests.
class StubApi {
public:
    int pay_status = 200;      // what POST /v1/payments answers
    int history_status = 404;  // GET /v1/me/payments: 404 until a query side exists

    http::Handler handler() {
        return [this](const http::Request& request, const http::Responder& responder) {
            ++requests;
            responder(answer(request));
        };
    }

    std::atomic<int> requests{0};
    std::atomic<int> cancels{0};
    std::atomic<int> histories{0};

private:
    http::Response answer(const http::Request& request) {
        const std::string& path = request.path;
        if (path == "/healthz") {
            return http::Response::text(200, "ok\n");
        }
        if (request.header("Authorization").substr(0, 7) != "Bearer ") {
            return http::Response::json(401, R"({"title":"unauthorized"})");
        }
        if (path == "/v1/payment-codes") {
            return http::Response::json(201, R"({"transaction_id":"tx1","code":"12345"})");
        }
        if (path == "/v1/payments") {
            return http::Response::json(pay_status, R"({"status":"completed","version":4})");
        }
        if (path == "/v1/me/payments") {
            ++histories;
            return http::Response::json(history_status, R"({"items":[]})");
        }
        if (path.ends_with("/cancel")) {
            ++cancels;
            return http::Response::json(200, R"({"status":"cancelled","version":6})");
        }
        return http::Response::json(200, R"({"status":"completed","version":4})");
    }
};

struct Fixture {
    StubApi api;
    std::unique_ptr<http::Server> server;

    Fixture() {
        auto started = http::Server::start({.port = 0, .threads = 2}, api.handler());
        EXPECT_TRUE(started.ok()) << started.status().to_string();
        server = std::move(started).value();
    }

    LoadOptions options() const {
        LoadOptions options;
        options.api_url = "http://127.0.0.1:" + std::to_string(server->port());
        options.admin_url = options.api_url;
        options.consumer_tokens = {"c1", "c2"};
        options.merchant_tokens = {"m1"};
        options.duration = 400ms;
        options.warmup = 100ms;
        options.drain_max = 10s;
        options.connections = 4;
        return options;
    }
};

const KindReport* find_kind(const LoadReport& report, RequestKind kind) {
    for (const auto& each : report.kinds) {
        if (each.kind == kind) {
            return &each;
        }
    }
    return nullptr;
}

TEST(Load, OpenLoopRunsWholeFlowsAndSkipsMissingHistory) {
    Fixture fixture;
    LoadOptions options = fixture.options();
    options.rate_per_s = 200;
    options.cancel_share = 0.5;
    options.history_share = 1.0;
    auto report = run_load(options);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_FALSE(report->closed_loop);
    EXPECT_GT(report->flows_started, 0U);
    EXPECT_EQ(report->flows_completed, report->flows_started);
    EXPECT_EQ(report->flows_failed, 0U);
    EXPECT_GE(report->flows_ok_all, report->flows_completed) << "warmup flows count there too";
    EXPECT_TRUE(report->errors.empty());
    for (RequestKind kind : {RequestKind::create_code, RequestKind::pay, RequestKind::wait_result,
                             RequestKind::flow}) {
        const KindReport* found = find_kind(*report, kind);
        ASSERT_NE(found, nullptr) << request_kind_name(kind);
        EXPECT_EQ(found->ok, report->flows_started) << request_kind_name(kind);
        EXPECT_EQ(found->latency_us.count(), found->ok);
    }
    EXPECT_GT(fixture.api.cancels.load(), 0);
    EXPECT_GE(fixture.api.histories.load(), 1);
    ASSERT_EQ(report->notes.size(), 1U);
    EXPECT_NE(report->notes[0].find("404"), std::string::npos);
    EXPECT_EQ(find_kind(*report, RequestKind::history), nullptr);
}

TEST(Load, ClosedLoopKeepsItsWorkersBusyAndReadsHistory) {
    Fixture fixture;
    fixture.api.history_status = 200;
    LoadOptions options = fixture.options();
    options.concurrency = 3;
    options.history_share = 1.0;
    options.cancel_share = 0;
    auto report = run_load(options);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_TRUE(report->closed_loop);
    EXPECT_GT(report->flows_completed, 0U);
    EXPECT_GT(report->flows_per_s, 0);
    const KindReport* history = find_kind(*report, RequestKind::history);
    ASSERT_NE(history, nullptr);
    EXPECT_EQ(history->ok, report->flows_completed);
    EXPECT_TRUE(report->notes.empty());
    EXPECT_EQ(fixture.api.cancels.load(), 0);
}

TEST(Load, RefusedPaymentsAreErrorsByKindAndEndTheFlow) {
    Fixture fixture;
    fixture.api.pay_status = 503;
    LoadOptions options = fixture.options();
    options.rate_per_s = 100;
    auto report = run_load(options);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    ASSERT_GT(report->flows_started, 0U);
    EXPECT_EQ(report->flows_failed, report->flows_started);
    EXPECT_EQ(report->errors.at("pay:http_503"), report->flows_started);
    EXPECT_EQ(find_kind(*report, RequestKind::wait_result), nullptr);
    EXPECT_EQ(find_kind(*report, RequestKind::flow), nullptr) << "failed flows have no latency";
}

TEST(Load, HealthzTargetUsesTheAdminUrl) {
    Fixture fixture;
    LoadOptions options = fixture.options();
    options.target = Target::healthz;
    options.api_url = "http://127.0.0.1:1";  // would fail if used
    options.consumer_tokens.clear();
    options.merchant_tokens.clear();
    options.concurrency = 2;
    auto report = run_load(options);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    const KindReport* healthz = find_kind(*report, RequestKind::healthz);
    ASSERT_NE(healthz, nullptr);
    EXPECT_EQ(healthz->errors, 0U);
    EXPECT_GT(healthz->ok, 0U);
}

TEST(Load, ProgressIsReportedWhileRunning) {
    Fixture fixture;
    LoadOptions options = fixture.options();
    options.rate_per_s = 50;
    options.progress_interval = 50ms;
    int reports = 0;
    options.on_progress = [&reports](const Progress& progress) {
        EXPECT_GE(progress.flows_started, progress.flows_completed);
        ++reports;
    };
    ASSERT_TRUE(run_load(options).ok());
    EXPECT_GT(reports, 0);
}

// Interval reports split the measured requests between them: together they hold every one the
// whole report holds, and each covers the time since the previous one.
TEST(Load, IntervalReportsPartitionTheMeasuredRequests) {
    Fixture fixture;
    LoadOptions options = fixture.options();
    options.rate_per_s = 100;
    options.progress_interval = 20ms;
    options.interval = 100ms;
    std::vector<IntervalReport> intervals;
    options.on_interval = [&intervals](const IntervalReport& report) {
        intervals.push_back(report);
    };
    auto report = run_load(options);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    ASSERT_GE(intervals.size(), 2U);
    std::uint64_t flows = 0;
    std::uint64_t pays = 0;
    double previous_end = 0;
    for (const IntervalReport& interval : intervals) {
        EXPECT_DOUBLE_EQ(interval.from_s, previous_end);
        EXPECT_GE(interval.to_s, interval.from_s);
        previous_end = interval.to_s;
        flows += interval.flows_completed;
        for (const KindReport& kind : interval.kinds) {
            if (kind.kind == RequestKind::pay) {
                pays += kind.ok + kind.errors;
                EXPECT_EQ(kind.latency_us.count(), kind.ok + kind.errors);
            }
        }
        EXPECT_NE(to_json(interval).find("\"from_s\""), std::string::npos);
    }
    EXPECT_EQ(flows, report->flows_completed);
    std::uint64_t pays_total = 0;
    for (const KindReport& kind : report->kinds) {
        if (kind.kind == RequestKind::pay) {
            pays_total = kind.ok + kind.errors;
        }
    }
    EXPECT_EQ(pays, pays_total);
}

TEST(Load, RejectsInconsistentOptions) {
    LoadOptions options;
    options.api_url = "http://127.0.0.1:1";
    EXPECT_EQ(run_load(options).status().code(), Errc::invalid_argument) << "no tokens";
    options.consumer_tokens = {"c"};
    options.merchant_tokens = {"m"};
    options.rate_per_s = 0;
    EXPECT_EQ(run_load(options).status().code(), Errc::invalid_argument) << "no rate";
    options.rate_per_s = 10;
    options.warmup = options.duration;
    EXPECT_EQ(run_load(options).status().code(), Errc::invalid_argument) << "no window";
}

TEST(Load, FindMaxStopsWhenTheRateStopsGrowingAndRendersJson) {
    Fixture fixture;
    MaxSearchOptions search;
    search.load = fixture.options();
    search.load.target = Target::healthz;
    search.load.duration = 250ms;
    search.load.warmup = 50ms;
    search.concurrency_steps = {1, 2, 4, 8};
    search.gain_min = 1000;  // no step can gain that much: stops after `patience` more steps
    search.patience = 2;
    auto report = find_max(search);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_EQ(report->steps.size(), 3U);
    EXPECT_LT(report->best_step, report->steps.size());
    nlohmann::json json = nlohmann::json::parse(to_json(*report));
    EXPECT_EQ(json["steps"].size(), 3U);
    EXPECT_TRUE(json.contains("flows_per_s_max"));
    nlohmann::json step = nlohmann::json::parse(to_json(report->steps[0]));
    EXPECT_EQ(step["mode"], "closed");
    EXPECT_TRUE(step["kinds"][0].contains("latency_us_p99_9"));
    EXPECT_NE(format_table(report->steps[0]).find("healthz"), std::string::npos);
}

}  // namespace
}  // namespace qrpay::loadgen
