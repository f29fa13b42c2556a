#pragma once
// AgencyClient: the domain's AgencyPort over HTTP/JSON to a payment agency (the wire format is
// in agency/wire.h; the simulator in agency_sim/ serves it).
//
// Every call carries the transaction id as Idempotency-Key header, and in the body of POSTs,
// so a retry never charges or reverses twice. Verdicts:
//   approved   pay: 200 "approved"; inquire: 200 "approved" or "reversed" (it was charged; the
//              reason then says "reversed"); reverse: 200 "reversed"
//   declined   pay: 402/200 "declined"; inquire: 200 "declined"; reverse: 409 "declined";
//              and 400/422 problems: the agency refused the request, nothing was done for it
//   not_found  inquire: 404
//   unknown    anything else: timeout, connection failure, 5xx, 429, an unparsable body or an
//              unexpected status. Never declined on doubt.
//
// Threads: `done` runs on the client's I/O thread (or on the caller's thread, with unknown,
// when the client is stopping). Every method may be called from any thread.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"
#include "domain/agency_port.h"

namespace qrpay::http {
class Client;
}

namespace qrpay::agency {

struct AgencyClientOptions {
    std::string base_url{};  // "http://host:port"
    std::chrono::milliseconds connect_timeout{1'000};
    std::chrono::milliseconds response_timeout{5'000};
    std::size_t connections_max = 8;
    std::size_t calls_waiting_max = 1'024;
};

class AgencyClient final : public domain::AgencyPort {
public:
    // Errors: invalid_argument (bad URL or options), unavailable (host does not resolve).
    static Result<std::unique_ptr<AgencyClient>> open(const AgencyClientOptions& options);
    // Finishes pending calls (verdict unknown) and joins the I/O thread.
    // REQUIRES: not destroyed from a `done` callback.
    ~AgencyClient() override;
    AgencyClient(const AgencyClient&) = delete;
    AgencyClient& operator=(const AgencyClient&) = delete;
    AgencyClient(AgencyClient&&) = delete;
    AgencyClient& operator=(AgencyClient&&) = delete;

    void pay(const domain::AgencyPayment& payment, Done done) override;
    void inquire(const std::string& idempotency_key, Done done) override;
    void reverse(const domain::AgencyReversal& reversal, Done done) override;

private:
    explicit AgencyClient(std::unique_ptr<http::Client> http);
    std::unique_ptr<http::Client> http_;
};

}  // namespace qrpay::agency
