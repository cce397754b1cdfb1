// auth-static: authenticates callers by opaque bearer tokens listed in a JSON table.
// Behaviour follows the reference runtime's static resolver (BEHAVIOR.md AUTH-HDR-*, AUTH-STATIC-*).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "macp/plugin/sdk/auth.hpp"
#include "token_config.hpp"
#include "token_table.hpp"

namespace macp::auth_static {
namespace {

std::vector<std::string> tokens_of(const std::vector<TokenEntry>& entries) {
    std::vector<std::string> tokens;
    tokens.reserve(entries.size());
    for (const auto& e : entries) tokens.push_back(e.token);
    return tokens;
}

std::vector<macp::sdk::Identity> identities_of(std::vector<TokenEntry>&& entries) {
    std::vector<macp::sdk::Identity> ids;
    ids.reserve(entries.size());
    for (auto& e : entries) ids.push_back(std::move(e.identity));
    return ids;
}

// Immutable after construction, so concurrent resolve() calls need no locking
// (the descriptor sets MACP_PLUGIN_FLAG_THREAD_SAFE).
class StaticTokenResolver {
public:
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::health | macp::sdk::op::check_config;

    // --check-config: parses the token table (inline or from its file) without keeping it.
    static void check_config(const macp::sdk::Config& config) { (void)load_token_config(config); }

    explicit StaticTokenResolver(const macp::sdk::Config& config) : StaticTokenResolver(load_token_config(config)) {}

    std::optional<macp::sdk::Identity> resolve(const macp::sdk::Metadata& md) const {
        // AUTH-HDR-1..3: `authorization: Bearer <t>` (exact prefix) first, else raw x-macp-token.
        // An authorization header with another scheme ("bearer x", "Basic x") is not usable and
        // falls through to x-macp-token. x-macp-agent-id is never looked at (AUTH-HDR-4).
        std::optional<std::string_view> token = md.bearer();
        if (!token) token = md.get("x-macp-token");
        if (!token) return std::nullopt;  // no credential: let the next resolver try

        // JWT-shaped: belongs to a JWT resolver elsewhere in the chain (AUTH-STATIC-4).
        if (token->find('.') != std::string_view::npos) return std::nullopt;

        const std::optional<std::size_t> row = table_.find(*token);
        if (!row) {
            // An opaque token we do not know is a wrong credential, not someone else's: stop the
            // chain. The token itself is never put in the message (it ends up in logs).
            throw macp::sdk::Error(MACP_STATUS_AUTH_INVALID_CREDENTIAL, "unknown static token");
        }
        return identities_[*row];
    }

    std::string health() const {
        const std::size_t n = identities_.size();
        return "static tokens: " + std::to_string(n) + (n == 1 ? " identity" : " identities");
    }

private:
    explicit StaticTokenResolver(std::vector<TokenEntry> entries)
        : table_(tokens_of(entries)), identities_(identities_of(std::move(entries))) {}

    // Declared (so initialised) before identities_, whose initialiser moves the entries away.
    TokenTable table_;  // row i authenticates identities_[i]
    std::vector<macp::sdk::Identity> identities_;
};

// Neither key is REQUIRED: either one is enough, and the constructor reports when both are missing.
constexpr macp_config_key kConfigKeys[] = {
    macp::sdk::config_key(kTokensJsonKey, nullptr,
                          "Inline JSON token table (array of identities or {\"tokens\":[...]}); "
                          "takes precedence over MACP_AUTH_TOKENS_FILE",
                          MACP_CONFIG_SECRET),
    macp::sdk::config_key(kTokensFileKey, nullptr,
                          "Path of a JSON token table file (used when MACP_AUTH_TOKENS_JSON is unset)",
                          MACP_CONFIG_PATH),
};

}  // namespace
}  // namespace macp::auth_static

MACP_AUTH_PLUGIN(macp::auth_static::StaticTokenResolver, "static", "1.0.0",
                 "Static bearer tokens from MACP_AUTH_TOKENS_JSON or MACP_AUTH_TOKENS_FILE",
                 MACP_PLUGIN_FLAG_THREAD_SAFE, macp::auth_static::kConfigKeys)
