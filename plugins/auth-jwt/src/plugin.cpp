// auth-jwt: authenticates callers by JWT bearer tokens (RS256, ES256; HS256 on opt-in) verified
// against a JWKS given inline or fetched over http(s). BEHAVIOR.md AUTH-JWT-*; README.md here.
#include "macp/plugin/sdk/auth.hpp"
#include "resolver.hpp"
#include "settings.hpp"

namespace macp::auth_jwt {
namespace {

constexpr macp_config_key kConfigKeys[] = {
    macp::sdk::config_key(kIssuerKey, nullptr, "Expected \"iss\" of every JWT; enables the auth-jwt plugin",
                          MACP_CONFIG_REQUIRED),
    macp::sdk::config_key(kAudienceKey, kDefaultAudience, "Audience that the \"aud\" claim must contain"),
    macp::sdk::config_key(kJwksJsonKey, nullptr,
                          "Inline JWKS document {\"keys\":[...]} (wins over MACP_AUTH_JWKS_URL; may hold HMAC secrets)",
                          MACP_CONFIG_SECRET),
    macp::sdk::config_key(kJwksUrlKey, nullptr, "http:// or https:// URL of the JWKS document (fetched at start-up)"),
    macp::sdk::config_key(kJwksTtlKey, "300", "Seconds a fetched JWKS is used before it is refetched (1..604800)"),
    macp::sdk::config_key(kJwksCaPathKey, nullptr,
                          "PEM CA bundle trusted for an https:// JWKS URL (default: the system's CA store)",
                          MACP_CONFIG_PATH),
    macp::sdk::config_key(kAlgsKey, kDefaultAlgs,
                          "Accepted JWT algorithms, comma-separated: RS256, ES256, HS256 (HS256 only when listed)"),
};

}  // namespace
}  // namespace macp::auth_jwt

MACP_AUTH_PLUGIN(macp::auth_jwt::JwtResolver, "jwt", "1.0.0",
                 "JWT bearer tokens (RS256, ES256, opt-in HS256) verified against an inline or fetched JWKS",
                 MACP_PLUGIN_FLAG_THREAD_SAFE, macp::auth_jwt::kConfigKeys)
