// The resolver chain (AUTH-CHAIN-1) plus the built-in dev-mode resolver (AUTH-DEV-*).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/identity.hpp"

namespace macp::auth {

class Authenticator {
public:
    // `dev_mode`: with no resolvers, any bearer value becomes a fully privileged identity.
    // main only enables it when MACP_ALLOW_INSECURE=1 (AUTH-DEV-5).
    Authenticator(std::vector<std::unique_ptr<Resolver>> resolvers, bool dev_mode);

    // nullopt = UNAUTHENTICATED. The reason is logged, never sent to the caller.
    [[nodiscard]] std::optional<Identity> authenticate(const Metadata& metadata) const;
    [[nodiscard]] bool dev_mode() const { return resolvers_.empty() && dev_mode_; }
    [[nodiscard]] std::vector<std::string> resolver_names() const;
    // Some resolver reads the peer certificate's identity (Resolver::needs_peer_identity).
    [[nodiscard]] bool needs_peer_identity() const { return needs_peer_identity_; }

private:
    std::vector<std::unique_ptr<Resolver>> resolvers_;
    bool dev_mode_;
    bool needs_peer_identity_ = false;
};

// The token of `authorization: Bearer <t>` (AUTH-HDR-1), else the raw `x-macp-token` (AUTH-HDR-2).
std::optional<std::string> bearer_or_token(const Metadata& metadata);

}  // namespace macp::auth
