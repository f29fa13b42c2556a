// The sql API over the PostgreSQL layer (src/postgres/): `?` / `?N` placeholders become `$N`,
// binds are collected and sent with the statement at its first step(), and rows are read
// from the result one step() at a time.

#include <utility>

#include "postgres/connection.h"
#include "sql/connection.h"

namespace qrpay::sql {

namespace {

// `?N` becomes `$N` and a bare `?` the next number, outside quoted text and identifiers.
std::string dollar_placeholders(std::string_view sql) {
    std::string out;
    out.reserve(sql.size() + 8);
    int next = 0;
    char quote = 0;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (quote != 0) {
            quote = c == quote ? '\0' : quote;
            out += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            out += c;
        } else if (c == '?') {
            out += '$';
            if (i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
                continue;  // its digits follow as they are
            }
            out += std::to_string(++next);
        } else {
            out += c;
        }
    }
    return out;
}

class PostgresStatement final : public StatementImpl {
public:
    PostgresStatement(postgres::Connection& db, std::string sql, std::int64_t& changes)
        : db_(db), sql_(std::move(sql)), changes_(changes) {}

    void bind_int(int index, std::int64_t value) override {
        slot(index) = {Kind::integer, value, {}};
    }
    void bind_null(int index) override { slot(index) = {Kind::null, 0, {}}; }
    void bind_text(int index, std::string_view value) override {
        slot(index) = {Kind::text, 0, std::string(value)};
    }

    Step step() override {
        if (!result_) {
            execute();
        }
        if (!result_->ok()) {
            return Step::error;
        }
        ++row_;
        return row_ < (*result_)->count() ? Step::row : Step::done;
    }
    [[nodiscard]] Status error(std::string_view what) const override {
        if (result_ && !result_->ok()) {
            const Status& failed = result_->status();
            return {failed.code(), std::string(what) + ": " + failed.message()};
        }
        return {Errc::io_error, std::string(what) + ": failed"};
    }
    [[nodiscard]] bool column_is_null(int index) const override {
        return rows().is_null(row_, index);
    }
    [[nodiscard]] std::int64_t column_int(int index) const override {
        return rows().int_at(row_, index);
    }
    [[nodiscard]] std::string column_text(int index) const override {
        return rows().text_at(row_, index);
    }

private:
    enum class Kind { null, integer, text };
    struct Bound {
        Kind kind = Kind::null;
        std::int64_t number = 0;
        std::string text;
    };

    Bound& slot(int index) {
        const auto at = static_cast<std::size_t>(index - 1);
        if (bound_.size() <= at) {
            bound_.resize(at + 1);
        }
        return bound_[at];
    }
    [[nodiscard]] const postgres::Rows& rows() const { return result_->value(); }

    void execute() {
        postgres::Params params;
        for (const Bound& value : bound_) {
            switch (value.kind) {
                case Kind::integer:
                    params.add_int(value.number);
                    break;
                case Kind::text:
                    params.add_text(value.text);
                    break;
                case Kind::null:
                    params.add_null();
                    break;
            }
        }
        result_.emplace(db_.query(sql_, params));
        if (result_->ok()) {
            changes_ = (*result_)->changed();
        }
    }

    postgres::Connection& db_;
    const std::string sql_;
    std::int64_t& changes_;
    std::vector<Bound> bound_;
    std::optional<Result<postgres::Rows>> result_;
    int row_ = -1;
};

class PostgresConnection final : public Connection {
public:
    explicit PostgresConnection(std::unique_ptr<postgres::Connection> db) : db_(std::move(db)) {}
    [[nodiscard]] Dialect dialect() const override { return Dialect::postgres; }
    Result<Statement> prepare(std::string_view sql) override {
        return Statement(
            std::make_unique<PostgresStatement>(*db_, dollar_placeholders(sql), changes_));
    }
    Status run_script(const std::string& sql) override { return db_->run_script(sql); }
    [[nodiscard]] std::int64_t changes() const override { return changes_; }
    [[nodiscard]] bool in_transaction() const override { return db_->in_transaction(); }
    [[nodiscard]] bool broken() const override { return db_->broken(); }
    Status begin(Begin /*mode*/) override {
        if (db_->in_transaction()) {
            return {Errc::io_error, "BEGIN: a transaction is already open"};
        }
        return db_->run_script("BEGIN");
    }
    Status commit() override {
        Result<postgres::Rows> committed = db_->query("COMMIT");
        if (!committed.ok()) {
            return db_->broken() ? Status(Errc::unknown_outcome, committed.status().message())
                                 : Status(Errc::io_error, committed.status().message());
        }
        if (committed->command() == "ROLLBACK") {  // the transaction had failed
            return {Errc::io_error, "COMMIT rolled back a failed transaction"};
        }
        return {};
    }
    Status rollback() override {
        if (!db_->in_transaction()) {
            return {};
        }
        return db_->run_script("ROLLBACK");
    }

private:
    std::unique_ptr<postgres::Connection> db_;
    std::int64_t changes_ = 0;
};

}  // namespace

Opener postgres_opener(std::string url, std::chrono::milliseconds connect_timeout) {
    return [url = std::move(url), connect_timeout]() -> Result<std::unique_ptr<Connection>> {
        Result<std::unique_ptr<postgres::Connection>> opened =
            postgres::Connection::open(url, {.connect_timeout = connect_timeout});
        if (!opened.ok()) {
            return opened.status();
        }
        return std::unique_ptr<Connection>(
            std::make_unique<PostgresConnection>(std::move(opened).value()));
    };
}

}  // namespace qrpay::sql
