// The plugin's configuration keys and their validation (no I/O).
#ifndef MACP_AUTH_JWT_SETTINGS_HPP
#define MACP_AUTH_JWT_SETTINGS_HPP

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "keys.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::auth_jwt {

inline constexpr const char* kIssuerKey = "MACP_AUTH_ISSUER";
inline constexpr const char* kAudienceKey = "MACP_AUTH_AUDIENCE";
inline constexpr const char* kJwksJsonKey = "MACP_AUTH_JWKS_JSON";
inline constexpr const char* kJwksUrlKey = "MACP_AUTH_JWKS_URL";
inline constexpr const char* kJwksTtlKey = "MACP_AUTH_JWKS_TTL_SECS";
inline constexpr const char* kAlgsKey = "MACP_AUTH_JWT_ALGS";
inline constexpr const char* kJwksCaPathKey = "MACP_AUTH_JWKS_CA_PATH";

inline constexpr const char* kDefaultAudience = "macp-runtime";
inline constexpr const char* kDefaultAlgs = "RS256,ES256";
inline constexpr std::int64_t kDefaultTtlSecs = 300;
inline constexpr std::int64_t kMaxTtlSecs = 7 * 24 * 3600;

struct Settings {
    std::string issuer;
    std::string audience;
    std::vector<Alg> algs;
    std::optional<std::string> jwks_json;  // wins over jwks_url (AUTH-JWT-1)
    std::optional<std::string> jwks_url;
    std::string jwks_ca_path;  // PEM CA bundle for an https:// JWKS; empty = the system's CA store
    std::chrono::seconds ttl{kDefaultTtlSecs};
    std::vector<std::string> warnings;  // e.g. both key sources given

    [[nodiscard]] bool allows(Alg alg) const;
};

// Throws macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT, "auth-jwt: ...") naming the key.
Settings parse_settings(const macp::sdk::Config& config);

// MACP_AUTH_JWT_ALGS: comma-separated, items trimmed and upper-cased; empty -> the default.
std::vector<Alg> parse_algs(const std::string& value);

// Checks an http:// or https:// URL with libcurl's URL parser (no network).
void check_jwks_url(const std::string& url);

}  // namespace macp::auth_jwt

#endif  // MACP_AUTH_JWT_SETTINGS_HPP
