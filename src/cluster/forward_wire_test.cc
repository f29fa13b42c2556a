#include "cluster/forward_wire.h"

#include <gtest/gtest.h>

#include <string>

namespace qrpay::cluster {
namespace {

TEST(ForwardWire, ACommandRoundTripsWithItsFlags) {
    for (bool presume_new : {false, true}) {
        for (bool wants_reply : {false, true}) {
            const runtime::ForwardedCommand sent{.type_name = "transaction",
                                                 .entity_id = "tx_0123",
                                                 .presume_new = presume_new,
                                                 .wants_reply = wants_reply,
                                                 .command = std::string("{\"c\":\"Get\"}\0x", 13)};
            Result<ForwardedFrame> frame =
                decode_forwarded(encode_forwarded(ShardId(70'000), sent));
            ASSERT_TRUE(frame.ok()) << frame.status().to_string();
            EXPECT_EQ(frame->shard, ShardId(70'000));
            EXPECT_EQ(frame->command.type_name, sent.type_name);
            EXPECT_EQ(frame->command.entity_id, sent.entity_id);
            EXPECT_EQ(frame->command.presume_new, presume_new);
            EXPECT_EQ(frame->command.wants_reply, wants_reply);
            EXPECT_EQ(frame->command.command, sent.command);
        }
    }
}

TEST(ForwardWire, RepliesAndErrorsRoundTrip) {
    Result<Result<std::string>> reply = decode_answer(encode_answer(std::string("view bytes")));
    ASSERT_TRUE(reply.ok());
    ASSERT_TRUE(reply->ok());
    EXPECT_EQ(**reply, "view bytes");
    Result<Result<std::string>> empty = decode_answer(encode_answer(std::string()));
    ASSERT_TRUE(empty.ok() && empty->ok());
    EXPECT_EQ(**empty, "");
    for (Errc code : {Errc::not_owner, Errc::conflict, Errc::unknown_outcome, Errc::not_found}) {
        Result<Result<std::string>> error =
            decode_answer(encode_answer(Status(code, "why it failed")));
        ASSERT_TRUE(error.ok());
        ASSERT_FALSE(error->ok());
        EXPECT_EQ(error->status().code(), code);
        EXPECT_EQ(error->status().message(), "why it failed");
    }
}

TEST(ForwardWire, BytesThatAreNoFrameAreRefused) {
    const std::string good =
        encode_forwarded(ShardId(1), {.type_name = "token", .entity_id = "1234", .command = "{}"});
    for (const std::string& bad : {
             std::string(), std::string("\x02", 1) + good.substr(1),       // another version
             good.substr(0, 5),                                            // cut in the header
             good.substr(0, 9),                                            // cut in the type
             std::string("\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00", 10),  // empty type
         }) {
        Result<ForwardedFrame> frame = decode_forwarded(bad);
        ASSERT_FALSE(frame.ok());
        EXPECT_EQ(frame.status().code(), Errc::invalid_argument);
    }
    for (const std::string& bad : {
             std::string(), std::string("\x01", 1), std::string("\x01\x07", 2),  // no such kind
             std::string("\x01\x01\x05nope!", 8),                                // no such code
             std::string("\x01\x01\x02ok", 5),                                   // ok is no error
             std::string("\x01\x01\x20short", 8),  // the name runs past the end
         }) {
        Result<Result<std::string>> answer = decode_answer(bad);
        ASSERT_FALSE(answer.ok());
        EXPECT_EQ(answer.status().code(), Errc::invalid_argument);
    }
}

TEST(ForwardWire, EveryErrorCodeHasANameThatReadsBack) {
    for (int code = 0; code <= static_cast<int>(Errc::not_owner); ++code) {
        EXPECT_EQ(errc_named(errc_name(static_cast<Errc>(code))), static_cast<Errc>(code));
    }
    EXPECT_EQ(errc_named("no_such_code"), std::nullopt);
}

}  // namespace
}  // namespace qrpay::cluster
