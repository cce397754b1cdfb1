// The verified TLS client certificate as a credential of its own (issue #12, mTLS): with
// MACP_TLS_CLIENT_CA_PATH every connection presents a certificate signed by that CA, and with
// MACP_TLS_CLIENT_IDENTITY=1 a call that carries no bearer token is the certificate's identity.
//
// Chaining: this resolver is the LAST link. A call with a token is the token's (jwt, static,
// plugins); the certificate then only admitted the connection. A call without a token is the
// certificate's identity: its first subject alternative name, else its common name, as gRPC
// reports the verified peer. It gets the default capabilities (may start sessions; not
// observer, not registry manager; every mode; no open-session cap).
#pragma once

#include <string>
#include <string_view>

#include "auth/identity.hpp"

namespace macp::auth {

// The metadata key under which the service passes the verified peer identity into the chain.
// HTTP/2 reserves ':'-prefixed names for pseudo-headers, so no client can send this key itself.
inline constexpr std::string_view kPeerCertificateIdentityKey = ":tls-client-identity";

class CertificateResolver final : public Resolver {
public:
    [[nodiscard]] std::string name() const override { return "tls-client-certificate"; }
    Resolution resolve(const Metadata& metadata) override;
    [[nodiscard]] bool needs_peer_identity() const override { return true; }
};

}  // namespace macp::auth
