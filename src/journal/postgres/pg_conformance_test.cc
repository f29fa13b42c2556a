// The journal conformance suite (STYLE 2.7) on the PostgreSQL journal, against a real
// PostgreSQL 15 server this test binary starts: one database per test directory, so that
// reopen finds the same data and tests never see each other's.

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "journal/conformance/journal_conformance.h"
#include "journal/postgres/pg_journal.h"
#include "postgres/testing/test_server.h"

namespace qrpay::journal::conformance {
namespace {

using qrpay::postgres::testing::shared_test_server;

struct PgBackend {
    static std::unique_ptr<Journal> open(const std::string& dir) {
        auto& server = shared_test_server();
        char name[32];
        std::snprintf(name, sizeof name, "conformance_%016zx", std::hash<std::string>{}(dir));
        Status created = server.create_database(name);
        EXPECT_TRUE(created.ok() || created.code() == Errc::conflict) << created.to_string();
        Result<std::unique_ptr<Journal>> journal = open_pg_journal({.url = server.url(name)});
        EXPECT_TRUE(journal.ok()) << journal.status().to_string();
        return journal.ok() ? std::move(journal).value() : nullptr;
    }
    static constexpr bool durable = true;
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, JournalConformance, PgBackend);

}  // namespace qrpay::journal::conformance
