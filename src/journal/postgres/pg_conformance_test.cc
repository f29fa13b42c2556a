// The journal conformance suite (STYLE 2.7) on the PostgreSQL journal, and on a journal
// partitioned over two PostgreSQL databases, against a real PostgreSQL 15 server this test
// binary starts: one database per test directory (and partition), so that reopen finds the
// same data and tests never see each other's.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "journal/conformance/journal_conformance.h"
#include "journal/partitioned_journal.h"
#include "journal/postgres/pg_journal.h"
#include "postgres/testing/test_server.h"

namespace qrpay::journal::conformance {
namespace {

using qrpay::postgres::testing::shared_test_server;

struct PgBackend {
    static std::unique_ptr<Journal> open(
        const std::string& dir, std::size_t copy_events_min = PgJournalOptions{}.copy_events_min) {
        auto& server = shared_test_server();
        const std::string name = "conformance_" + std::to_string(std::hash<std::string>{}(dir));
        Status created = server.create_database(name);
        EXPECT_TRUE(created.ok() || created.code() == Errc::conflict) << created.to_string();
        Result<std::unique_ptr<Journal>> journal =
            open_pg_journal({.url = server.url(name), .copy_events_min = copy_events_min});
        EXPECT_TRUE(journal.ok()) << journal.status().to_string();
        return journal.ok() ? std::move(journal).value() : nullptr;
    }
    static constexpr bool durable = true;
};

// Two databases, shards 0-3 in the first and 4-7 in the second; no shard_of, so entity reads
// find their partition by asking both. Every event goes in by COPY (the suite's groups are
// small), so the suite covers both ways the journal stores events.
struct PartitionedPgBackend {
    static std::unique_ptr<Journal> open(const std::string& dir) {
        std::vector<std::unique_ptr<Journal>> partitions;
        partitions.push_back(PgBackend::open(dir + "/partition-0", 1));
        partitions.push_back(PgBackend::open(dir + "/partition-1", 1));
        return make_partitioned_journal(std::move(partitions), 8, {});
    }
    static constexpr bool durable = true;
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, JournalConformance, PgBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(PartitionedPostgres, JournalConformance, PartitionedPgBackend);

}  // namespace qrpay::journal::conformance
