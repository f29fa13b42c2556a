#pragma once
// Named failure-injection points between qrpay and its payment agency (STYLE 2.8), as a
// decorator over any AgencyPort (the HTTP client or the in-process simulator). Off unless a
// test turns them on: `qrpay serve --agency-fault SPEC` (or QRPAY_AGENCY_FAULT; hidden from
// --help). SPEC is a comma-separated list of:
//
//   lose_answer@OPERATION*N   the first N calls of OPERATION reach the agency, which acts on
//                             them, and their answer is lost on the way back (unknown), as on
//                             a response timeout
//   fail_call@OPERATION*N     the first N calls of OPERATION never reach the agency (unknown),
//                             as on a refused connection
//
// OPERATION is pay, inquire or reverse. Either way the transaction must find out and never
// guess: it asks again by idempotency key until the agency answers.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "domain/agency_port.h"

namespace qrpay::agency {

enum class AgencyOperation { pay, inquire, reverse };
enum class AgencyFault { lose_answer, fail_call };

struct AgencyFaultRule {
    AgencyFault fault = AgencyFault::fail_call;
    AgencyOperation operation = AgencyOperation::pay;
    std::uint64_t count = 0;
};

// invalid_argument for an unknown point, operation or count. An empty spec is all off.
Result<std::vector<AgencyFaultRule>> parse_agency_faults(std::string_view spec);

class FaultInjectingAgency final : public domain::AgencyPort {
public:
    FaultInjectingAgency(std::unique_ptr<domain::AgencyPort> inner,
                         std::vector<AgencyFaultRule> rules);

    void pay(const domain::AgencyPayment& payment, Done done) override;
    void inquire(const std::string& idempotency_key, Done done) override;
    void reverse(const domain::AgencyReversal& reversal, Done done) override;

private:
    // The fault this call gets, if any; counts the hit.
    std::optional<AgencyFault> take(AgencyOperation operation);
    // Answers `done` with unknown for a failed call; else forwards it, as the fault leaves it.
    void call(AgencyOperation operation, Done done, const std::function<void(Done)>& forward);
    // `done` as the fault leaves it: lost answers turn into unknown.
    static Done through(std::optional<AgencyFault> fault, Done done);

    std::unique_ptr<domain::AgencyPort> inner_;
    std::mutex mutex_;  // guards rules_: calls come from every executor
    std::vector<AgencyFaultRule> rules_;
};

}  // namespace qrpay::agency
