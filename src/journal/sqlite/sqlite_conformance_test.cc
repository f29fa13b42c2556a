// The SQLite journal against the conformance suite.

#include <memory>
#include <string>

#include "base/assert.h"
#include "journal/conformance/journal_conformance.h"
#include "journal/sqlite/sqlite_journal.h"

namespace qrpay::journal::conformance {

namespace {

struct SqliteBackend {
    static std::unique_ptr<Journal> open(const std::string& dir) {
        Result<std::unique_ptr<Journal>> journal =
            open_sqlite_journal({.path = dir + "/journal.db"});
        QRPAY_ASSERT(journal.ok(), "open_sqlite_journal failed in a temporary directory");
        return std::move(journal).value();
    }
    static constexpr bool durable = true;
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, JournalConformance, SqliteBackend);

}  // namespace qrpay::journal::conformance
