// auth-jwt: the verifier, the JWKS sources and the attack catalogue of issue #12, each with its
// exact status (BEHAVIOR.md AUTH-JWT-*; README.md of the plugin). Keys are made at test time.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http_server.hpp"
#include "jwt_forge.hpp"
#include "macp/plugin/sdk/auth.hpp"
#include "resolver.hpp"

using macp::auth_jwt::JwksCache;
using macp::auth_jwt::JwtResolver;
using macp::sdk::Identity;
namespace forge = macp::jwt_forge;

namespace {

constexpr const char* kIssuer = "https://issuer.test";

// Captures what the plugin logs through the host logger.
struct LogCapture {
    std::mutex mu;
    std::vector<std::string> lines;
    macp_host_logger logger{sizeof(macp_host_logger), this, &LogCapture::log};
    static void log(void* ctx, int32_t level, const char* message, size_t len) {
        auto* self = static_cast<LogCapture*>(ctx);
        const std::lock_guard<std::mutex> lock(self->mu);
        self->lines.push_back(std::to_string(level) + " " + std::string(message, len));
    }
    bool contains(const std::string& text) {
        const std::lock_guard<std::mutex> lock(mu);
        for (const auto& l : lines) {
            if (l.find(text) != std::string::npos) return true;
        }
        return false;
    }
};

// A Config as the host builds it (with a logger when given).
macp::sdk::Config config(const std::map<std::string, std::string>& values, LogCapture* log = nullptr) {
    std::vector<macp_config_pair> pairs;
    pairs.reserve(values.size());
    for (const auto& [k, v] : values) pairs.push_back({sizeof(macp_config_pair), k.c_str(), v.c_str()});
    std::vector<const macp_config_pair*> ptrs;
    for (const auto& p : pairs) ptrs.push_back(&p);
    return macp::sdk::Config(ptrs.data(), ptrs.size(), log != nullptr ? &log->logger : nullptr);
}

struct Outcome {
    macp_status status = MACP_STATUS_INTERNAL;
    std::optional<Identity> id;
    std::string message;
};

// One resolve call with the given metadata, as the SDK trampoline makes it.
Outcome resolve_md(JwtResolver& r, const std::vector<std::pair<std::string, std::string>>& md,
                   int64_t deadline_unix_ms = 0) {
    std::vector<macp_metadata_entry> entries;
    for (const auto& [k, v] : md)
        entries.push_back({sizeof(macp_metadata_entry), k.data(), k.size(), v.data(), v.size()});
    std::vector<const macp_metadata_entry*> ptrs;
    for (const auto& e : entries) ptrs.push_back(&e);
    macp_error_sink sink{sizeof(macp_error_sink), nullptr, [](void*, const char*, size_t) {}};
    macp_call_context c{sizeof(macp_call_context), &sink, deadline_unix_ms, 0, nullptr};
    const macp::sdk::CallContext cc(&c);
    Outcome out;
    try {
        out.id = r.resolve(macp::sdk::Metadata(ptrs.data(), ptrs.size()), cc);
        out.status = out.id ? MACP_STATUS_OK : MACP_STATUS_AUTH_NOT_MINE;
    } catch (const macp::sdk::Error& e) {
        out.status = e.status();
        out.message = e.what();
    }
    return out;
}

Outcome resolve(JwtResolver& r, const std::string& token, int64_t deadline_unix_ms = 0) {
    return resolve_md(r, {{"authorization", "Bearer " + token}}, deadline_unix_ms);
}

#define CHECK_STATUS(outcome, expected)  \
    do {                                 \
        const Outcome o_ = (outcome);    \
        INFO("message: " << o_.message); \
        CHECK(o_.status == (expected));  \
    } while (false)

// Keys shared by the test cases (generating RSA keys is the slow part).
struct Keys {
    forge::Pkey rsa = forge::rsa_key();
    forge::Pkey rsa2 = forge::rsa_key();
    forge::Pkey ec = forge::ec_key();
    std::string secret = forge::random_bytes(32);
    static Keys& get() {
        static Keys keys;
        return keys;
    }
};

std::string standard_jwks() {
    auto& k = Keys::get();
    return forge::jwks(
        {forge::rsa_jwk(k.rsa.get(), "rsa-1"), forge::ec_jwk(k.ec.get(), "ec-1"), forge::oct_jwk(k.secret, "oct-1")});
}

std::map<std::string, std::string> inline_config(const std::string& jwks, const std::string& algs = "") {
    std::map<std::string, std::string> c{{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_JSON", jwks}};
    if (!algs.empty()) c["MACP_AUTH_JWT_ALGS"] = algs;
    return c;
}

std::string exp_in(int64_t secs) {
    return std::to_string(forge::now_secs() + secs);
}

// A token with the given header and claims texts, signed RS256 with the standard key.
std::string rs_token(const std::string& header, const std::string& claims) {
    const std::string input = forge::signing_input(header, claims);
    return input + "." + forge::b64url(forge::evp_sign(Keys::get().rsa.get(), input));
}

const std::string kRsHeader = R"({"alg":"RS256","kid":"rsa-1"})";

std::string claims_with(const std::string& body) {
    return "{\"iss\":\"" + std::string(kIssuer) + "\",\"aud\":\"macp-runtime\",\"exp\":" + exp_in(3600) + body + "}";
}

}  // namespace

TEST_CASE("valid RS256 and ES256 tokens: sub becomes the sender, macp_scopes the capabilities", "[jwt]") {
    auto& k = Keys::get();
    JwtResolver r(config(inline_config(standard_jwks())));
    auto rs = resolve(r, forge::rs256(k.rsa.get(), forge::claims("agent://alice"), "rsa-1"));
    REQUIRE(rs.status == MACP_STATUS_OK);
    CHECK(rs.id->sender == "agent://alice");
    CHECK(rs.id->can_start_sessions);
    CHECK_FALSE(rs.id->can_manage_mode_registry);
    CHECK_FALSE(rs.id->is_observer);
    CHECK_FALSE(rs.id->allowed_modes);
    CHECK_FALSE(rs.id->max_open_sessions);

    const std::string scopes =
        R"(,"macp_scopes":{"allowed_modes":["macp.mode.decision.v1"],"can_start_sessions":false,)"
        R"("max_open_sessions":3,"can_manage_mode_registry":true,"is_observer":true,"unknown":1})";
    auto es =
        resolve(r, forge::es256(k.ec.get(), forge::claims("agent://bob", kIssuer, "\"macp-runtime\"", scopes), "ec-1"));
    REQUIRE(es.status == MACP_STATUS_OK);
    CHECK(es.id->sender == "agent://bob");
    CHECK_FALSE(es.id->can_start_sessions);
    CHECK(es.id->can_manage_mode_registry);
    CHECK(es.id->is_observer);
    REQUIRE(es.id->allowed_modes);
    CHECK(*es.id->allowed_modes == std::vector<std::string>{"macp.mode.decision.v1"});
    CHECK(es.id->max_open_sessions == 3);

    // AUTH-JWT-5: allowed_modes present but empty restricts to nothing; null means absent.
    auto empty =
        resolve(r, forge::rs256(k.rsa.get(),
                                forge::claims("agent://c", kIssuer, "\"macp-runtime\"",
                                              R"(,"macp_scopes":{"allowed_modes":[],"max_open_sessions":null})"),
                                "rsa-1"));
    REQUIRE(empty.status == MACP_STATUS_OK);
    REQUIRE(empty.id->allowed_modes);
    CHECK(empty.id->allowed_modes->empty());
    CHECK_FALSE(empty.id->max_open_sessions);

    // aud as an array containing the audience; a non-default audience.
    CHECK_STATUS(resolve(r, forge::rs256(k.rsa.get(),
                                         forge::claims("agent://d", kIssuer, R"(["other","macp-runtime"])"), "rsa-1")),
                 MACP_STATUS_OK);
    auto cfg = inline_config(standard_jwks());
    cfg["MACP_AUTH_AUDIENCE"] = "control-plane";
    JwtResolver custom(config(cfg));
    CHECK_STATUS(
        resolve(custom, forge::rs256(k.rsa.get(), forge::claims("agent://d", kIssuer, "\"control-plane\""), "rsa-1")),
        MACP_STATUS_OK);
    CHECK_STATUS(resolve(custom, forge::rs256(k.rsa.get(), forge::claims("agent://d"), "rsa-1")),
                 MACP_STATUS_AUTH_INVALID_CREDENTIAL);
}

TEST_CASE("kid: selects the key; one key and no kid works; unknown kid is rejected", "[jwt]") {
    auto& k = Keys::get();
    {
        JwtResolver single(config(inline_config(forge::jwks({forge::rsa_jwk(k.rsa.get())}))));
        CHECK_STATUS(resolve(single, forge::rs256(k.rsa.get(), forge::claims("agent://a"))), MACP_STATUS_OK);
        // A key without kid serves a token that names one.
        CHECK_STATUS(resolve(single, forge::rs256(k.rsa.get(), forge::claims("agent://a"), "whatever")),
                     MACP_STATUS_OK);
    }
    JwtResolver two(
        config(inline_config(forge::jwks({forge::rsa_jwk(k.rsa.get(), "a"), forge::rsa_jwk(k.rsa2.get(), "b")}))));
    CHECK_STATUS(resolve(two, forge::rs256(k.rsa2.get(), forge::claims("agent://a"), "b")), MACP_STATUS_OK);
    CHECK_STATUS(resolve(two, forge::rs256(k.rsa2.get(), forge::claims("agent://a"))), MACP_STATUS_OK);  // tries all
    // kid "a" names the other key: only that one is tried.
    CHECK_STATUS(resolve(two, forge::rs256(k.rsa2.get(), forge::claims("agent://a"), "a")),
                 MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    auto unknown = resolve(two, forge::rs256(k.rsa.get(), forge::claims("agent://a"), "c"));
    CHECK(unknown.status == MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    CHECK(unknown.message.find("kid") != std::string::npos);
}

TEST_CASE("routing: JWT-shaped bearer tokens only; everything else is not mine", "[jwt]") {
    auto& k = Keys::get();
    JwtResolver r(config(inline_config(standard_jwks())));
    const std::string good = forge::rs256(k.rsa.get(), forge::claims("agent://a"), "rsa-1");
    CHECK_STATUS(resolve(r, "opaque-static-token"), MACP_STATUS_AUTH_NOT_MINE);
    CHECK_STATUS(resolve(r, "a.b"), MACP_STATUS_AUTH_NOT_MINE);
    CHECK_STATUS(resolve(r, "a.b.c.d.e"), MACP_STATUS_AUTH_NOT_MINE);  // JWE: not supported, not ours
    CHECK_STATUS(resolve_md(r, {}), MACP_STATUS_AUTH_NOT_MINE);
    // AUTH-HDR-2: the JWT resolver reads only `authorization: Bearer`.
    CHECK_STATUS(resolve_md(r, {{"x-macp-token", good}}), MACP_STATUS_AUTH_NOT_MINE);
    CHECK_STATUS(resolve_md(r, {{"authorization", "bearer " + good}}), MACP_STATUS_AUTH_NOT_MINE);
    CHECK_STATUS(resolve_md(r, {{"authorization", "Bearer " + good}}), MACP_STATUS_OK);
    // A JWT-shaped token that fails is rejected, never passed on.
    CHECK_STATUS(resolve(r, "aaa.bbb.ccc"), MACP_STATUS_AUTH_MALFORMED);
}

TEST_CASE("attack catalogue: algorithms (none, key confusion, HS256 opt-in, crit)", "[jwt][attack]") {
    auto& k = Keys::get();
    JwtResolver r(config(inline_config(standard_jwks())));
    const std::string claims = forge::claims("agent://mallory");
    SECTION("alg none, in any spelling, with or without a signature") {
        for (const char* alg : {"none", "None", "NONE"}) {
            const std::string input = forge::signing_input(std::string("{\"alg\":\"") + alg + "\"}", claims);
            CHECK_STATUS(resolve(r, input + "."), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
            CHECK_STATUS(resolve(r, input + "." + forge::b64url("x")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        }
        JwtResolver all(config(inline_config(standard_jwks(), "RS256,ES256,HS256")));
        CHECK_STATUS(resolve(all, forge::signing_input(R"({"alg":"none"})", claims) + "."),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("unknown or missing alg") {
        CHECK_STATUS(resolve(r, forge::signing_input(R"({"alg":"RS512"})", claims) + ".c2ln"),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, forge::signing_input(R"({"typ":"JWT"})", claims) + ".c2ln"),
                     MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, forge::signing_input(R"({"alg":256})", claims) + ".c2ln"), MACP_STATUS_AUTH_MALFORMED);
    }
    SECTION("key confusion: an RS256 public key used as an HS256 secret") {
        // Even with HS256 allowed and the RSA key in the set, an RSA key is never an HMAC secret.
        JwtResolver hs(config(inline_config(forge::jwks({forge::rsa_jwk(k.rsa.get(), "rsa-1")}), "RS256,HS256")));
        const std::string pem = forge::public_pem(k.rsa.get());
        const std::string n = forge::bn_bytes(forge::bn_param(k.rsa.get(), OSSL_PKEY_PARAM_RSA_N).get());
        for (const std::string& secret : {pem, n, forge::b64url(n)}) {
            CHECK_STATUS(resolve(hs, forge::hs256(secret, claims, "rsa-1")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
            CHECK_STATUS(resolve(hs, forge::hs256(secret, claims)), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        }
        // ... and an EC key as an RSA one, an oct key as an RSA one.
        CHECK_STATUS(resolve(r, rs_token(R"({"alg":"RS256","kid":"ec-1"})", claims)),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, forge::es256(k.ec.get(), claims, "rsa-1")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("HS256 only when opted in (AUTH-JWT-10)") {
        const std::string token = forge::hs256(k.secret, claims, "oct-1");
        auto refused = resolve(r, token);
        CHECK(refused.status == MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK(refused.message.find("allowlist") != std::string::npos);
        JwtResolver hs_only(config(inline_config(standard_jwks(), " hs256 ")));
        CHECK_STATUS(resolve(hs_only, token), MACP_STATUS_OK);
        // HS256 alone disables RS256 and ES256.
        CHECK_STATUS(resolve(hs_only, forge::rs256(k.rsa.get(), claims, "rsa-1")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(hs_only, forge::es256(k.ec.get(), claims, "ec-1")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // A wrong secret.
        CHECK_STATUS(resolve(hs_only, forge::hs256(forge::random_bytes(32), claims, "oct-1")),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("crit extensions are refused; jku/x5u are never followed") {
        CHECK_STATUS(resolve(r, rs_token(R"({"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1})", claims)),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // A token carrying its own key (jwk/jku) signed by that key: the key is ignored.
        auto attacker = forge::rsa_key();
        const std::string header =
            "{\"alg\":\"RS256\",\"jku\":\"http://127.0.0.1:1/evil\",\"jwk\":" + forge::rsa_jwk(attacker.get()) + "}";
        const std::string input = forge::signing_input(header, claims);
        CHECK_STATUS(resolve(r, input + "." + forge::b64url(forge::evp_sign(attacker.get(), input))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
}

TEST_CASE("attack catalogue: signatures (ES256 DER vs raw, stripped, truncated, tampered)", "[jwt][attack]") {
    auto& k = Keys::get();
    JwtResolver r(config(inline_config(standard_jwks())));
    const std::string claims = forge::claims("agent://mallory");
    SECTION("ES256: raw R||S verifies, DER is refused, and so is anything but 64 bytes") {
        CHECK_STATUS(resolve(r, forge::es256(k.ec.get(), claims, "ec-1", false)), MACP_STATUS_OK);
        CHECK_STATUS(resolve(r, forge::es256(k.ec.get(), claims, "ec-1", true)), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        const std::string input = forge::signing_input(R"({"alg":"ES256","kid":"ec-1"})", claims);
        const std::string raw = forge::der_to_raw(forge::evp_sign(k.ec.get(), input));
        CHECK_STATUS(resolve(r, input + "." + forge::b64url(raw)), MACP_STATUS_OK);
        CHECK_STATUS(resolve(r, input + "." + forge::b64url(raw.substr(0, 63))), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, input + "." + forge::b64url(raw + "\x01")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, input + "." + forge::b64url(raw.substr(32) + raw.substr(0, 32))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, input + "." + forge::b64url(std::string(64, '\0'))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // The raw signature presented as an RS256 one (vice versa) is not a signature either.
        const std::string rs_input = forge::signing_input(kRsHeader, claims);
        CHECK_STATUS(
            resolve(r, rs_input + "." + forge::b64url(forge::der_to_raw(forge::evp_sign(k.ec.get(), rs_input)))),
            MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("stripped, truncated and tampered signatures") {
        const std::string token = forge::rs256(k.rsa.get(), claims, "rsa-1");
        const std::string unsigned_part = token.substr(0, token.rfind('.') + 1);
        CHECK_STATUS(resolve(r, unsigned_part), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // Truncated to fewer signature bytes (canonical base64url): a wrong signature.
        const std::string sig = forge::evp_sign(k.rsa.get(), token.substr(0, token.rfind('.')));
        CHECK_STATUS(resolve(r, unsigned_part + forge::b64url(sig.substr(0, sig.size() - 3))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token.substr(0, unsigned_part.size() + 12)), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // Truncated text that is no longer base64url (length 4n+1): malformed.
        const std::size_t cut = unsigned_part.size() + (token.size() - unsigned_part.size()) / 4 * 4 - 3;
        CHECK_STATUS(resolve(r, token.substr(0, cut)), MACP_STATUS_AUTH_MALFORMED);
        std::string flipped = token;
        flipped[flipped.size() - 10] = flipped[flipped.size() - 10] == 'A' ? 'B' : 'A';
        CHECK_STATUS(resolve(r, flipped), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // Claims changed after signing.
        const std::string forged = forge::b64url(R"({"alg":"RS256","kid":"rsa-1"})") + "." +
                                   forge::b64url(forge::claims("agent://admin")) + token.substr(token.rfind('.'));
        CHECK_STATUS(resolve(r, forged), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // A signature by a key that is not in the set.
        auto other = forge::rsa_key();
        CHECK_STATUS(resolve(r, forge::rs256(other.get(), claims, "rsa-1")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
}

TEST_CASE("attack catalogue: claims (exp, nbf, iss, aud, sub, macp_scopes)", "[jwt][attack]") {
    JwtResolver r(config(inline_config(standard_jwks())));
    const auto token = [](const std::string& claims) { return rs_token(kRsHeader, claims); };
    const std::string base = "\"iss\":\"" + std::string(kIssuer) + "\",\"aud\":\"macp-runtime\",\"sub\":\"agent://a\"";
    SECTION("exp: required, 60 s leeway") {
        CHECK_STATUS(resolve(r, token("{" + base + ",\"exp\":" + exp_in(-120) + "}")), MACP_STATUS_AUTH_EXPIRED);
        CHECK_STATUS(resolve(r, token("{" + base + ",\"exp\":" + exp_in(-30) + "}")), MACP_STATUS_OK);
        CHECK_STATUS(resolve(r, token("{" + base + "}")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + base + ",\"exp\":\"tomorrow\"}")), MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, token("{" + base + ",\"exp\":" + exp_in(3600) + ".5}")), MACP_STATUS_OK);
    }
    SECTION("nbf: checked when present, with the same leeway") {
        const std::string exp = ",\"exp\":" + exp_in(7200);
        CHECK_STATUS(resolve(r, token("{" + base + exp + ",\"nbf\":" + exp_in(3600) + "}")),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + base + exp + ",\"nbf\":" + exp_in(30) + "}")), MACP_STATUS_OK);
        CHECK_STATUS(resolve(r, token("{" + base + exp + ",\"nbf\":" + exp_in(-30) + "}")), MACP_STATUS_OK);
        CHECK_STATUS(resolve(r, token("{" + base + exp + ",\"nbf\":null}")), MACP_STATUS_AUTH_MALFORMED);
    }
    SECTION("iss: required and equal") {
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", "https://evil.test"))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", "https://issuer.test/"))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token(R"({"aud":"macp-runtime","sub":"agent://a","exp":)" + exp_in(60) + "}")),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token(R"({"iss":1,"aud":"macp-runtime","sub":"agent://a","exp":)" + exp_in(60) + "}")),
                     MACP_STATUS_AUTH_MALFORMED);
    }
    SECTION("aud: string or array, must contain the audience") {
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", kIssuer, "\"other\""))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", kIssuer, R"(["other","x"])"))),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", kIssuer, "[]"))), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", kIssuer, R"(["macp-runtime"])"))), MACP_STATUS_OK);
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", kIssuer, "7"))), MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, token(forge::claims("agent://a", kIssuer, R"(["macp-runtime",7])"))),
                     MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, token("{\"iss\":\"" + std::string(kIssuer) +
                                      "\",\"sub\":\"agent://a\",\"exp\":" + exp_in(60) + "}")),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("sub: a valid sender") {
        const std::string rest =
            "\"iss\":\"" + std::string(kIssuer) + "\",\"aud\":\"macp-runtime\",\"exp\":" + exp_in(60);
        CHECK_STATUS(resolve(r, token("{" + rest + "}")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":\"\"}")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":\"agent://a\\nforged log line\"}")),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":\"a\\u0000b\"}")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":\"" + std::string(256, 'x') + "\"}")),
                     MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":\"agent a\"}")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":\"" + std::string(255, 'x') + "\"}")), MACP_STATUS_OK);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":42}")), MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":[\"agent://a\"]}")), MACP_STATUS_AUTH_MALFORMED);
        // Invalid UTF-8 in a claim: not JSON text.
        CHECK_STATUS(resolve(r, token("{" + rest + ",\"sub\":\"agent\xff\"}")), MACP_STATUS_AUTH_MALFORMED);
        auto unicode = resolve(r, token("{" + rest + ",\"sub\":\"agent://\xc3\xa9l\xc3\xa8ve\"}"));
        REQUIRE(unicode.status == MACP_STATUS_OK);
        CHECK(unicode.id->sender == "agent://\xc3\xa9l\xc3\xa8ve");
    }
    SECTION("macp_scopes of the wrong types") {
        for (const char* scopes :
             {R"("macp_scopes":"admin")", R"("macp_scopes":[])",
              R"("macp_scopes":{"allowed_modes":"macp.mode.decision.v1"})", R"("macp_scopes":{"allowed_modes":[1]})",
              R"("macp_scopes":{"can_start_sessions":"yes"})", R"("macp_scopes":{"can_start_sessions":1})",
              R"("macp_scopes":{"is_observer":"true"})", R"("macp_scopes":{"can_manage_mode_registry":0})",
              R"("macp_scopes":{"max_open_sessions":-1})", R"("macp_scopes":{"max_open_sessions":1.5})",
              R"("macp_scopes":{"max_open_sessions":"3"})",
              R"("macp_scopes":{"max_open_sessions":18446744073709551615})"}) {
            INFO(scopes);
            CHECK_STATUS(resolve(r, token(claims_with(std::string(",") + scopes))), MACP_STATUS_AUTH_MALFORMED);
        }
        CHECK_STATUS(resolve(r, token(claims_with(",\"sub\":\"agent://a\",\"macp_scopes\":null"))), MACP_STATUS_OK);
    }
    SECTION("duplicate claims are refused") {
        CHECK_STATUS(resolve(r, token(claims_with(R"(,"sub":"agent://a","sub":"agent://admin")"))),
                     MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(
            resolve(r,
                    token(claims_with(R"(,"sub":"agent://a","macp_scopes":{"is_observer":false,"is_observer":true})"))),
            MACP_STATUS_AUTH_MALFORMED);
    }
}

TEST_CASE("attack catalogue: malformed segments, huge token, deep nesting", "[jwt][attack]") {
    JwtResolver r(config(inline_config(standard_jwks())));
    const std::string good = rs_token(kRsHeader, forge::claims("agent://a"));
    const auto d1 = good.find('.');
    const auto d2 = good.find('.', d1 + 1);
    const std::string h = good.substr(0, d1);
    const std::string p = good.substr(d1 + 1, d2 - d1 - 1);
    const std::string s = good.substr(d2 + 1);
    SECTION("base64url: bad characters, padding, impossible length, in each segment") {
        for (const std::string& bad : {std::string("e*J"), std::string("eyJ="), std::string("a+b/"),
                                       std::string("abcde"), std::string("ab cd")}) {
            INFO(bad);
            CHECK_STATUS(resolve(r, bad + "." + p + "." + s), MACP_STATUS_AUTH_MALFORMED);
            CHECK_STATUS(resolve(r, h + "." + bad + "." + s), MACP_STATUS_AUTH_MALFORMED);
            CHECK_STATUS(resolve(r, h + "." + p + "." + bad), MACP_STATUS_AUTH_MALFORMED);
        }
        CHECK_STATUS(resolve(r, h + "." + p + "." + s + "="), MACP_STATUS_AUTH_MALFORMED);
        // Non-canonical: the unused low bits of the last character are not zero.
        CHECK_STATUS(resolve(r, h + "." + p + "." + forge::b64url("ab").substr(0, 2) + "B"),
                     MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, "." + p + "." + s), MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, h + ".." + s), MACP_STATUS_AUTH_MALFORMED);
    }
    SECTION("JSON: not JSON, not an object, trailing garbage, in header and claims (signed)") {
        for (const std::string& bad :
             {std::string("{not json"), std::string("[1,2]"), std::string("\"str\""),
              std::string("{\"alg\":\"RS256\"} x"), std::string(""), std::string("{\"a\":1,}")}) {
            INFO(bad);
            CHECK_STATUS(resolve(r, forge::b64url(bad) + "." + p + "." + s), MACP_STATUS_AUTH_MALFORMED);
            if (!bad.empty()) CHECK_STATUS(resolve(r, rs_token(kRsHeader, bad)), MACP_STATUS_AUTH_MALFORMED);
        }
        // A JSON text as the signature is just a wrong signature.
        CHECK_STATUS(resolve(r, h + "." + p + "." + forge::b64url("{\"sig\":1}")), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        // Claims that are not JSON but carry a bad signature: the signature is checked first.
        CHECK_STATUS(resolve(r, h + "." + forge::b64url("{not json") + "." + s), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("a token over 16 KiB") {
        const std::string padding(20 * 1024, 'x');
        const std::string huge = rs_token(kRsHeader, claims_with(",\"sub\":\"agent://a\",\"pad\":\"" + padding + "\""));
        auto o = resolve(r, huge);
        CHECK(o.status == MACP_STATUS_AUTH_MALFORMED);
        CHECK(o.message.find("16384") != std::string::npos);
        CHECK_STATUS(resolve(r, std::string(1 << 20, 'a') + ".b.c"), MACP_STATUS_AUTH_MALFORMED);
    }
    SECTION("deeply nested claims and header") {
        const std::string deep = std::string(1000, '[') + std::string(1000, ']');
        CHECK_STATUS(resolve(r, rs_token(kRsHeader, claims_with(",\"sub\":\"agent://a\",\"x\":" + deep))),
                     MACP_STATUS_AUTH_MALFORMED);
        CHECK_STATUS(resolve(r, forge::b64url("{\"alg\":\"RS256\",\"x\":" + deep + "}") + "." + p + "." + s),
                     MACP_STATUS_AUTH_MALFORMED);
        // Within the limit (16 levels) is fine.
        const std::string ok_depth = std::string(10, '[') + std::string(10, ']');
        CHECK_STATUS(resolve(r, rs_token(kRsHeader, claims_with(",\"sub\":\"agent://a\",\"x\":" + ok_depth))),
                     MACP_STATUS_OK);
    }
}

TEST_CASE("attack catalogue: 3000 random mutations of valid tokens never crash and never authenticate",
          "[jwt][attack]") {
    auto& k = Keys::get();
    JwtResolver r(config(inline_config(standard_jwks(), "RS256,ES256,HS256")));
    const std::vector<std::string> originals = {
        forge::rs256(k.rsa.get(), forge::claims("agent://a"), "rsa-1"),
        forge::es256(k.ec.get(), forge::claims("agent://a"), "ec-1"),
        forge::hs256(k.secret, forge::claims("agent://a"), "oct-1"),
    };
    for (const auto& t : originals) REQUIRE(resolve(r, t).status == MACP_STATUS_OK);
    uint64_t state = 0x9E3779B97F4A7C15ull;  // xorshift: reproducible
    const auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}";
    int not_ok = 0;
    for (int i = 0; i < 3000; ++i) {
        std::string t = originals[static_cast<std::size_t>(i) % originals.size()];
        const std::size_t pos = next() % t.size();
        switch (next() % 4) {
            case 0: t[pos] = alphabet[next() % alphabet.size()]; break;
            case 1: t.erase(pos, 1 + next() % 8); break;
            case 2: t.insert(pos, 1, alphabet[next() % alphabet.size()]); break;
            default: t = t.substr(0, pos); break;
        }
        if (t == originals[static_cast<std::size_t>(i) % originals.size()]) continue;
        const Outcome o = resolve(r, t);
        INFO(t);
        CHECK(o.status != MACP_STATUS_OK);
        CHECK(o.status != MACP_STATUS_INTERNAL);
        not_ok += o.status != MACP_STATUS_OK ? 1 : 0;
    }
    CHECK(not_ok > 2900);
}

TEST_CASE("configuration: keys, algorithms, TTL, key sources, check_config without network", "[jwt][config]") {
    using Catch::Matchers::Contains;
    const auto fails = [](const std::map<std::string, std::string>& c, const std::string& text) {
        INFO(text);
        try {
            JwtResolver::check_config(config(c));
            FAIL("check_config accepted it");
        } catch (const macp::sdk::Error& e) {
            CHECK(e.status() == MACP_STATUS_INVALID_ARGUMENT);
            CHECK_THAT(e.what(), Contains(text));
        }
    };
    const std::string jwks = standard_jwks();
    JwtResolver::check_config(config(inline_config(jwks)));
    fails({{"MACP_AUTH_JWKS_JSON", jwks}}, "MACP_AUTH_ISSUER");
    fails({{"MACP_AUTH_ISSUER", kIssuer}}, "MACP_AUTH_JWKS_URL");
    fails(inline_config(jwks, "RS256,none"), "'NONE'");
    fails(inline_config(jwks, "RS384"), "MACP_AUTH_JWT_ALGS");
    auto with = [&](const char* key, const char* value) {
        auto c = inline_config(jwks);
        c[key] = value;
        return c;
    };
    fails(with("MACP_AUTH_JWKS_TTL_SECS", "0"), "MACP_AUTH_JWKS_TTL_SECS");
    fails(with("MACP_AUTH_JWKS_TTL_SECS", "abc"), "MACP_AUTH_JWKS_TTL_SECS");
    fails(with("MACP_AUTH_JWKS_TTL_SECS", "-5"), "MACP_AUTH_JWKS_TTL_SECS");
    fails({{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_URL", "ftp://127.0.0.1/jwks"}}, "http");
    fails({{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_URL", "not a url"}}, "MACP_AUTH_JWKS_URL");
    fails(inline_config("{garbage"), "MACP_AUTH_JWKS_JSON");
    // check_config never connects: a URL nobody serves passes.
    JwtResolver::check_config(
        config({{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_URL", "http://127.0.0.1:1/jwks"}}));
    // An empty algorithm list is the default (RS256, ES256).
    JwtResolver dflt(config(inline_config(jwks, " , ")));
    CHECK(dflt.settings().algs ==
          std::vector<macp::auth_jwt::Alg>{macp::auth_jwt::Alg::RS256, macp::auth_jwt::Alg::ES256});
    // Creating with a bad inline JWKS fails with the reason.
    CHECK_THROWS_WITH(JwtResolver(config(inline_config(R"({"keys":[]})"))), Contains("no usable key"));
}

TEST_CASE("JWKS documents: garbage, shapes, unusable keys are skipped with a reason", "[jwt][jwks]") {
    using Catch::Matchers::Contains;
    using macp::auth_jwt::parse_jwks;
    auto& k = Keys::get();
    CHECK_THROWS_WITH(parse_jwks("\x01\x02garbage"), Contains("not JSON"));
    CHECK_THROWS_WITH(parse_jwks("[]"), Contains("\"keys\""));
    CHECK_THROWS_WITH(parse_jwks(R"({"keys":{}})"), Contains("\"keys\""));
    CHECK_THROWS_WITH(parse_jwks(std::string(1024 * 1024 + 1, ' ')), Contains("larger than"));
    CHECK_THROWS_WITH(parse_jwks(std::string(100, '[')), Contains("nested"));
    auto weak = forge::rsa_key(1024);
    CHECK_THROWS_WITH(parse_jwks(forge::jwks({forge::rsa_jwk(weak.get())})), Contains("2048"));
    CHECK_THROWS_WITH(parse_jwks(forge::jwks({forge::oct_jwk("short")})), Contains("32 bytes"));
    const auto set = parse_jwks(forge::jwks({
        forge::rsa_jwk(k.rsa.get(), "good"),
        forge::ec_jwk(k.ec.get(), "p384", "P-384"),
        R"({"kty":"OKP","crv":"Ed25519","x":"abc"})",
        forge::rsa_jwk(k.rsa.get(), "enc", R"(,"use":"enc")"),
        forge::rsa_jwk(k.rsa.get(), "ps256", R"(,"alg":"PS256")"),
        forge::rsa_jwk(k.rsa.get(), "mismatch", R"(,"alg":"ES256")"),
        R"({"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"})",
        R"({"kty":"EC","crv":"P-256","x":")" + forge::b64url(std::string(32, '\x01')) + R"(","y":")" +
            forge::b64url(std::string(32, '\x02')) + R"("})",  // not on the curve
        R"({"kty":"RSA","n":"!!","e":"AQAB"})",
        "42",
    }));
    CHECK(set.keys.size() == 1);
    CHECK(set.skipped.size() == 9);
    CHECK(set.summary() == "1 key (RSA 1, EC 0, oct 0)");
    // oct: base64url or standard base64 (the reference's form); the secret decodes the same.
    const std::string secret = std::string(31, '\xfb') + "\xff";
    std::string standard = forge::b64url(secret);
    for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
    const auto a = parse_jwks(R"({"keys":[{"kty":"oct","k":")" + standard + R"(="}]})");
    const auto b = parse_jwks(forge::jwks({forge::oct_jwk(secret)}));
    const std::string input = "x.y";
    const std::string mac = forge::hmac_sha256(secret, input);
    CHECK(a.keys.at(0).verify(macp::auth_jwt::Alg::HS256, input, mac));
    CHECK(b.keys.at(0).verify(macp::auth_jwt::Alg::HS256, input, mac));
}

TEST_CASE("concurrent resolves on one instance", "[jwt][threads]") {
    auto& k = Keys::get();
    JwtResolver r(config(inline_config(standard_jwks())));
    const std::string rs = forge::rs256(k.rsa.get(), forge::claims("agent://rs"), "rsa-1");
    const std::string es = forge::es256(k.ec.get(), forge::claims("agent://es"), "ec-1");
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                const auto o = resolve(r, (t + i) % 2 == 0 ? rs : es);
                if (o.status == MACP_STATUS_OK && o.id->sender == ((t + i) % 2 == 0 ? "agent://rs" : "agent://es"))
                    ++ok;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(ok.load() == 8 * 50);
}

// ---- JWKS over http:// from a server in this test ----------------------------------------------

namespace {

// A steady clock the test moves forward by hand.
struct FakeClock {
    std::atomic<int64_t> offset_ms{0};
    std::chrono::steady_clock::time_point base = std::chrono::steady_clock::now();
    JwksCache::Clock fn() {
        return [this] { return base + std::chrono::milliseconds(offset_ms.load()); };
    }
    void advance(std::chrono::seconds s) {
        offset_ms += std::chrono::duration_cast<std::chrono::milliseconds>(s).count();
    }
};

std::map<std::string, std::string> url_config(const std::string& url, const std::string& ttl = "60") {
    return {{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_URL", url}, {"MACP_AUTH_JWKS_TTL_SECS", ttl}};
}

macp_status create_status(const std::map<std::string, std::string>& c, std::string& message) {
    try {
        JwtResolver r(config(c));
        return MACP_STATUS_OK;
    } catch (const macp::sdk::Error& e) {
        message = e.what();
        return e.status();
    }
}

}  // namespace

TEST_CASE("JWKS URL: fetched at start-up, cached for the TTL, refetched after it", "[jwt][url]") {
    auto& k = Keys::get();
    macp::test::HttpServer server;
    server.respond(200, forge::jwks({forge::rsa_jwk(k.rsa.get(), "rsa-1")}));
    FakeClock clock;
    LogCapture log;
    JwtResolver r(config(url_config(server.url()), &log), clock.fn(), nullptr);
    CHECK(server.requests() == 1);
    const std::string token = forge::rs256(k.rsa.get(), forge::claims("agent://a"), "rsa-1");
    for (int i = 0; i < 5; ++i) CHECK_STATUS(resolve(r, token), MACP_STATUS_OK);
    CHECK(server.requests() == 1);
    CHECK_THAT(r.health(), Catch::Matchers::Contains("fetched 0 s ago"));
    clock.advance(std::chrono::seconds(61));
    CHECK_STATUS(resolve(r, token), MACP_STATUS_OK);
    CHECK(server.requests() == 2);
    CHECK(log.contains("JWKS fetched from " + server.url()));
}

TEST_CASE("JWKS URL: an unknown kid refetches once (single flight, rate-limited)", "[jwt][url]") {
    auto& k = Keys::get();
    macp::test::HttpServer server;
    server.respond(200, forge::jwks({forge::rsa_jwk(k.rsa.get(), "old")}));
    FakeClock clock;
    JwtResolver r(config(url_config(server.url(), "300")), clock.fn(), nullptr);
    REQUIRE(server.requests() == 1);
    // The issuer rotates to a new key; tokens signed by it arrive within the TTL.
    server.respond(200, forge::jwks({forge::rsa_jwk(k.rsa.get(), "old"), forge::rsa_jwk(k.rsa2.get(), "new")}));
    server.set_delay(std::chrono::milliseconds(300));  // the fetch is in flight while the others arrive
    clock.advance(std::chrono::seconds(11));           // past the refetch rate limit of the first fetch
    const std::string token = forge::rs256(k.rsa2.get(), forge::claims("agent://new"), "new");
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&] {
            if (resolve(r, token).status == MACP_STATUS_OK) ++ok;
        });
    }
    for (auto& t : threads) t.join();
    CHECK(ok.load() == 8);
    CHECK(server.requests() == 2);
    // A kid nobody knows: one refetch at most every 10 s, however many tokens name it.
    server.set_delay(std::chrono::milliseconds(0));
    clock.advance(std::chrono::seconds(11));
    const std::string stranger = forge::rs256(k.rsa2.get(), forge::claims("agent://x"), "stranger");
    for (int i = 0; i < 20; ++i) CHECK_STATUS(resolve(r, stranger), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    CHECK(server.requests() == 3);
    clock.advance(std::chrono::seconds(11));
    CHECK_STATUS(resolve(r, stranger), MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    CHECK(server.requests() == 4);
}

TEST_CASE("JWKS URL: the endpoint goes down; stale keys within the grace window, logged; then rejected", "[jwt][url]") {
    auto& k = Keys::get();
    macp::test::HttpServer server;
    server.respond(200, forge::jwks({forge::rsa_jwk(k.rsa.get(), "rsa-1")}));
    FakeClock clock;
    LogCapture log;
    JwtResolver r(config(url_config(server.url(), "60"), &log), clock.fn(), nullptr);
    const std::string token = forge::rs256(k.rsa.get(), forge::claims("agent://a"), "rsa-1");
    SECTION("connection refused") {
        server.stop();
    }
    SECTION("HTTP 503") {
        server.respond(503, "down");
    }
    SECTION("garbage") {
        server.respond(200, "<html>not json</html>");
    }
    clock.advance(std::chrono::seconds(61));
    CHECK_STATUS(resolve(r, token), MACP_STATUS_OK);
    CHECK(log.contains("serving stale cached keys within the grace window"));
    CHECK_THAT(r.health(), Catch::Matchers::Contains("STALE"));
    // Between attempts (at most one per 10 s) the stale keys are served without a fetch.
    const int requests = server.requests();
    for (int i = 0; i < 10; ++i) CHECK_STATUS(resolve(r, token), MACP_STATUS_OK);
    CHECK(server.requests() == requests);
    // Past TTL + 1 h grace: rejected (a resolver failure, not a credential verdict).
    clock.advance(std::chrono::seconds(3600));
    auto o = resolve(r, token);
    CHECK(o.status == MACP_STATUS_UNAVAILABLE);
    CHECK_THAT(o.message, Catch::Matchers::Contains(server.url()));
    CHECK_THROWS_AS(r.health(), macp::sdk::Error);
    CHECK(log.contains("no usable keys"));
}

TEST_CASE("JWKS URL: start-up fails clearly when the first fetch fails", "[jwt][url]") {
    using Catch::Matchers::Contains;
    macp::test::HttpServer server;
    std::string message;
    SECTION("garbage") {
        server.respond(200, "this is not a JWKS");
        CHECK(create_status(url_config(server.url()), message) == MACP_STATUS_INVALID_ARGUMENT);
        CHECK_THAT(message, Contains("not JSON"));
    }
    SECTION("a huge document") {
        server.respond(200, "{\"keys\":[" + std::string(2 * 1024 * 1024, ' ') + "]}");
        CHECK(create_status(url_config(server.url()), message) == MACP_STATUS_INVALID_ARGUMENT);
        CHECK_THAT(message, Contains("larger than 1048576 bytes"));
    }
    SECTION("HTTP 404") {
        server.respond(404, "{}");
        CHECK(create_status(url_config(server.url()), message) == MACP_STATUS_UNAVAILABLE);
        CHECK_THAT(message, Contains("404"));
    }
    SECTION("nobody listening") {
        const std::string url = server.url();
        server.stop();
        CHECK(create_status(url_config(url), message) == MACP_STATUS_UNAVAILABLE);
        CHECK_THAT(message, Contains("MACP_AUTH_JWKS_URL"));
    }
    SECTION("https:// to a server that does not speak TLS: no handshake, nothing fetched (bounded)") {
        // The plain server waits for an HTTP head the TLS client never sends: the 5 s timeout ends it.
        server.respond(200, standard_jwks());
        const std::string https = "https://127.0.0.1:" + std::to_string(server.port()) + "/jwks.json";
        CHECK(create_status(url_config(https), message) == MACP_STATUS_TIMEOUT);
        CHECK_THAT(message, Contains(https));
    }
    SECTION("an endpoint that never answers: bounded by the 5 s timeout") {
        server.set_hang(true);
        const auto start = std::chrono::steady_clock::now();
        CHECK(create_status(url_config(server.url()), message) == MACP_STATUS_TIMEOUT);
        CHECK_THAT(message, Contains("timed out"));
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));  // bounded, not a timing claim
        server.set_hang(false);
    }
}

TEST_CASE("inline JWKS and URL both set: the inline set is used, the URL never fetched, a warning says so",
          "[jwt][url]") {
    auto& k = Keys::get();
    macp::test::HttpServer server;
    server.respond(200, forge::jwks({forge::rsa_jwk(k.rsa2.get(), "rsa-1")}));
    auto c = inline_config(standard_jwks());
    c["MACP_AUTH_JWKS_URL"] = server.url();
    LogCapture log;
    JwtResolver r(config(c, &log));
    CHECK_STATUS(resolve(r, forge::rs256(k.rsa.get(), forge::claims("agent://a"), "rsa-1")), MACP_STATUS_OK);
    CHECK(server.requests() == 0);
    CHECK(log.contains("the URL is ignored"));
    CHECK_THAT(r.health(), Catch::Matchers::Contains("inline JWKS"));
}

TEST_CASE("JWKS URL: a hanging refresh is bounded by the call's deadline and serves the stale keys", "[jwt][url]") {
    auto& k = Keys::get();
    macp::test::HttpServer server;
    server.respond(200, forge::jwks({forge::rsa_jwk(k.rsa.get(), "rsa-1")}));
    FakeClock clock;
    JwtResolver r(config(url_config(server.url(), "60")), clock.fn(), nullptr);
    server.set_hang(true);
    clock.advance(std::chrono::seconds(61));
    const std::string token = forge::rs256(k.rsa.get(), forge::claims("agent://a"), "rsa-1");
    const int64_t deadline = forge::now_secs() * 1000 + 500;
    CHECK_STATUS(resolve(r, token, deadline), MACP_STATUS_OK);
    server.set_hang(false);
}

namespace {

bool sh(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) throw std::runtime_error("no free loopback port");
    return ntohs(a.sin_port);
}

// `openssl s_server -WWW` serving the files of `dir` over TLS on 127.0.0.1 with a certificate
// from a CA made here; stopped by PID.
class HttpsFiles {
public:
    explicit HttpsFiles(std::string dir) : dir_(std::move(dir)), port_(free_loopback_port()) {
        const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
        REQUIRE(sh("cd '" + dir_ + "' && openssl req -x509" + ec +
                   "-days 1 -subj /CN=jwks-test-ca -keyout ca.key -out ca.pem"));
        REQUIRE(sh("cd '" + dir_ + "' && openssl req" + ec + "-subj /CN=127.0.0.1 -keyout srv.key -out srv.csr"));
        std::FILE* ext = std::fopen((dir_ + "/srv.ext").c_str(), "w");
        REQUIRE(ext != nullptr);
        std::fputs("subjectAltName=IP:127.0.0.1\n", ext);
        std::fclose(ext);
        REQUIRE(sh("cd '" + dir_ +
                   "' && openssl x509 -req -days 1 -in srv.csr -CA ca.pem -CAkey ca.key "
                   "-CAcreateserial -extfile srv.ext -out srv.pem"));
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            if (::chdir(dir_.c_str()) != 0) ::_exit(127);
            const int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
            const std::string accept = "127.0.0.1:" + std::to_string(port_);
            ::execlp("openssl", "openssl", "s_server", "-accept", accept.c_str(), "-cert", "srv.pem", "-key", "srv.key",
                     "-WWW", "-quiet", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        for (int i = 0; i < 100; ++i) {  // bounded: 10 s until it accepts
            const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(static_cast<uint16_t>(port_));
            const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(fd);
            if (up) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        FAIL("openssl s_server did not start");
    }
    ~HttpsFiles() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    HttpsFiles(const HttpsFiles&) = delete;
    HttpsFiles& operator=(const HttpsFiles&) = delete;
    [[nodiscard]] std::string url(const std::string& file) const {
        return "https://127.0.0.1:" + std::to_string(port_) + "/" + file;
    }
    [[nodiscard]] std::string ca() const { return dir_ + "/ca.pem"; }

private:
    std::string dir_;
    int port_;
    pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("JWKS over https: verified against MACP_AUTH_JWKS_CA_PATH, refused when untrusted", "[jwt][url][https]") {
    auto& k = Keys::get();
    char dir[] = "/tmp/macp-jwks-https-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    struct Cleanup {
        std::string d;
        ~Cleanup() { sh("rm -rf '" + d + "'"); }
    } cleanup{dir};
    {
        std::FILE* f = std::fopen((std::string(dir) + "/jwks.json").c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs(forge::jwks({forge::rsa_jwk(k.rsa.get(), "rsa-1")}).c_str(), f);
        std::fclose(f);
    }
    HttpsFiles https(dir);
    auto c = url_config(https.url("jwks.json"));

    SECTION("trusted through MACP_AUTH_JWKS_CA_PATH: fetched at start-up, tokens verify") {
        c["MACP_AUTH_JWKS_CA_PATH"] = https.ca();
        JwtResolver r(config(c));
        CHECK_STATUS(resolve(r, forge::rs256(k.rsa.get(), forge::claims("agent://a"), "rsa-1")), MACP_STATUS_OK);
    }
    SECTION("the system CA store does not trust the test CA: start-up fails") {
        std::string message;
        CHECK(create_status(c, message) != MACP_STATUS_OK);
        INFO(message);
        CHECK_THAT(message, Catch::Matchers::Contains("127.0.0.1") && Catch::Matchers::Contains("certificate"));
    }
    SECTION("a CA path that is not a file is a configuration error") {
        c["MACP_AUTH_JWKS_CA_PATH"] = std::string(dir) + "/missing.pem";
        std::string message;
        CHECK(create_status(c, message) == MACP_STATUS_INVALID_ARGUMENT);
        CHECK_THAT(message, Catch::Matchers::Contains("MACP_AUTH_JWKS_CA_PATH"));
    }
}

TEST_CASE("through the C ABI: auth-jwt.so as the host loads it", "[jwt][abi]") {
    const char* path = std::getenv("MACP_AUTH_JWT_PLUGIN");
    REQUIRE(path != nullptr);
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE(lib != nullptr);
    auto entry = reinterpret_cast<macp_plugin_entry_fn>(dlsym(lib, MACP_PLUGIN_ENTRY_SYMBOL));
    REQUIRE(entry != nullptr);
    const macp_plugin_descriptor* d = entry();
    CHECK(std::string(d->name) == "jwt");
    CHECK(d->kind == MACP_PLUGIN_KIND_AUTH);
    CHECK((d->flags & MACP_PLUGIN_FLAG_THREAD_SAFE) != 0);
    std::map<std::string, uint32_t> keys;
    for (size_t i = 0; i < d->config_key_count; ++i) keys[d->config_keys[i].env_name] = d->config_keys[i].flags;
    CHECK(keys.size() == 7);
    CHECK(keys.at("MACP_AUTH_ISSUER") == MACP_CONFIG_REQUIRED);
    CHECK(keys.at("MACP_AUTH_JWKS_CA_PATH") == MACP_CONFIG_PATH);
    CHECK(keys.at("MACP_AUTH_JWKS_JSON") == MACP_CONFIG_SECRET);
    CHECK(keys.count("MACP_AUTH_JWT_ALGS") == 1);
    const auto* vt = static_cast<const macp_auth_vtable*>(d->vtable);
    REQUIRE(vt->health != nullptr);
    REQUIRE(vt->check_config != nullptr);

    auto& k = Keys::get();
    const std::string jwks = forge::jwks({forge::ec_jwk(k.ec.get(), "ec-1")});
    const macp_config_pair p1{sizeof(macp_config_pair), "MACP_AUTH_ISSUER", kIssuer};
    const macp_config_pair p2{sizeof(macp_config_pair), "MACP_AUTH_JWKS_JSON", jwks.c_str()};
    const macp_config_pair* pairs[] = {&p1, &p2};
    std::string error;
    macp_error_sink sink{sizeof(macp_error_sink), &error,
                         [](void* ctx, const char* m, size_t n) { static_cast<std::string*>(ctx)->assign(m, n); }};
    LogCapture log;
    macp_call_context ctx{sizeof(macp_call_context), &sink, 0, 0, &log.logger};
    void* instance = nullptr;
    REQUIRE(vt->create(pairs, 2, &instance, &ctx) == MACP_STATUS_OK);

    struct Seen {
        std::string sender;
        uint32_t flags = 0;
        bool restricted = false;
        std::vector<std::string> modes;
        int64_t max_open = -2;
    } seen;
    macp_identity_sink out{sizeof(macp_identity_sink),
                           &seen,
                           [](void* c, const char* s, size_t n) { static_cast<Seen*>(c)->sender.assign(s, n); },
                           [](void* c, uint32_t f) { static_cast<Seen*>(c)->flags = f; },
                           [](void* c) { static_cast<Seen*>(c)->restricted = true; },
                           [](void* c, const char* m, size_t n) { static_cast<Seen*>(c)->modes.emplace_back(m, n); },
                           [](void* c, int64_t l) { static_cast<Seen*>(c)->max_open = l; }};
    const auto call = [&](const std::string& value) {
        const std::string key = "authorization";
        macp_metadata_entry e{sizeof(macp_metadata_entry), key.data(), key.size(), value.data(), value.size()};
        const macp_metadata_entry* md[] = {&e};
        return vt->resolve(instance, md, 1, &out, &ctx);
    };
    const std::string token = forge::es256(
        k.ec.get(),
        forge::claims("agent://abi", kIssuer, "\"macp-runtime\"",
                      R"(,"macp_scopes":{"allowed_modes":["m1"],"is_observer":true,"max_open_sessions":2})"),
        "ec-1");
    CHECK(call("Bearer " + token) == MACP_STATUS_OK);
    CHECK(seen.sender == "agent://abi");
    CHECK(seen.flags == (MACP_IDENTITY_CAN_START_SESSIONS | MACP_IDENTITY_IS_OBSERVER));
    CHECK(seen.restricted);
    CHECK(seen.modes == std::vector<std::string>{"m1"});
    CHECK(seen.max_open == 2);
    CHECK(call("Bearer opaque") == MACP_STATUS_AUTH_NOT_MINE);
    CHECK(call("Bearer a.b.c") == MACP_STATUS_AUTH_MALFORMED);
    CHECK(call("Bearer " + forge::es256(k.ec.get(), forge::claims("agent://abi"), "ec-1", true)) ==
          MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    CHECK(error.find("signature") != std::string::npos);
    CHECK(vt->health(instance, &ctx) == MACP_STATUS_OK);
    CHECK(error.find("inline JWKS") != std::string::npos);
    CHECK(log.contains("inline JWKS: 1 key"));
    vt->destroy(instance);

    const macp_config_pair* only_issuer[] = {&p1};
    CHECK(vt->check_config(only_issuer, 1, &ctx) == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(vt->create(only_issuer, 1, &instance, &ctx) == MACP_STATUS_INVALID_ARGUMENT);
    dlclose(lib);
}
