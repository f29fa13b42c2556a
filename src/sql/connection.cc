#include "sql/connection.h"

#include <limits>
#include <utility>

#include "base/assert.h"

namespace qrpay::sql {

std::int64_t to_column(std::uint64_t value) {
    QRPAY_ASSERT(value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                 "a number above INT64_MAX reached a column");
    return static_cast<std::int64_t>(value);
}

std::uint64_t from_column(std::int64_t value) {
    QRPAY_ASSERT(value >= 0, "a negative number in an unsigned column");
    return static_cast<std::uint64_t>(value);
}

void Statement::bind_optional_text(int index, const std::optional<std::string>& value) {
    if (value) {
        bind_text(index, *value);
    } else {
        bind_null(index);
    }
}

Status Statement::run(std::string_view what) {
    for (;;) {
        switch (step()) {
            case Step::row:
                continue;
            case Step::done:
                return {};
            case Step::error:
                return error(what);
        }
    }
}

std::optional<std::int64_t> Statement::column_optional_int(int index) const {
    if (column_is_null(index)) {
        return std::nullopt;
    }
    return column_int(index);
}

std::optional<std::string> Statement::column_optional_text(int index) const {
    if (column_is_null(index)) {
        return std::nullopt;
    }
    return column_text(index);
}

bool is_postgres_url(std::string_view location) {
    return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

Status Connection::run(std::string_view sql) {
    Result<Statement> statement = prepare(sql);
    if (!statement.ok()) {
        return statement.status();
    }
    return statement->run(sql);
}

Pool::Pool(Opener opener,
           std::size_t connections_max,
           std::chrono::milliseconds wait_max,
           std::chrono::milliseconds liveness_check_after)
    : BoundedPool<Connection>(std::move(opener),
                              connections_max,
                              wait_max,
                              {.lost = [](Connection& connection) { return connection.broken(); },
                               .alive =
                                   [](Connection& connection) {
                                       return connection.dialect() == Dialect::sqlite ||
                                              connection.run("SELECT 1").ok();
                                   },
                               .check_idle_after = liveness_check_after}) {}

}  // namespace qrpay::sql
