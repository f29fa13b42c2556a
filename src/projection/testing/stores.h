#pragma once
// Test-only: where a projection test keeps its read-model store, so that each test runs on
// both kinds the Store takes: a SQLite file in the test's directory, or a fresh database on
// the test binary's PostgreSQL server.

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "postgres/testing/test_server.h"

namespace qrpay::projection::testing {

enum class StoreKind { sqlite, postgres };

inline std::string store_location(StoreKind kind, const std::string& dir) {
    if (kind == StoreKind::sqlite) {
        return dir + "/read.sqlite3";
    }
    auto& server = postgres::testing::shared_test_server();
    const std::string name = postgres::testing::unique_database_name("read");
    Status created = server.create_database(name);
    EXPECT_TRUE(created.ok()) << created.to_string();
    return server.url(name);
}

inline std::string store_kind_name(const ::testing::TestParamInfo<StoreKind>& info) {
    return info.param == StoreKind::sqlite ? "Sqlite" : "Postgres";
}

}  // namespace qrpay::projection::testing
