#include "api/transport.h"

#include "api/problem.h"

namespace qrpay::api {

http::Response transport_problem(int status, std::string_view code, std::string_view detail) {
    return to_response(make_problem(status, std::string(code), std::string(detail)));
}

std::string http_server_metrics(const http::ServerStats& stats) {
    std::string out;
    auto family = [&out](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    family("qrpay_http_connections_open", "gauge", "Open connections of the API listener.");
    out += "qrpay_http_connections_open " + std::to_string(stats.connections_open) + "\n";
    family("qrpay_http_connections_max", "gauge", "The API listener's connection bound.");
    out += "qrpay_http_connections_max " + std::to_string(stats.connections_max) + "\n";
    family("qrpay_http_connections_refused_total", "counter",
           "Connections answered at once and closed, by the bound that refused them.");
    out += "qrpay_http_connections_refused_total{reason=\"connections_max\"} " +
           std::to_string(stats.refused_connections_max_total) + "\n";
    out += "qrpay_http_connections_refused_total{reason=\"connections_per_address_max\"} " +
           std::to_string(stats.refused_address_max_total) + "\n";
    family("qrpay_http_first_byte_timeouts_total", "counter",
           "New connections closed because they sent nothing within the first-byte timeout.");
    out += "qrpay_http_first_byte_timeouts_total " +
           std::to_string(stats.first_byte_timeouts_total) + "\n";
    return out;
}

std::string http_saturation(const http::ServerStats& stats) {
    if (!stats.saturated()) {
        return "";
    }
    return "http connections at the maximum (" + std::to_string(stats.connections_open) + " of " +
           std::to_string(stats.connections_max) + " open)";
}

}  // namespace qrpay::api
