#include "api/admin_api.h"

#include "api/payment_api.h"

namespace qrpay::api {

void AdminApi::handle(const http::Request& request, const http::Responder& responder) const {
    if (request.method != "GET") {
        respond_problem(responder, make_problem(405, "method_not_allowed", "use GET"));
        return;
    }
    if (request.path == "/healthz") {
        responder(http::Response::text(200, "ok\n"));
    } else if (request.path == "/readyz") {
        if (!sources_.ready()) {
            responder(http::Response::text(503, "not ready\n"));
        } else if (std::string reason =
                       sources_.not_ready_reason ? sources_.not_ready_reason() : "";
                   !reason.empty()) {
            responder(http::Response::text(503, "not ready: " + reason + "\n"));
        } else {
            responder(http::Response::text(200, "ready\n"));
        }
    } else if (request.path == "/metrics") {
        http::Response response = http::Response::text(200, sources_.metrics());
        response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8";
        responder(std::move(response));
    } else {
        respond_problem(responder, make_problem(404, "not_found", "no such route"));
    }
}

}  // namespace qrpay::api
