#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/base64.h"
#include "base/bounded_pool.h"
#include "base/hash.h"
#include "base/random.h"
#include "base/secret.h"
#include "base/status.h"

namespace qrpay {
namespace {

TEST(Base64, MatchesRfc4648Vectors) {
    const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                      {"f", "Zg=="},
                                                                      {"fo", "Zm8="},
                                                                      {"foo", "Zm9v"},
                                                                      {"foob", "Zm9vYg=="},
                                                                      {"fooba", "Zm9vYmE="},
                                                                      {"foobar", "Zm9vYmFy"}};
    for (const auto& [bytes, text] : vectors) {
        EXPECT_EQ(base64_encode(bytes), text);
        EXPECT_EQ(base64_decode(text), bytes) << text;
    }
    EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=") << "the standard alphabet, not base64url";
}

TEST(Base64, RoundTripsEveryByteAtEveryLength) {
    std::string bytes;
    for (int byte = 0; byte < 256; ++byte) {
        bytes.push_back(static_cast<char>(byte));
    }
    for (std::size_t length = 0; length <= bytes.size(); ++length) {
        const std::string text = base64_encode(bytes.substr(0, length));
        EXPECT_EQ(text.size() % 4, 0U);
        EXPECT_EQ(base64_decode(text), bytes.substr(0, length)) << length;
    }
}

TEST(Base64, RefusesTextThatIsNotCanonical) {
    for (const char* text : {"Zg", "Zg=", "Z===", "====", "Zm9v!A==", "=Zg=", "Zm=v",
                             "Zh==", "Zm9=", "Zm9vYg", "Zm9v\nYg==", "aGk_", "aGk-"}) {
        EXPECT_EQ(base64_decode(text), std::nullopt) << text;
    }
}

TEST(Status, OkByDefaultAndCarriesCode) {
    Status ok;
    EXPECT_TRUE(ok.ok());
    Status bad(Errc::fenced, "token 3 < 4");
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.code(), Errc::fenced);
    EXPECT_EQ(bad.to_string(), "fenced: token 3 < 4");
}

TEST(Result, HoldsValueOrStatus) {
    Result<int> good(7);
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(*good, 7);
    Result<int> bad(Status(Errc::not_found, "x"));
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), Errc::not_found);
}

TEST(ResultDeathTest, ValueOfFailureAborts) {
    Result<int> bad(Status(Errc::not_found, "x"));
    EXPECT_DEATH((void)bad.value(), "value\\(\\) of a failed Result");
}

TEST(Random, DecimalDigitsHaveLengthAndOnlyDigits) {
    SecureRandom random;
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        std::string code = random.decimal_digits(20);
        ASSERT_EQ(code.size(), 20U);
        EXPECT_EQ(code.find_first_not_of("0123456789"), std::string::npos);
        seen.insert(code);
    }
    EXPECT_EQ(seen.size(), 100U);
}

TEST(Hash, ShardOfIsStableAndInRange) {
    EXPECT_EQ(shard_of("txn|abc", 64), shard_of("txn|abc", 64));
    for (int i = 0; i < 1000; ++i) {
        EXPECT_LT(shard_of(std::to_string(i), 16).value, 16U);
    }
}

TEST(Secret, RedactsToPrefix) {
    Secret code("12345678901234567890");
    EXPECT_EQ(code.redacted(), "1234…");
    EXPECT_EQ(code.reveal().size(), 20U);
    EXPECT_EQ(redacted_persistence_id("token|12345678901234567890"), "token|1234…");
}

TEST(Base64url, RoundTripsEveryByteAndRefusesOtherCharacters) {
    std::string bytes;
    for (int byte = 0; byte < 256; ++byte) {
        bytes.push_back(static_cast<char>(byte));
    }
    for (std::size_t length : {0U, 1U, 2U, 3U, 256U}) {
        std::string part = bytes.substr(0, length);
        std::string text = base64url_encode(part);
        EXPECT_EQ(text.find_first_of("+/="), std::string::npos) << "url-safe, unpadded";
        EXPECT_EQ(base64url_decode(text), part) << length;
    }
    EXPECT_EQ(base64url_encode("hi?"), "aGk_");
    EXPECT_EQ(base64url_decode("aGk+"), std::nullopt);
    EXPECT_EQ(base64url_decode("aGk="), std::nullopt);
}

}  // namespace
}  // namespace qrpay

#include "base/money.h"

namespace qrpay {
namespace {
TEST(Money, KnowsIso4217Codes) {
    EXPECT_TRUE(is_iso4217_currency("JPY"));
    EXPECT_TRUE(is_iso4217_currency("USD"));
    EXPECT_FALSE(is_iso4217_currency("XXX1"));
    EXPECT_FALSE(is_iso4217_currency("jpy"));
    EXPECT_FALSE(is_iso4217_currency("ABC"));
}
}  // namespace
}  // namespace qrpay

namespace qrpay {
namespace {

struct Resource {
    int id = 0;
    bool lost = false;
    bool alive = true;
};

TEST(BoundedPool, LendsAtMostItsBoundClosesLostOnesAndReplacesDeadIdleOnes) {
    int opened = 0;
    BoundedPool<Resource> pool(
        [&opened]() -> Result<std::unique_ptr<Resource>> {
            return std::make_unique<Resource>(Resource{++opened});
        },
        1, std::chrono::milliseconds(10),
        {.lost = [](Resource& r) { return r.lost; },
         .alive = [](Resource& r) { return r.alive; },
         .check_idle_after = std::chrono::milliseconds(0)});
    {
        auto first = pool.acquire();
        ASSERT_TRUE(first.ok());
        EXPECT_EQ((*first)->id, 1);
        EXPECT_EQ(pool.acquire().status().code(), Errc::unavailable);
    }
    {
        auto again = pool.acquire();  // the idle one, alive
        ASSERT_TRUE(again.ok());
        EXPECT_EQ((*again)->id, 1);
        (*again)->alive = false;
    }
    {
        auto replaced = pool.acquire();  // the idle one failed its check: a new one
        ASSERT_TRUE(replaced.ok());
        EXPECT_EQ((*replaced)->id, 2);
        (*replaced)->lost = true;
    }
    auto after_loss = pool.acquire();  // the lost one was closed, its slot freed
    ASSERT_TRUE(after_loss.ok());
    EXPECT_EQ((*after_loss)->id, 3);
}

}  // namespace
}  // namespace qrpay
