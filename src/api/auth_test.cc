#include "api/auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/base64.h"

namespace qrpay::api {
namespace {

constexpr UnixMs now{1'800'000'000'000};
constexpr UnixMs later{now.value + 3'600'000};
constexpr const char* test_key = "k0123456789abcdef0123456789abcdef";

// A token with the claims exactly as given, correctly signed with test_key: what a holder of
// the key (or a buggy issuer) could write, beyond what TokenSigner::issue produces.
std::string signed_token(const std::string& claims) {
    std::string input =
        base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    std::string key = test_key;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &length);
    return input + "." +
           base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

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

TEST(TokenSigner, HandBuiltTokenVerifies) {
    TokenSigner signer(test_key);
    auto principal =
        signer.verify(signed_token(R"({"sub":"m-1","role":"merchant","exp":1800003600})"), now);
    ASSERT_TRUE(principal.ok()) << principal.status().to_string();
    EXPECT_EQ(principal->subject, "m-1");
}

// exp * 1000 must not overflow: 18446748073709552 seconds, times 1000, wraps in 64 bits to about
// 4.0e12 ms, a time after `now` (accepted before the check); INT64_MAX or more does not fit at
// all, and a negative exp is no time.
TEST(TokenSigner, RefusesAnExpWhoseMillisecondsDoNotFit) {
    TokenSigner signer(test_key);
    for (const char* exp : {"18446748073709552", "9223372036854776", "9223372036854775807",
                            "18446744073709551615", "-9223372036854775808", "-1"}) {
        auto refused = signer.verify(
            signed_token(std::string(R"({"sub":"m-1","role":"merchant","exp":)") + exp + "}"), now);
        ASSERT_FALSE(refused.ok()) << exp;
        EXPECT_EQ(refused.status().code(), Errc::invalid_argument) << exp;
        EXPECT_EQ(refused.status().message(), "token exp is out of range") << exp;
    }
}

// A subject the agency would refuse as a merchant id (a space, a control character, non-ASCII,
// more than 128 bytes) is no subject: such a token is refused, however well it is signed.
TEST(TokenSigner, RefusesASubjectTheAgencyWouldRefuse) {
    TokenSigner signer(test_key);
    for (const std::string& subject : {std::string("shop one"), std::string("a\u0001z"),
                                       std::string("caf\u00e9"), std::string(129, 's')}) {
        nlohmann::json claims = {{"sub", subject}, {"role", "merchant"}, {"exp", 1800003600}};
        auto refused = signer.verify(signed_token(claims.dump()), now);
        EXPECT_EQ(refused.status().code(), Errc::invalid_argument) << subject;
    }
    EXPECT_TRUE(is_valid_subject("shop|x"));
    EXPECT_TRUE(is_valid_subject(std::string(128, 's')));
    EXPECT_FALSE(is_valid_subject(""));
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
