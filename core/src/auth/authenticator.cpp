#include "auth/authenticator.hpp"

#include <spdlog/spdlog.h>

namespace macp::auth {

std::optional<std::string> bearer_or_token(const Metadata& metadata) {
    static constexpr std::string_view kPrefix = "Bearer ";
    for (const auto& [k, v] : metadata) {
        if (k == "authorization" && v.size() > kPrefix.size() && v.compare(0, kPrefix.size(), kPrefix) == 0) {
            return v.substr(kPrefix.size());
        }
    }
    for (const auto& [k, v] : metadata) {
        if (k == "x-macp-token" && !v.empty()) return v;
    }
    return std::nullopt;
}

Authenticator::Authenticator(std::vector<std::unique_ptr<Resolver>> resolvers, bool dev_mode)
    : resolvers_(std::move(resolvers)), dev_mode_(dev_mode) {
    for (const auto& r : resolvers_) needs_peer_identity_ = needs_peer_identity_ || r->needs_peer_identity();
}

std::vector<std::string> Authenticator::resolver_names() const {
    std::vector<std::string> out;
    for (const auto& r : resolvers_) out.push_back(r->name());
    if (out.empty() && dev_mode_) out.emplace_back("dev-mode");
    return out;
}

std::optional<Identity> Authenticator::authenticate(const Metadata& metadata) const {
    if (resolvers_.empty()) {
        if (!dev_mode_) return std::nullopt;
        // AUTH-DEV-1/2: the bearer value is the sender; no header, no access.
        auto token = bearer_or_token(metadata);
        if (!token || token->empty()) return std::nullopt;
        Identity id;
        id.sender = *token;
        id.can_manage_mode_registry = true;
        return id;
    }
    for (const auto& r : resolvers_) {
        auto res = r->resolve(metadata);
        switch (res.outcome) {
            case ResolveOutcome::Authenticated: return std::move(res.identity);
            case ResolveOutcome::NotMine: continue;
            case ResolveOutcome::Rejected:
                spdlog::warn("authentication rejected by {}: {}", r->name(), res.detail);
                return std::nullopt;  // AUTH-CHAIN-1: a rejection ends the chain
        }
    }
    return std::nullopt;
}

}  // namespace macp::auth
