#include "api/auth.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/requests.h"
#include "base/assert.h"
#include "base/base64.h"
#include "base/random.h"

namespace qrpay::api {
namespace {

constexpr std::size_t token_bytes_max = 4096;
constexpr std::size_t key_bytes = 32;

// An HMAC-SHA256 context keyed once. OpenSSL 3's one-shot HMAC() looks the algorithm up and
// builds a context on every call (a third of what verifying a token cost); a copy of a keyed
// context costs one allocation.
struct KeyedMac {
    EVP_MAC* mac = nullptr;
    EVP_MAC_CTX* keyed = nullptr;
    explicit KeyedMac(const std::string& key) {
        mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        QRPAY_ASSERT(mac != nullptr, "OpenSSL has HMAC");
        keyed = EVP_MAC_CTX_new(mac);
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                               OSSL_PARAM_construct_end()};
        int initialized = EVP_MAC_init(keyed, reinterpret_cast<const unsigned char*>(key.data()),
                                       key.size(), params);
        QRPAY_ASSERT(keyed != nullptr && initialized == 1, "an HMAC-SHA256 context is keyed");
    }
    ~KeyedMac() {
        EVP_MAC_CTX_free(keyed);
        EVP_MAC_free(mac);
    }
    KeyedMac(const KeyedMac&) = delete;
    KeyedMac& operator=(const KeyedMac&) = delete;
    KeyedMac(KeyedMac&&) = delete;
    KeyedMac& operator=(KeyedMac&&) = delete;
};

}  // namespace

// Thread-safe: the keyed context is only copied, never used itself.
class TokenSigner::Mac {
public:
    explicit Mac(const std::string& key) : keyed_(key) {}
    [[nodiscard]] std::string sign(std::string_view data) const {
        EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_.keyed);
        QRPAY_ASSERT(ctx != nullptr, "an HMAC context copies");
        unsigned char digest[EVP_MAX_MD_SIZE];
        std::size_t length = 0;
        int done = EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()),
                                  data.size()) == 1 &&
                   EVP_MAC_final(ctx, digest, &length, sizeof(digest)) == 1;
        EVP_MAC_CTX_free(ctx);
        QRPAY_ASSERT(done == 1, "HMAC-SHA256 cannot fail");
        return {reinterpret_cast<const char*>(digest), length};
    }

private:
    KeyedMac keyed_;
};

namespace {

Status bad_token(const char* why) { return {Errc::invalid_argument, why}; }

Result<Principal> read_claims(const std::string& payload, UnixMs now) {
    auto claims = nlohmann::json::parse(payload, nullptr, false);
    if (!claims.is_object() || !claims.contains("sub") || !claims["sub"].is_string() ||
        !claims.contains("role") || !claims["role"].is_string() || !claims.contains("exp") ||
        !claims["exp"].is_number_integer()) {
        return bad_token("token claims must hold sub, role and exp");
    }
    // exp is in seconds. One whose milliseconds do not fit in 64 bits (or a negative one) is
    // no time at all: refused as invalid, never multiplied into undefined behaviour (a wrapped
    // product could look like a time in the future).
    const nlohmann::json& exp = claims["exp"];
    std::int64_t exp_ms = 0;
    if (exp.is_number_unsigned() && exp.get<std::uint64_t>() > INT64_MAX) {
        return bad_token("token exp is out of range");
    }
    if (exp.get<std::int64_t>() < 0 ||
        __builtin_mul_overflow(exp.get<std::int64_t>(), std::int64_t{1000}, &exp_ms)) {
        return bad_token("token exp is out of range");
    }
    if (exp_ms <= now.value) {
        return bad_token("token expired");
    }
    auto role = parse_role(claims["role"].get<std::string>());
    if (!role.ok()) {
        return role.status();
    }
    Principal principal{claims["sub"].get<std::string>(), *role};
    if (!is_valid_subject(principal.subject)) {
        return bad_token("token subject must be 1 to 128 printable ASCII characters, no spaces");
    }
    return principal;
}

}  // namespace

