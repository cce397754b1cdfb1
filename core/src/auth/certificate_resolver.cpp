#include "auth/certificate_resolver.hpp"

#include "auth/authenticator.hpp"

namespace macp::auth {

namespace {

// A sender is what the envelope's `sender` must then equal: printable, no spaces, bounded.
bool usable_sender(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    for (const unsigned char c : s) {
        if (c <= 0x20 || c == 0x7f) return false;
    }
    return true;
}

}  // namespace

Resolution CertificateResolver::resolve(const Metadata& metadata) {
    Resolution r;
    if (bearer_or_token(metadata)) return r;  // NotMine: the token decides (see the header)
    for (const auto& [key, value] : metadata) {
        if (key != kPeerCertificateIdentityKey) continue;
        if (!usable_sender(value)) {
            r.outcome = ResolveOutcome::Rejected;
            r.detail = "the client certificate's identity '" + value + "' is not a usable sender";
            return r;
        }
        r.outcome = ResolveOutcome::Authenticated;
        r.identity.sender = value;
        return r;
    }
    return r;  // NotMine: no verified certificate on this call
}

}  // namespace macp::auth
