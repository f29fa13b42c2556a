#include "api/requests.h"

#include <gtest/gtest.h>

namespace qrpay::api {
namespace {

struct BadBody {
    std::string body;
    int status;
    std::string code;
};

class BadPayBodies : public ::testing::TestWithParam<BadBody> {};

TEST_P(BadPayBodies, AreRefusedWithTheirProblem) {
    auto parsed = parse_pay_request(GetParam().body);
    ASSERT_TRUE(std::holds_alternative<Problem>(parsed)) << GetParam().body;
    const auto& problem = std::get<Problem>(parsed);
    EXPECT_EQ(problem.status, GetParam().status) << GetParam().body;
    EXPECT_EQ(problem.code, GetParam().code) << GetParam().body;
}

const std::string code = R"("code":"12345678901234567890")";

INSTANTIATE_TEST_SUITE_P(
    Table,
    BadPayBodies,
    ::testing::Values(
        BadBody{"{", 400, "malformed_json"},
        BadBody{"[]", 422, "invalid_body"},
        BadBody{"{" + code + "}", 422, "missing_field"},
        BadBody{R"({"amount":{"value":1}})", 422, "missing_field"},
        BadBody{"{" + code + R"(,"amount":{"value":1},"tip":3})", 422, "unknown_field"},
        BadBody{"{" + code + R"(,"amount":{"value":"1"}})", 422, "invalid_amount"},
        BadBody{"{" + code + R"(,"amount":{"value":1.5}})", 422, "invalid_amount"},
        BadBody{"{" + code + R"(,"amount":{"value":0}})", 422, "invalid_amount"},
        BadBody{"{" + code + R"(,"amount":{"value":-5}})", 422, "invalid_amount"},
        BadBody{"{" + code + R"(,"amount":{"value":18446744073709551615}})", 422, "invalid_amount"},
        BadBody{"{" + code + R"(,"amount":{"value":99999999999999999999999}})", 422,
                "invalid_amount"},
        BadBody{"{" + code + R"(,"amount":{"value":9007199254740992}})", 422, "invalid_amount"},
        BadBody{"{" + code + R"(,"amount":{"value":1,"currency":"XYZ"}})", 422, "unknown_currency"},
        BadBody{"{" + code + R"(,"amount":{"value":1,"currency":7}})", 422, "invalid_field"},
        BadBody{"{" + code + R"(,"amount":{"value":1,"fx":1}})", 422, "unknown_field"},
        BadBody{"{" + code + R"(,"amount":5})", 422, "invalid_field"},
        BadBody{R"({"code":123,"amount":{"value":1}})", 422, "invalid_field"},
        BadBody{R"({"code":"123","amount":{"value":1}})", 422, "invalid_code"},
        BadBody{R"({"code":"1234567890123456789x","amount":{"value":1}})", 422, "invalid_code"},
        BadBody{"{" + code + R"(,"amount":{"value":1},"order_id":5})", 422, "invalid_field"},
        BadBody{"{" + code + R"(,"amount":{"value":1},"order_id":")" + std::string(65, 'o') + "\"}",
                422, "invalid_field"}));

TEST(PayRequest, ParsesAndDefaultsCurrencyToJpy) {
    auto parsed = parse_pay_request("{" + code + R"(,"amount":{"value":1200},"order_id":"o-1"})");
    ASSERT_TRUE(std::holds_alternative<PayRequest>(parsed));
    const auto& request = std::get<PayRequest>(parsed);
    EXPECT_EQ(request.code, "12345678901234567890");
    EXPECT_EQ(request.amount, (Money{1200, "JPY"}));
    EXPECT_EQ(request.order_id, "o-1");
}

TEST(PayRequest, CanonicalBodyIgnoresLayout) {
    auto a = parse_pay_request("{" + code + R"(,"amount":{"value":1,"currency":"JPY"}})");
    auto b = parse_pay_request(R"({ "amount" : {"value":1}, )" + code + "}");
    EXPECT_EQ(std::get<PayRequest>(a).canonical_body, std::get<PayRequest>(b).canonical_body);
}

TEST(EmptyBody, AcceptsNothingOrEmptyObjectOnly) {
    EXPECT_FALSE(check_empty_body("").has_value());
    EXPECT_FALSE(check_empty_body("{}").has_value());
    EXPECT_EQ(check_empty_body(R"({"a":1})")->code, "unknown_field");
    EXPECT_EQ(check_empty_body("nope")->code, "malformed_json");
}

TEST(IdempotencyKeyHeader, MustBePrintableAndBounded) {
    EXPECT_FALSE(check_idempotency_key("order-1").has_value());
    EXPECT_TRUE(check_idempotency_key(std::string(129, 'k')).has_value());
    EXPECT_TRUE(check_idempotency_key("has space").has_value());
}

}  // namespace
}  // namespace qrpay::api
