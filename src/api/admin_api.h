#pragma once
// AdminApi: the admin listener: GET /healthz (the process answers), GET /readyz (it serves
// payments: 200 "ready"; 503 "not ready" before recovery finished and from shutdown on, and
// 503 "not ready: <reason>" while the API listener is saturated, so that a balancer sends new
// clients elsewhere), GET /metrics (Prometheus text). No authentication: bind it to a private
// address.

#include <functional>
#include <string>

#include "http/server.h"

namespace qrpay::api {

struct AdminSources {
    std::function<bool()> ready;           // true once recovery finished and until shutdown
    std::function<std::string()> metrics;  // Prometheus text exposition format
    // Why the API cannot take new clients now ("" when it can), e.g. api::http_saturation of
    // the API server's stats. May be empty (never saturated).
    std::function<std::string()> saturation{};
};

class AdminApi {
public:
    explicit AdminApi(AdminSources sources) : sources_(std::move(sources)) {}
    void handle(const http::Request& request, const http::Responder& responder) const;

private:
    AdminSources sources_;
};

}  // namespace qrpay::api