bool is_valid_subject(std::string_view subject) {
    constexpr std::size_t subject_bytes_max = 128;
    return !subject.empty() && subject.size() <= subject_bytes_max && is_printable_token(subject);
}

std::string_view role_name(Role role) {
    switch (role) {
        case Role::consumer:
            return "consumer";
        case Role::merchant:
            return "merchant";
        case Role::admin:
            return "admin";
    }
    return "unknown";
}

Result<Role> parse_role(std::string_view text) {
    for (Role role : {Role::consumer, Role::merchant, Role::admin}) {
        if (text == role_name(role)) {
            return role;
        }
    }
    return Status(Errc::invalid_argument, "role must be consumer, merchant or admin");
}

TokenSigner::TokenSigner(const std::string& key) : mac_(std::make_shared<const Mac>(key)) {}

std::string TokenSigner::issue(const Principal& principal, UnixMs expires_at) const {
    nlohmann::json claims = {{"sub", principal.subject},
                             {"role", std::string(role_name(principal.role))},
                             {"exp", expires_at.value / 1000}};
    std::string signing_input =
        base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims.dump());
    return signing_input + "." + base64url_encode(mac_->sign(signing_input));
}

Result<Principal> TokenSigner::verify(std::string_view token, UnixMs now) const {
    if (token.size() > token_bytes_max) {
        return bad_token("token too long");
    }
    auto first = token.find('.');
    auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos) {
        return bad_token("token must have three parts");
    }
    auto header = base64url_decode(token.substr(0, first));
    auto signature = base64url_decode(token.substr(second + 1));
    if (!header || !signature) {
        return bad_token("token is not base64url");
    }
    auto header_json = nlohmann::json::parse(*header, nullptr, false);
    if (!header_json.is_object() || header_json.value("alg", "") != "HS256") {
        return bad_token("token algorithm must be HS256");
    }
    std::string expected = mac_->sign(token.substr(0, second));
    if (expected.size() != signature->size() ||
        CRYPTO_memcmp(expected.data(), signature->data(), expected.size()) != 0) {
        return bad_token("token signature does not match");
    }
    auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
    if (!payload) {
        return bad_token("token is not base64url");
    }
    return read_claims(*payload, now);
}

Result<Principal> TokenSigner::verify_bearer(std::string_view authorization, UnixMs now) const {
    constexpr std::string_view scheme = "Bearer ";
    if (authorization.substr(0, scheme.size()) != scheme) {
        return bad_token("a Bearer token is required");
    }
    return verify(authorization.substr(scheme.size()), now);
}

Result<std::string> load_key(const std::string& data_dir) {
    const std::string path = data_dir + "/jwt.key";
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
        return error ? Status(Errc::io_error, "cannot look for " + path + ": " + error.message())
                     : Status(Errc::not_found, path + " does not exist");
    }
    // It exists: a file that cannot be read is an error, never a reason to write a new key
    // over it (every token issued with it would stop working).
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Status(Errc::io_error, "cannot read " + path);
    }
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (key.size() < key_bytes) {
        return Status(Errc::corruption, path + " holds fewer than 32 bytes");
    }
    return key;
}

Result<std::string> load_or_create_key(const std::string& data_dir) {
    const std::string path = data_dir + "/jwt.key";
    if (auto loaded = load_key(data_dir); loaded.status().code() != Errc::not_found) {
        return loaded;
    }
    SecureRandom random;
    std::string key = random.hex(key_bytes);
    std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << key;
        out.flush();
        if (!out) {
            return Status(Errc::io_error, "cannot write " + temporary);
        }
    }
    ::chmod(temporary.c_str(), 0600);
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        return Status(Errc::io_error, "cannot create " + path);
    }
    return key;
}

}  // namespace qrpay::api
