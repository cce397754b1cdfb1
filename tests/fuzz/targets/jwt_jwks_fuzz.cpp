// Fuzz target (issue #15): auth-jwt's parsers, for bearer tokens any client sends and JWKS
// documents a key server sends. Input: byte 0 picks, the rest is the text.
//   even: a compact JWT, verified against an inline JWKS of one HS256 key (kid "k1") with the
//         plugin's settings (issuer, audience, algorithms RS256, ES256, HS256);
//   odd:  a JWKS document.
// Properties: verify_token either returns an identity or throws macp::sdk::Error with an AUTH_*
// status (never anything else); a token it accepts is refused under a different secret with the
// same kid (an accepted signature is a real one), and its sender is non-empty and at most 255
// bytes; parse_jwks either throws INVALID_ARGUMENT or returns at least one usable key, none of
// them from a document over its size or key-count limit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "keys.hpp"
#include "settings.hpp"
#include "verifier.hpp"

namespace {

namespace jwt = macp::auth_jwt;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "jwt_jwks_fuzz: %s\n", what.c_str());
    std::abort();
}

// 32 bytes, base64url: the minimum HS256 key size (kMinHmacKeyBytes).
std::string oct_jwks(const std::string& k) {
    return R"({"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":")" + k + R"("}]})";
}

struct Fixture {
    Fixture() {
        settings.issuer = "https://issuer.test";
        settings.audience = "macp-runtime";
        settings.algs = jwt::parse_algs("RS256,ES256,HS256");
        right = std::make_shared<const jwt::KeySet>(
            jwt::parse_jwks(oct_jwks("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAwMDE")));
        wrong = std::make_shared<const jwt::KeySet>(
            jwt::parse_jwks(oct_jwks("b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMDA")));
    }
    jwt::Settings settings;
    std::shared_ptr<const jwt::KeySet> right;
    std::shared_ptr<const jwt::KeySet> wrong;
};

bool auth_status(macp_status s) {
    return s == MACP_STATUS_AUTH_MALFORMED || s == MACP_STATUS_AUTH_INVALID_CREDENTIAL || s == MACP_STATUS_AUTH_EXPIRED;
}

void check_token(const Fixture& f, const std::string& token) {
    const double now = 1'800'000'000.0;  // fixed: the seeds' exp lies after it, nbf before
    macp::sdk::Identity id;
    try {
        id = jwt::verify_token(
            token, f.settings, [&](const std::optional<std::string>&) { return f.right; }, now);
    } catch (const macp::sdk::Error& e) {
        if (!auth_status(e.status())) finding(std::string("a token was refused with a non-AUTH status: ") + e.what());
        return;
    }
    if (id.sender.empty() || id.sender.size() > jwt::kMaxSenderBytes) finding("accepted with a bad sender");
    try {
        jwt::verify_token(
            token, f.settings, [&](const std::optional<std::string>&) { return f.wrong; }, now);
    } catch (const macp::sdk::Error&) {
        return;
    }
    finding("a token verified under two different secrets");
}

void check_jwks(const std::string& text) {
    jwt::KeySet set;
    try {
        set = jwt::parse_jwks(text);
    } catch (const macp::sdk::Error& e) {
        if (e.status() != MACP_STATUS_INVALID_ARGUMENT)
            finding(std::string("JWKS refused with another status: ") + e.what());
        return;
    }
    if (set.keys.empty()) finding("a JWKS without a usable key was accepted");
    if (text.size() > jwt::kMaxJwksBytes || set.keys.size() > jwt::kMaxJwksKeys)
        finding("a JWKS over its limits was accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Fixture fixture;
    if (size < 1) return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if ((data[0] & 1) == 0) {
        check_token(fixture, text);
    } else {
        check_jwks(text);
    }
    return 0;
}
