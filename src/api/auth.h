#pragma once
// Bearer tokens: JWT with HS256 (RFC 7519), claims sub, role and exp.
// The key is 32 random bytes kept in the data directory (or given by configuration).

#include <memory>
#include <string>

#include "base/clock.h"
#include "base/status.h"

namespace qrpay::api {

enum class Role { consumer, merchant, admin };

std::string_view role_name(Role role);
Result<Role> parse_role(std::string_view text);

struct Principal {
    std::string subject;  // consumer or merchant id
    Role role = Role::consumer;
};

// A token's `sub`: 1 to 128 printable ASCII characters without spaces. A merchant's subject
// is the merchant id the agency is sent, so it is held to what the agency accepts: a payment
// must never fail there (using up the consumer's code) over it. Tokens that break it are
// neither issued (qrpay token issue) nor accepted.
bool is_valid_subject(std::string_view subject);

class TokenSigner {
public:
    explicit TokenSigner(const std::string& key);

    [[nodiscard]] std::string issue(const Principal& principal, UnixMs expires_at) const;
    // invalid_argument for anything but a well-formed, correctly signed, unexpired HS256 token.
    [[nodiscard]] Result<Principal> verify(std::string_view token, UnixMs now) const;
    // The same for an Authorization header's value, "Bearer <token>".
    [[nodiscard]] Result<Principal> verify_bearer(std::string_view authorization, UnixMs now) const;

private:
    class Mac;
    std::shared_ptr<const Mac> mac_;  // shared by copies; immutable
};

// Loads the signing key from `<data_dir>/jwt.key`, creating it (mode 0600) on first use.
Result<std::string> load_or_create_key(const std::string& data_dir);
// Loads the signing key from `<data_dir>/jwt.key`; not_found when the directory or the file
// does not exist (nothing is created), corruption when it is too short.
Result<std::string> load_key(const std::string& data_dir);

}  // namespace qrpay::api
