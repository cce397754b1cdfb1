// The auth-jwt resolver class (the SDK turns it into the C vtable in plugin.cpp).
#ifndef MACP_AUTH_JWT_RESOLVER_HPP
#define MACP_AUTH_JWT_RESOLVER_HPP

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "http_fetch.hpp"
#include "jwks_cache.hpp"
#include "keys.hpp"
#include "macp/plugin/sdk/auth.hpp"
#include "settings.hpp"

namespace macp::auth_jwt {

// Thread-safe: settings and an inline key set are immutable after construction; the URL key set
// lives in JwksCache, which synchronises itself. Hence MACP_PLUGIN_FLAG_THREAD_SAFE.
class JwtResolver {
public:
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::health | macp::sdk::op::check_config;

    // --check-config: every key is validated and an inline JWKS parsed; no network.
    static void check_config(const macp::sdk::Config& config);

    explicit JwtResolver(const macp::sdk::Config& config);
    // For tests: the URL source with a given cache clock / fetcher (empty: the real ones).
    JwtResolver(const macp::sdk::Config& config, JwksCache::Clock clock, JwksCache::Fetcher fetcher);

    std::optional<macp::sdk::Identity> resolve(const macp::sdk::Metadata& md, const macp::sdk::CallContext& cc);
    std::string health();

    [[nodiscard]] const Settings& settings() const { return settings_; }
    [[nodiscard]] JwksCache* cache() { return cache_.get(); }

private:
    Settings settings_;
    macp::sdk::Logger logger_;
    std::shared_ptr<const KeySet> inline_keys_;
    std::unique_ptr<CurlGlobal> curl_;  // only with a URL; declared before the cache that uses it
    std::unique_ptr<JwksCache> cache_;
};

}  // namespace macp::auth_jwt

#endif  // MACP_AUTH_JWT_RESOLVER_HPP
