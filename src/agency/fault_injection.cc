#include "agency/fault_injection.h"

#include <charconv>

namespace qrpay::agency {
namespace {

Result<AgencyOperation> parse_operation(std::string_view text) {
    if (text == "pay") {
        return AgencyOperation::pay;
    }
    if (text == "inquire") {
        return AgencyOperation::inquire;
    }
    if (text == "reverse") {
        return AgencyOperation::reverse;
    }
    return Status(
        Errc::invalid_argument,
        "agency fault operation must be pay, inquire or reverse, not '" + std::string(text) + "'");
}

Result<AgencyFaultRule> parse_rule(std::string_view item) {
    std::size_t at = item.find('@');
    std::size_t star = item.rfind('*');
    if (at == std::string_view::npos || star == std::string_view::npos || star < at) {
        return Status(Errc::invalid_argument,
                      "agency fault point '" + std::string(item) + "' is not NAME@OPERATION*N");
    }
    std::string_view name = item.substr(0, at);
    AgencyFaultRule rule;
    if (name == "lose_answer") {
        rule.fault = AgencyFault::lose_answer;
    } else if (name == "fail_call") {
        rule.fault = AgencyFault::fail_call;
    } else {
        return Status(Errc::invalid_argument,
                      "unknown agency fault point '" + std::string(name) + "'");
    }
    auto operation = parse_operation(item.substr(at + 1, star - at - 1));
    if (!operation.ok()) {
        return operation.status();
    }
    rule.operation = *operation;
    std::string_view count = item.substr(star + 1);
    auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), rule.count);
    if (error != std::errc() || end != count.data() + count.size() || rule.count == 0) {
        return Status(Errc::invalid_argument, "agency fault point needs *N with N >= 1");
    }
    return rule;
}

domain::AgencyOutcome unknown(const char* why) {
    return domain::AgencyOutcome{
        .verdict = domain::AgencyVerdict::unknown, .reference = {}, .reason = why};
}

}  // namespace

Result<std::vector<AgencyFaultRule>> parse_agency_faults(std::string_view spec) {
    std::vector<AgencyFaultRule> rules;
    while (!spec.empty()) {
        std::size_t comma = spec.find(',');
        auto rule = parse_rule(spec.substr(0, comma));
        if (!rule.ok()) {
            return rule.status();
        }
        rules.push_back(*rule);
        spec = comma == std::string_view::npos ? "" : spec.substr(comma + 1);
    }
    return rules;
}

FaultInjectingAgency::FaultInjectingAgency(std::unique_ptr<domain::AgencyPort> inner,
                                           std::vector<AgencyFaultRule> rules)
    : inner_(std::move(inner)), rules_(std::move(rules)) {}

std::optional<AgencyFault> FaultInjectingAgency::take(AgencyOperation operation) {
    std::lock_guard lock(mutex_);
    for (AgencyFaultRule& rule : rules_) {
        if (rule.operation == operation && rule.count > 0) {
            --rule.count;
            return rule.fault;
        }
    }
    return std::nullopt;
}

domain::AgencyPort::Done FaultInjectingAgency::through(std::optional<AgencyFault> fault,
                                                       Done done) {
    if (fault != AgencyFault::lose_answer) {
        return done;
    }
    return [done = std::move(done)](const domain::AgencyOutcome& /*lost*/) {
        done(unknown("injected fault: the agency's answer was lost (lose_answer)"));
    };
}

void FaultInjectingAgency::pay(const domain::AgencyPayment& payment, Done done) {
    call(AgencyOperation::pay, std::move(done),
         [this, &payment](Done through) { inner_->pay(payment, std::move(through)); });
}

void FaultInjectingAgency::inquire(const std::string& idempotency_key, Done done) {
    call(AgencyOperation::inquire, std::move(done), [this, &idempotency_key](Done through) {
        inner_->inquire(idempotency_key, std::move(through));
    });
}

void FaultInjectingAgency::reverse(const domain::AgencyReversal& reversal, Done done) {
    call(AgencyOperation::reverse, std::move(done),
         [this, &reversal](Done through) { inner_->reverse(reversal, std::move(through)); });
}

void FaultInjectingAgency::call(AgencyOperation operation,
                                Done done,
                                const std::function<void(Done)>& forward) {
    std::optional<AgencyFault> fault = take(operation);
    if (fault == AgencyFault::fail_call) {
        done(unknown("injected fault: the call did not reach the agency (fail_call)"));
        return;
    }
    forward(through(fault, std::move(done)));
}

}  // namespace qrpay::agency
