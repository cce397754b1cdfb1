// Verification of one compact JWS (JWT) bearer token into a macp identity.
#ifndef MACP_AUTH_JWT_VERIFIER_HPP
#define MACP_AUTH_JWT_VERIFIER_HPP

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keys.hpp"
#include "macp/plugin/sdk/auth.hpp"
#include "settings.hpp"

namespace macp::auth_jwt {

inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;
inline constexpr std::size_t kMaxClaimsDepth = 16;
inline constexpr std::int64_t kLeewaySecs = 60;
inline constexpr std::size_t kMaxSenderBytes = 255;  // the core's rule for a sender (as for certificates)

// True for a compact JWS shape: exactly three non-empty-or-not segments separated by two dots.
// Such a token is this resolver's; anything else is left to the next resolver.
bool is_jwt_shaped(std::string_view token);

// Returns the key set to try for a token signed by `kid` (nullopt: the token has none); may
// block on a JWKS fetch. Throws macp::sdk::Error when no key set is available.
using KeyLookup = std::function<std::shared_ptr<const KeySet>(const std::optional<std::string>& kid)>;

// Verifies a JWT-shaped token and returns its identity, or throws macp::sdk::Error:
//   AUTH_MALFORMED           over kMaxTokenBytes, bad base64url, header/claims not JSON objects,
//                            nesting over kMaxClaimsDepth, duplicate members, claims of the wrong type
//   AUTH_INVALID_CREDENTIAL  alg none / unknown / not allowed, `crit`, no key for the alg or kid,
//                            bad signature, wrong or missing iss/aud/sub/exp, nbf in the future
//   AUTH_EXPIRED             exp more than kLeewaySecs in the past
// `now_unix` is the current time in seconds.
macp::sdk::Identity verify_token(std::string_view token, const Settings& settings, const KeyLookup& lookup,
                                 double now_unix);

}  // namespace macp::auth_jwt

#endif  // MACP_AUTH_JWT_VERIFIER_HPP
