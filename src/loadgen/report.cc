// Renderings of load reports: a table for people, JSON for bench/run. JSON field names carry
// their units (latency_us_p99, flows_per_s); the table shows milliseconds.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "loadgen/load.h"

namespace qrpay::loadgen {

namespace {

struct Quantile {
    const char* name;  // JSON suffix and table heading
    double value;
};
constexpr Quantile quantiles[] = {{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99_9", 0.999}};

std::string format(const char* pattern, double value) {
    char text[64];
    std::snprintf(text, sizeof text, pattern, value);
    return text;
}

double to_ms(std::uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

nlohmann::json kind_json(const KindReport& kind) {
    nlohmann::json out = {
        {"kind", std::string(request_kind_name(kind.kind))},
        {"ok", kind.ok},
        {"errors", kind.errors},
        {"latency_us_mean", kind.latency_us.mean()},
        {"latency_us_max", kind.latency_us.max()},
    };
    for (const Quantile& quantile : quantiles) {
        out[std::string("latency_us_") + quantile.name] =
            kind.latency_us.value_at_quantile(quantile.value);
    }
    return out;
}

nlohmann::json report_json(const LoadReport& report) {
    nlohmann::json kinds = nlohmann::json::array();
    for (const KindReport& kind : report.kinds) {
        kinds.push_back(kind_json(kind));
    }
    return {
        {"mode", report.closed_loop ? "closed" : "open"},
        {"target", report.target == Target::healthz ? "healthz" : "payment_flow"},
        {"rate_per_s_target", report.rate_per_s_target},
        {"concurrency", report.concurrency},
        {"connections", report.connections},
        {"measured_s", report.measured_s},
        {"flows_started", report.flows_started},
        {"flows_completed", report.flows_completed},
        {"flows_failed", report.flows_failed},
        {"flows_per_s", report.flows_per_s},
        {"flows_ok_all", report.flows_ok_all},
        {"errors", report.errors},
        {"outcomes", report.outcomes},
        {"kinds", kinds},
        {"notes", report.notes},
    };
}

std::string header_line(const LoadReport& report) {
    std::string line =
        report.closed_loop
            ? "closed loop, " + std::to_string(report.concurrency) + " workers"
            : "open loop at " + format("%.1f", report.rate_per_s_target) + " flows/s";
    line += ", " + std::to_string(report.connections) + " connections, " +
            format("%.1f", report.measured_s) +
            " s measured: " + format("%.1f", report.flows_per_s) + " flows/s achieved, " +
            std::to_string(report.flows_completed) + " of " + std::to_string(report.flows_started) +
            " flows ended, " + std::to_string(report.flows_failed) + " failed\n";
    return line;
}

}  // namespace

std::string format_table(const LoadReport& report) {
    std::string out = header_line(report);
    char row[200];
    std::snprintf(row, sizeof row, "%-12s %9s %7s %9s %9s %9s %9s %9s\n", "request", "ok", "errors",
                  "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
    out += row;
    for (const KindReport& kind : report.kinds) {
        const LatencyHistogram& latency = kind.latency_us;
        std::snprintf(
            row, sizeof row, "%-12s %9llu %7llu %9.2f %9.2f %9.2f %9.2f %9.2f\n",
            std::string(request_kind_name(kind.kind)).c_str(),
            static_cast<unsigned long long>(kind.ok), static_cast<unsigned long long>(kind.errors),
            to_ms(latency.value_at_quantile(0.50)), to_ms(latency.value_at_quantile(0.90)),
            to_ms(latency.value_at_quantile(0.99)), to_ms(latency.value_at_quantile(0.999)),
            to_ms(latency.max()));
        out += row;
    }
    for (const auto& [what, count] : report.errors) {
        out += "error " + what + ": " + std::to_string(count) + "\n";
    }
    for (const auto& [what, count] : report.outcomes) {
        out += "outcome " + what + ": " + std::to_string(count) + "\n";
    }
    for (const std::string& note : report.notes) {
        out += "note: " + note + "\n";
    }
    return out;
}

std::string to_json(const LoadReport& report) { return report_json(report).dump(2); }

std::string to_json(const MaxSearchReport& report) {
    nlohmann::json steps = nlohmann::json::array();
    for (const LoadReport& step : report.steps) {
        steps.push_back(report_json(step));
    }
    nlohmann::json out = {
        {"best_step", report.best_step},
        {"flows_per_s_max", report.steps.empty() ? 0.0 : report.best().flows_per_s},
        {"concurrency_at_max", report.steps.empty() ? 0 : report.best().concurrency},
        {"steps", steps},
    };
    return out.dump(2);
}

std::string to_json(const IntervalReport& report) {
    nlohmann::json kinds = nlohmann::json::array();
    for (const KindReport& kind : report.kinds) {
        kinds.push_back(kind_json(kind));
    }
    const double length_s = report.to_s - report.from_s;
    nlohmann::json out = {
        {"from_s", report.from_s},
        {"to_s", report.to_s},
        {"flows_completed", report.flows_completed},
        {"flows_per_s",
         length_s > 0 ? static_cast<double>(report.flows_completed) / length_s : 0.0},
        {"kinds", kinds},
    };
    return out.dump();
}

}  // namespace qrpay::loadgen
