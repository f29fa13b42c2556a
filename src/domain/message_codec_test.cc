// The forwarding codecs (token_message_codec.cc, transaction_message_codec.cc): every command
// and reply survives the trip between nodes, and bytes a node cannot read are refused with
// invalid_argument, never an assertion.

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "domain/token/token.h"
#include "domain/transaction/transaction.h"

namespace qrpay::domain {
namespace {

// Codecs call no agency; a call would be a bug.
class NoAgency final : public AgencyPort {
public:
    void pay(const AgencyPayment&, Done) override { ADD_FAILURE() << "agency called"; }
    void inquire(const std::string&, Done) override { ADD_FAILURE() << "agency called"; }
    void reverse(const AgencyReversal&, Done) override { ADD_FAILURE() << "agency called"; }
};

class MessageCodec : public ::testing::Test {
protected:
    template <class Behavior>
    typename Behavior::Command round_trip_command(const Behavior& behavior,
                                                  const typename Behavior::Command& command) {
        std::optional<std::string> bytes = behavior.encode_command(command);
        EXPECT_TRUE(bytes.has_value());
        auto decoded = behavior.decode_command(bytes.value_or(""));
        EXPECT_TRUE(decoded.ok()) << decoded.status().to_string();
        return decoded.ok() ? *decoded : typename Behavior::Command{};
    }

    NoAgency agency_;
    Token token_;
    Transaction transaction_{agency_};
};

TEST_F(MessageCodec, TokenCommandsAndRepliesTravel) {
    auto start = std::get<StartUse>(round_trip_command(
        token_, TokenCommand{StartUse{.transaction_id = {"tx_1"}, .expires_at = UnixMs{42}}}));
    EXPECT_EQ(start.transaction_id.value, "tx_1");
    EXPECT_EQ(start.expires_at.value, 42);
    EXPECT_TRUE(
        std::holds_alternative<Resolve>(round_trip_command(token_, TokenCommand{Resolve{}})));

    auto resolved = token_.decode_reply(token_.encode_reply(Resolved{.transaction_id = {"tx_2"}}));
    ASSERT_TRUE(resolved.ok());
    EXPECT_EQ(std::get<Resolved>(*resolved).transaction_id.value, "tx_2");
    auto accepted = token_.decode_reply(token_.encode_reply(UseAccepted{}));
    ASSERT_TRUE(accepted.ok());
    EXPECT_TRUE(std::holds_alternative<UseAccepted>(*accepted));
}

TEST_F(MessageCodec, TransactionCommandsTravel) {
    auto generate = std::get<Generate>(round_trip_command(
        transaction_, TransactionCommand{Generate{.consumer_id = {"c-1"},
                                                  .code = Secret("12345678901234567890"),
                                                  .expires_at = UnixMs{7}}}));
    EXPECT_EQ(generate.consumer_id.value, "c-1");
    EXPECT_EQ(generate.code.reveal(), "12345678901234567890");
    EXPECT_EQ(generate.expires_at.value, 7);

    auto read = std::get<ReadToken>(round_trip_command(
        transaction_,
        TransactionCommand{ReadToken{.merchant_id = {"m-1"},
                                     .amount = {.amount_minor = 1200, .currency = "JPY"},
                                     .order_id = "o-\"1\"",
                                     .request_key = "k",
                                     .request_hash = "h"}}));
    EXPECT_EQ(read.merchant_id.value, "m-1");
    EXPECT_EQ(read.amount, (Money{.amount_minor = 1200, .currency = "JPY"}));
    EXPECT_EQ(read.order_id, "o-\"1\"");
    EXPECT_EQ(read.request_key, "k");
    EXPECT_EQ(read.request_hash, "h");

    auto cancel = std::get<Cancel>(round_trip_command(
        transaction_, TransactionCommand{Cancel{
                          .merchant_id = {"m-1"}, .request_key = "k2", .request_hash = ""}}));
    EXPECT_EQ(cancel.merchant_id.value, "m-1");
    EXPECT_EQ(cancel.request_key, "k2");
    EXPECT_TRUE(
        std::holds_alternative<Get>(round_trip_command(transaction_, TransactionCommand{Get{}})));
}

TEST_F(MessageCodec, AnAgencyAnswerStaysOnTheNodeThatAsked) {
    EXPECT_FALSE(transaction_.encode_command(TransactionCommand{AgencyAnswered{}}).has_value());
}

TEST_F(MessageCodec, TransactionViewTravels) {
    TransactionState state;
    state.phase = TransactionPhase::finished;
    state.outcome = TransactionOutcome::completed;
    state.consumer_id = {"c-1"};
    state.code = Secret("12345678901234567890");
    state.merchant_id = {"m-1"};
    state.amount = {.amount_minor = 500, .currency = "JPY"};
    state.agency_reference = "ref-1";
    const TransactionView view{
        .transaction_id = {"tx_3"}, .state = state, .version = SequenceNr(4)};
    auto decoded = transaction_.decode_reply(transaction_.encode_reply(view));
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(std::get<TransactionView>(*decoded), view);
}

TEST_F(MessageCodec, UnreadableBytesAreRefusedNotAsserted) {
    for (
        const char* bytes : {
            "",
            "not json",
            "[1,2]",
            R"({"c":"Resolve"})",         // no version
            R"({"c":"Resolve","v":2})",   // a version not known
            R"({"c":"Teleport","v":1})",  // a command not known
            R"({"c":"StartUse","v":1})",  // fields missing
            R"({"c":"StartUse","transaction_id":5,"expires_at_unix_ms":1,"v":1})",  // kinds
            R"({"c":7,"v":1})",
            R"({"c":"StartUse","transaction_id":"t","expires_at_unix_ms":18446744073709551615,"v":1})",
        }) {
        auto token_command = token_.decode_command(bytes);
        ASSERT_FALSE(token_command.ok()) << bytes;
        EXPECT_EQ(token_command.status().code(), Errc::invalid_argument) << bytes;
        auto transaction_command = transaction_.decode_command(bytes);
        ASSERT_FALSE(transaction_command.ok()) << bytes;
        EXPECT_EQ(transaction_command.status().code(), Errc::invalid_argument) << bytes;
        EXPECT_FALSE(token_.decode_reply(bytes).ok()) << bytes;
        EXPECT_FALSE(transaction_.decode_reply(bytes).ok()) << bytes;
    }
    // A view whose state is not a transaction's.
    EXPECT_FALSE(transaction_
                     .decode_reply(R"({"r":"View","state":"{\"v\":1}","transaction_id":"t",)"
                                   R"("v":1,"version":1})")
                     .ok());
    EXPECT_FALSE(transaction_
                     .decode_reply(R"({"r":"View","state":"x","transaction_id":"t","v":1,)"
                                   R"("version":-1})")
                     .ok());
}

}  // namespace
}  // namespace qrpay::domain
