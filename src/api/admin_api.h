#pragma once
// AdminApi: the admin listener: GET /healthz (the process answers), GET /readyz (it serves
// payments), GET /metrics (Prometheus text). No authentication: bind it to a private address.

#include <functional>
#include <string>

#include "http/server.h"

namespace qrpay::api {

struct AdminSources {
    std::function<bool()> ready;           // true once recovery finished and until shutdown
    std::function<std::string()> metrics;  // Prometheus text exposition format
};

class AdminApi {
public:
    explicit AdminApi(AdminSources sources) : sources_(std::move(sources)) {}
    void handle(const http::Request& request, const http::Responder& responder) const;

private:
    AdminSources sources_;
};

}  // namespace qrpay::api
