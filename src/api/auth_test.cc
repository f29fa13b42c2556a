#include "api/auth.h"

#include <gtest/gtest.h>

#include <vector>

namespace qrpay::api {
namespace {

constexpr UnixMs now{1'800'000'000'000};
constexpr UnixMs later{now.value + 3'600'000};

TEST(TokenSigner, IssuedTokenVerifies) {
    TokenSigner signer("k0123456789abcdef0123456789abcdef");
    std::string token = signer.issue({"m-1", Role::merchant}, later);
    auto principal = signer.verify(token, now);
    ASSERT_TRUE(principal.ok()) << principal.status().to_string();
    EXPECT_EQ(principal->subject, "m-1");
    EXPECT_EQ(principal->role, Role::merchant);
}

TEST(TokenSigner, RefusesExpiredToken) {
    TokenSigner signer("k0123456789abcdef0123456789abcdef");
    std::string token = signer.issue({"c-1", Role::consumer}, now);
    EXPECT_EQ(signer.verify(token, later).status().code(), Errc::invalid_argument);
}

TEST(TokenSigner, RefusesTokenSignedWithAnotherKey) {
    TokenSigner signer("k0123456789abcdef0123456789abcdef");
    TokenSigner other("another-key-0123456789abcdef01234");
    std::string token = other.issue({"c-1", Role::consumer}, later);
    auto refused = signer.verify(token, now);
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().message(), "token signature does not match");
}

TEST(TokenSigner, RefusesTamperedPayload) {
    TokenSigner signer("k0123456789abcdef0123456789abcdef");
    std::string token = signer.issue({"c-1", Role::consumer}, later);
    std::string admin = signer.issue({"c-1", Role::admin}, later);
    // Graft the admin claims onto the consumer token's signature.
    std::string forged = admin.substr(0, admin.rfind('.')) + token.substr(token.rfind('.'));
    EXPECT_FALSE(signer.verify(forged, now).ok());
}

TEST(TokenSigner, RefusesMalformedTokens) {
    TokenSigner signer("k0123456789abcdef0123456789abcdef");
    for (const std::string& bad :
         std::vector<std::string>{"", "abc", "a.b", "a.b.c", "!!.??.**", std::string(5000, 'a')}) {
        EXPECT_FALSE(signer.verify(bad, now).ok()) << bad.substr(0, 20);
    }
}

TEST(Role, ParsesOnlyKnownRoles) {
    EXPECT_EQ(parse_role("consumer").value(), Role::consumer);
    EXPECT_EQ(parse_role("admin").value(), Role::admin);
    EXPECT_FALSE(parse_role("root").ok());
}

}  // namespace
}  // namespace qrpay::api

namespace qrpay::api {
namespace {

TEST(TokenSigner, VerifiesOnlyTheBearerScheme) {
    TokenSigner signer("k0123456789abcdef0123456789abcdef");
    std::string token = signer.issue({"c-1", Role::consumer}, later);
    EXPECT_TRUE(signer.verify_bearer("Bearer " + token, now).ok());
    EXPECT_FALSE(signer.verify_bearer("Basic " + token, now).ok());
    EXPECT_FALSE(signer.verify_bearer(token, now).ok());
    EXPECT_FALSE(signer.verify_bearer("", now).ok());
}

}  // namespace
}  // namespace qrpay::api
