#pragma once
// AdminApi: the admin listener: GET /healthz (the process answers), GET /readyz (it serves
// payments: 200 "ready"; 503 "not ready" before recovery finished and from shutdown on, and
// 503 "not ready: <reason>" while something keeps it from taking new work, such as a full API
// listener or a journal that fails writes, so that a balancer sends new clients elsewhere),
// GET /metrics (Prometheus text). No authentication: bind it to a private
// address.

#include <functional>
#include <string>

#include "http/server.h"

namespace qrpay::api {

struct AdminSources {
    std::function<bool()> ready;           // true once recovery finished and until shutdown
    std::function<std::string()> metrics;  // Prometheus text exposition format
    // Why the node cannot take new work now ("" when it can), e.g. api::http_saturation of
    // the API server's stats. May be empty (always ready once `ready`).
    std::function<std::string()> not_ready_reason{};
};

class AdminApi {
public:
    explicit AdminApi(AdminSources sources) : sources_(std::move(sources)) {}
    void handle(const http::Request& request, const http::Responder& responder) const;

private:
    AdminSources sources_;
};

}  // namespace qrpay::api
