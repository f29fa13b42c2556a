#pragma once
// The entity hosts' Prometheus metrics (the journal's: journal_open.h).

#include <string>

#include "domain/token/token.h"
#include "domain/transaction/transaction.h"
#include "runtime/entity_host.h"

namespace qrpay::cli {

struct MetricsSources {
    const runtime::EntityHost<domain::Token>* tokens;
    const runtime::EntityHost<domain::Transaction>* transactions;
};

std::string render_metrics(const MetricsSources& sources);

}  // namespace qrpay::cli
