#include "resolver.hpp"

#include <chrono>
#include <utility>

#include "verifier.hpp"

namespace macp::auth_jwt {

void JwtResolver::check_config(const macp::sdk::Config& config) {
    const Settings s = parse_settings(config);
    if (s.jwks_json) {
        try {
            (void)parse_jwks(*s.jwks_json);
        } catch (const macp::sdk::Error& e) {
            throw macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                                   std::string("auth-jwt: MACP_AUTH_JWKS_JSON: ") + e.what());
        }
    }
}

JwtResolver::JwtResolver(const macp::sdk::Config& config) : JwtResolver(config, nullptr, nullptr) {}

JwtResolver::JwtResolver(const macp::sdk::Config& config, JwksCache::Clock clock, JwksCache::Fetcher fetcher)
    : settings_(parse_settings(config)), logger_(config.logger()) {
    for (const auto& w : settings_.warnings) logger_.warn(w);
    std::string algs;
    for (Alg a : settings_.algs) algs += std::string(algs.empty() ? "" : ",") + alg_name(a);
    if (settings_.jwks_json) {
        try {
            inline_keys_ = std::make_shared<const KeySet>(parse_jwks(*settings_.jwks_json));
        } catch (const macp::sdk::Error& e) {
            throw macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                                   std::string("auth-jwt: MACP_AUTH_JWKS_JSON: ") + e.what());
        }
        for (const auto& line : inline_keys_->skipped) logger_.warn(line);
        logger_.info("JWT issuer " + settings_.issuer + ", audience " + settings_.audience + ", algorithms " + algs +
                     "; inline JWKS: " + inline_keys_->summary());
        return;
    }
    const std::string url = *settings_.jwks_url;
    if (!fetcher) {
        curl_ = std::make_unique<CurlGlobal>();
        fetcher = [url, ca = settings_.jwks_ca_path](std::chrono::milliseconds timeout) {
            return http_get(url, kConnectTimeout, timeout, kMaxJwksBytes, ca);
        };
    }
    JwksCache::Options options;
    options.source = url;
    options.ttl = settings_.ttl;
    options.clock = std::move(clock);
    options.logger = logger_;
    cache_ = std::make_unique<JwksCache>(std::move(options), std::move(fetcher));
    cache_->prime();  // start-up fails here, clearly, when the JWKS cannot be had
    logger_.info("JWT issuer " + settings_.issuer + ", audience " + settings_.audience + ", algorithms " + algs +
                 "; JWKS from " + url + " (cached " + std::to_string(settings_.ttl.count()) + " s)");
}

std::optional<macp::sdk::Identity> JwtResolver::resolve(const macp::sdk::Metadata& md,
                                                        const macp::sdk::CallContext& cc) {
    // AUTH-HDR-2: only `authorization: Bearer`, never x-macp-token. AUTH-JWT-2: only JWT-shaped tokens.
    const std::optional<std::string_view> token = md.bearer();
    if (!token || !is_jwt_shaped(*token)) return std::nullopt;
    const KeyLookup lookup = [&](const std::optional<std::string>& kid) -> std::shared_ptr<const KeySet> {
        if (inline_keys_) return inline_keys_;
        return cache_->keys(kid, cc.deadline_unix_ms());
    };
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return verify_token(*token, settings_, lookup, now);
}

std::string JwtResolver::health() {
    const std::string who = "JWT issuer " + settings_.issuer + ": ";
    if (inline_keys_) return who + "inline JWKS (MACP_AUTH_JWKS_JSON), " + inline_keys_->summary();
    const JwksCache::Status s = cache_->status();
    if (s.expired) {
        throw macp::sdk::Error(MACP_STATUS_UNAVAILABLE,
                               who + "no usable JWKS from " + *settings_.jwks_url +
                                   (s.last_error.empty() ? std::string() : ": " + s.last_error));
    }
    std::string note = who + "JWKS from " + *settings_.jwks_url + ", " + s.keys->summary() + ", fetched " +
                       std::to_string(s.age.count()) + " s ago (TTL " + std::to_string(settings_.ttl.count()) + " s)";
    if (s.stale) note += "; STALE: refresh failing (" + s.last_error + "), served within the grace window";
    return note;
}

}  // namespace macp::auth_jwt
