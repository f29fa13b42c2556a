#pragma once
// The service's Prometheus metrics, rendered from the stats each module keeps.

#include <string>

#include "domain/token/token.h"
#include "domain/transaction/transaction.h"
#include "journal/journal.h"
#include "runtime/entity_host.h"

namespace qrpay::cli {

struct MetricsSources {
    const runtime::EntityHost<domain::Token>* tokens;
    const runtime::EntityHost<domain::Transaction>* transactions;
    const journal::Journal* journal;  // made by open_sqlite_journal()
};

std::string render_metrics(const MetricsSources& sources);

}  // namespace qrpay::cli
