#pragma once
// What the API puts into the generic HTTP server: the project's problem+json for the errors
// the server answers itself (http::ServerOptions::error_response), and the server's connection
// counters as Prometheus text and as a readiness reason for the admin listener.
//
// Thread safety: free functions of their arguments; call them from any thread.

#include <string>
#include <string_view>

#include "http/message.h"
#include "http/server.h"

namespace qrpay::api {

// The Problem of api/problem.h for a transport error: `code` is the server's stable name
// (http::fault), the title the status's reason phrase; 429 and 503 carry Retry-After.
http::Response transport_problem(int status, std::string_view code, std::string_view detail);

// qrpay_http_connections_open, qrpay_http_connections_max,
// qrpay_http_connections_refused_total{reason="connections_max"|"connections_per_address_max"},
// qrpay_http_first_byte_timeouts_total.
std::string http_server_metrics(const http::ServerStats& stats);

// Why the API listener cannot take a new connection ("" when it can): for /readyz.
std::string http_saturation(const http::ServerStats& stats);

}  // namespace qrpay::api
