// CertificateResolver (issue #12): the verified client certificate answers only for calls without
// a token, and only with an identity that can be a sender.
#include <catch2/catch.hpp>

#include "auth/authenticator.hpp"
#include "auth/certificate_resolver.hpp"

using macp::auth::CertificateResolver;
using macp::auth::kPeerCertificateIdentityKey;
using macp::auth::Metadata;
using macp::auth::ResolveOutcome;

namespace {

Metadata with_peer(const std::string& identity, Metadata md = {}) {
    md.emplace_back(std::string(kPeerCertificateIdentityKey), identity);
    return md;
}

}  // namespace

TEST_CASE("a token-less call with a verified certificate is the certificate's identity", "[auth][mtls]") {
    CertificateResolver r;
    const auto res = r.resolve(with_peer("alice.agents.example", {{"user-agent", "grpc-c++"}}));
    REQUIRE(res.outcome == ResolveOutcome::Authenticated);
    CHECK(res.identity.sender == "alice.agents.example");
    CHECK(res.identity.can_start_sessions);
    CHECK_FALSE(res.identity.can_manage_mode_registry);
    CHECK_FALSE(res.identity.is_observer);
    CHECK_FALSE(res.identity.allowed_modes.has_value());
}

TEST_CASE("a call with a token is not the certificate's, whatever the token", "[auth][mtls]") {
    CertificateResolver r;
    CHECK(r.resolve(with_peer("alice", {{"authorization", "Bearer anything"}})).outcome == ResolveOutcome::NotMine);
    CHECK(r.resolve(with_peer("alice", {{"x-macp-token", "t"}})).outcome == ResolveOutcome::NotMine);
}

TEST_CASE("no verified certificate: not mine", "[auth][mtls]") {
    CertificateResolver r;
    CHECK(r.resolve({}).outcome == ResolveOutcome::NotMine);
    CHECK(r.resolve({{"tls-client-identity", "spoofed by a header without the colon"}}).outcome ==
          ResolveOutcome::NotMine);
}

TEST_CASE("an identity that cannot be a sender is refused", "[auth][mtls]") {
    CertificateResolver r;
    for (const std::string& bad : {std::string(), std::string("has space"), std::string("tab\there"),
                                   std::string(256, 'a'), std::string("nul\0x", 5)}) {
        INFO("identity of " << bad.size() << " bytes");
        CHECK(r.resolve(with_peer(bad)).outcome == ResolveOutcome::Rejected);
    }
    CHECK(r.resolve(with_peer(std::string(255, 'a'))).outcome == ResolveOutcome::Authenticated);
}
