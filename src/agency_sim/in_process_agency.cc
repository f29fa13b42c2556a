#include "agency_sim/in_process_agency.h"

namespace qrpay::agency_sim {
namespace {

using domain::AgencyOutcome;
using domain::AgencyVerdict;

AgencyOutcome agency_outcome(const SimOutcome& outcome) {
    if (outcome.answered_late) {
        return {AgencyVerdict::unknown, "", "simulated timeout: the agency may have acted"};
    }
    switch (outcome.verdict) {
        case SimVerdict::approved:
            return {AgencyVerdict::approved, outcome.reference, ""};
        case SimVerdict::reversed:  // a reversal done; or an inquiry of a charged payment
            return {AgencyVerdict::approved, outcome.reference, "reversed"};
        case SimVerdict::declined:
            return {AgencyVerdict::declined, "", outcome.reason};
        case SimVerdict::not_found:
            return {AgencyVerdict::not_found, "", outcome.reason};
        case SimVerdict::invalid:
        case SimVerdict::conflict:  // refused: nothing was done for this request
            return {AgencyVerdict::declined, "", "refused by the agency: " + outcome.reason};
        case SimVerdict::server_error:
        case SimVerdict::unavailable:
            return {AgencyVerdict::unknown, "", outcome.reason};
    }
    return {AgencyVerdict::unknown, "", "unknown simulator verdict"};
}

Simulator::Done translate(domain::AgencyPort::Done done) {
    return [done = std::move(done)](const SimOutcome& outcome) { done(agency_outcome(outcome)); };
}

class InProcessAgency final : public domain::AgencyPort {
public:
    explicit InProcessAgency(Simulator& simulator) : simulator_(simulator) {}

    void pay(const domain::AgencyPayment& payment, Done done) override {
        simulator_.pay(payment, translate(std::move(done)));
    }
    void inquire(const std::string& idempotency_key, Done done) override {
        simulator_.inquire(idempotency_key, translate(std::move(done)));
    }
    void reverse(const domain::AgencyReversal& reversal, Done done) override {
        simulator_.reverse(reversal, translate(std::move(done)));
    }

private:
    Simulator& simulator_;
};

}  // namespace

std::unique_ptr<domain::AgencyPort> make_in_process_agency(Simulator& simulator) {
    return std::make_unique<InProcessAgency>(simulator);
}

}  // namespace qrpay::agency_sim
