// auth-jwt through the real server (issue #12; BEHAVIOR.md AUTH-JWT-*, AUTH-CHAIN-*, AUTH-Z-*,
// ENV-9/10, RATE-*): JWKS inline and from a loopback HTTP server, JWT and static tokens at once,
// spoofed senders, observers, mode-restricted identities, the per-sender rate limit across many
// tokens and connections, and start-up refusals. Keys are made at test time.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "harness.hpp"
#include "http_server.hpp"
#include "jwt_forge.hpp"

using namespace macp::test;
using macp::v1::Ack;
using macp::v1::Envelope;
namespace forge = macp::jwt_forge;

namespace {

constexpr const char* kIssuer = "https://auth.example.test";

struct Keys {
    forge::Pkey rsa = forge::rsa_key();
    forge::Pkey ec = forge::ec_key();
    std::string secret = forge::random_bytes(32);
    static Keys& get() {
        static Keys keys;
        return keys;
    }
};

std::string jwks() {
    auto& k = Keys::get();
    return forge::jwks(
        {forge::rsa_jwk(k.rsa.get(), "rsa-1"), forge::ec_jwk(k.ec.get(), "ec-1"), forge::oct_jwk(k.secret, "oct-1")});
}

// A valid RS256 token for `sub`; `extra` is appended to the claims (e.g. macp_scopes).
std::string token(const std::string& sub, const std::string& extra = "") {
    return forge::rs256(Keys::get().rsa.get(), forge::claims(sub, kIssuer, "\"macp-runtime\"", extra), "rsa-1");
}

std::map<std::string, std::string> jwt_env() {
    return {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_JSON", jwks()}};
}

Envelope start_env(const std::string& sid, const std::string& msg_id, const std::vector<std::string>& participants) {
    return envelope("SessionStart", sid, kMultiRound, msg_id, session_start_payload(participants));
}

void expect_error(const Ack& ack, const std::string& code, const std::string& message) {
    INFO("code='" << ack.error().code() << "' message='" << ack.error().message() << "'");
    CHECK_FALSE(ack.ok());
    CHECK(ack.error().code() == code);
    CHECK(ack.error().message() == message);
}

void expect_ok(const Ack& ack) {
    INFO("code='" << ack.error().code() << "' message='" << ack.error().message() << "'");
    CHECK(ack.ok());
}

void expect_unauthenticated(const ServerProcess& server, const std::string& bearer, const std::string& sid) {
    Client c(server.address(), bearer);
    expect_error(
        c.send(envelope("Contribute", sid, kMultiRound, "u-" + std::to_string(bearer.size()), contribute_json("x"))),
        "UNAUTHENTICATED", "Unauthenticated");
    macp::v1::SessionMetadata md;
    const auto st = c.get_session(sid, &md);
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(st.error_message() == "Unauthenticated");
}

}  // namespace

TEST_CASE("AUTH-JWT-1..6: an inline JWKS; sub is the sender; bad tokens are UNAUTHENTICATED",
          "[integration][auth][jwt]") {
    auto& k = Keys::get();
    TempDir dir;
    ServerProcess server(jwt_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client alice(server.address(), token("agent://alice"));
    const auto sid = new_session_id();
    expect_ok(alice.send(start_env(sid, "s0", {"agent://bob"})));
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    CHECK(md.initiator() == "agent://alice");
    {
        INFO("ES256 works as well, and a participant's JWT identity is its sub");
        Client bob(server.address(), forge::es256(k.ec.get(), forge::claims("agent://bob", kIssuer), "ec-1"));
        expect_ok(bob.send(envelope("Contribute", sid, kMultiRound, "b1", contribute_json("x"))));
        REQUIRE(bob.get_session(sid, &md).ok());
    }
    {
        INFO("ENV-9: an envelope sender naming another identity is UNAUTHENTICATED; its own sub is fine");
        auto spoof = start_env(new_session_id(), "s1", {"agent://bob"});
        spoof.set_sender("agent://bob");
        expect_error(alice.send(spoof), "UNAUTHENTICATED", "Unauthenticated");
        auto own = start_env(new_session_id(), "s2", {"agent://bob"});
        own.set_sender("agent://alice");
        expect_ok(alice.send(own));
    }
    {
        INFO("AUTH-JWT-6: every verification failure is UNAUTHENTICATED");
        const std::string claims = forge::claims("agent://alice", kIssuer);
        const std::string expired = forge::rs256(k.rsa.get(),
                                                 "{\"iss\":\"" + std::string(kIssuer) +
                                                     "\",\"aud\":\"macp-runtime\",\"sub\":\"agent://alice\",\"exp\":" +
                                                     std::to_string(forge::now_secs() - 600) + "}",
                                                 "rsa-1");
        expect_unauthenticated(server, expired, sid);
        expect_unauthenticated(
            server, forge::rs256(k.rsa.get(), forge::claims("agent://alice", "https://evil.test"), "rsa-1"), sid);
        expect_unauthenticated(
            server, forge::rs256(k.rsa.get(), forge::claims("agent://alice", kIssuer, "\"other\""), "rsa-1"), sid);
        expect_unauthenticated(server, forge::signing_input(R"({"alg":"none"})", claims) + ".", sid);
        expect_unauthenticated(server, forge::hs256(k.secret, claims, "oct-1"), sid);         // HS256 not opted in
        expect_unauthenticated(server, forge::es256(k.ec.get(), claims, "ec-1", true), sid);  // DER signature
        auto stranger = forge::rsa_key();
        expect_unauthenticated(server, forge::rs256(stranger.get(), claims, "rsa-1"), sid);
        expect_unauthenticated(server, forge::rs256(k.rsa.get(), claims, "unknown-kid"), sid);
        expect_unauthenticated(server, "aaa.bbb.ccc", sid);
        // AUTH-CHAIN-2: an opaque token in a JWT-only deployment.
        expect_unauthenticated(server, "opaque-token", sid);
        CHECK(server.log().find("JWT expired") != std::string::npos);
    }
}

TEST_CASE("AUTH-JWT-5 / AUTH-Z-*: macp_scopes for observers, mode restrictions, start and limits",
          "[integration][auth][jwt]") {
    TempDir dir;
    ServerProcess server(jwt_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), token("agent://coord"));
    Client observer(server.address(),
                    token("agent://observer", R"(,"macp_scopes":{"is_observer":true,"can_start_sessions":false})"));
    Client decider(server.address(),
                   token("agent://decider", R"(,"macp_scopes":{"allowed_modes":["macp.mode.decision.v1"]})"));
    Client nobody(server.address(), token("agent://nobody", R"(,"macp_scopes":{"allowed_modes":[]})"));
    Client worker(server.address(), token("agent://worker", R"(,"macp_scopes":{"can_start_sessions":false})"));
    Client limited(server.address(), token("agent://limited", R"(,"macp_scopes":{"max_open_sessions":1})"));
    const auto sid = new_session_id();
    expect_ok(coord.send(start_env(sid, "s0", {"agent://worker", "agent://decider"})));
    {
        INFO("AUTH-Z-5: an observer may read any session but not send into it");
        macp::v1::SessionMetadata md;
        REQUIRE(observer.get_session(sid, &md).ok());
        expect_error(observer.send(envelope("Contribute", sid, kMultiRound, "o1", contribute_json("x"))), "FORBIDDEN",
                     "Forbidden");
        expect_error(observer.send(start_env(new_session_id(), "o2", {"agent://coord"})), "FORBIDDEN", "Forbidden");
    }
    {
        INFO("AUTH-Z-2 / Q-9: allowed_modes restricts every envelope, ambient Signals included");
        expect_error(decider.send(envelope("Contribute", sid, kMultiRound, "d1", contribute_json("x"))), "FORBIDDEN",
                     "Forbidden");
        expect_error(decider.send(start_env(new_session_id(), "d2", {"agent://coord"})), "FORBIDDEN", "Forbidden");
        expect_error(decider.send(envelope("Signal", "", "", "d3")), "FORBIDDEN", "Forbidden");
        INFO("AUTH-JWT-5: an empty allowed_modes list allows no mode at all");
        expect_error(nobody.send(start_env(new_session_id(), "n1", {"agent://coord"})), "FORBIDDEN", "Forbidden");
        expect_error(nobody.send(envelope("Signal", "", "", "n2")), "FORBIDDEN", "Forbidden");
    }
    {
        INFO("AUTH-Z-1: can_start_sessions=false forbids SessionStart only");
        expect_error(worker.send(start_env(new_session_id(), "w0", {"agent://coord"})), "FORBIDDEN", "Forbidden");
        expect_ok(worker.send(envelope("Contribute", sid, kMultiRound, "w1", contribute_json("x"))));
    }
    {
        INFO("AUTH-Z-3: max_open_sessions");
        expect_ok(limited.send(start_env(new_session_id(), "l0", {"agent://coord"})));
        expect_error(limited.send(start_env(new_session_id(), "l1", {"agent://coord"})), "RATE_LIMITED", "RateLimited");
    }
}

TEST_CASE("AUTH-CHAIN-1: JWT and static tokens at once; a bad JWT does not fall through", "[integration][auth][jwt]") {
    TempDir dir;
    auto env = jwt_env();
    env["MACP_AUTH_TOKENS_JSON"] = R"([{"token": "static-alice", "sender": "agent://static-alice"}])";
    ServerProcess server(env, dir.path() / "data");
    REQUIRE(server.start());
    Client by_static(server.address(), "static-alice");
    Client by_jwt(server.address(), token("agent://jwt-bob"));
    const auto sid = new_session_id();
    expect_ok(by_static.send(start_env(sid, "s0", {"agent://jwt-bob"})));
    expect_ok(by_jwt.send(envelope("Contribute", sid, kMultiRound, "j1", contribute_json("x"))));
    macp::v1::SessionMetadata md;
    REQUIRE(by_jwt.get_session(sid, &md).ok());
    CHECK(md.initiator() == "agent://static-alice");
    REQUIRE(md.participant_activity_size() == 1);
    CHECK(md.participant_activity(0).participant_id() == "agent://jwt-bob");
    // x-macp-token is a static credential only (AUTH-HDR-2).
    Client header(server.address());
    header.set_header("x-macp-token", "static-alice");
    REQUIRE(header.get_session(sid, &md).ok());
    // A JWT that fails is rejected by auth-jwt itself (the log says so), never handed to static.
    auto stranger = forge::rsa_key();
    expect_unauthenticated(server,
                           forge::rs256(stranger.get(), forge::claims("agent://static-alice", kIssuer), "rsa-1"), sid);
    CHECK(server.log().find("signature does not verify") != std::string::npos);
    expect_unauthenticated(server, "static-unknown", sid);
}

TEST_CASE("JWKS over http:// from the test's server (TTL 60, bind [::]-style config), and the rate limit per sender",
          "[integration][auth][jwt]") {
    HttpServer jwks_server;
    jwks_server.respond(200, jwks());
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"},
                          {"MACP_AUTH_ISSUER", kIssuer},
                          {"MACP_AUTH_JWKS_URL", jwks_server.url()},
                          {"MACP_AUTH_JWKS_TTL_SECS", "60"},
                          {"MACP_MESSAGE_LIMIT_PER_MINUTE", "3"}},
                         dir.path() / "data");
    REQUIRE(server.start());
    CHECK(jwks_server.requests() == 1);  // fetched once at start-up
    CHECK(server.log().find("JWKS fetched from " + jwks_server.url()) != std::string::npos);
    {
        INFO("RATE-1/2: the limit is per sender: five tokens and five connections for one sub share it");
        int accepted = 0;
        int limited = 0;
        for (int i = 0; i < 5; ++i) {
            // Each token differs (jti) and each Client opens its own channel.
            Client c(server.address(), token("agent://spammer", ",\"jti\":\"t" + std::to_string(i) + "\""));
            const Ack ack = c.send(envelope("Signal", "", "", "sig-" + std::to_string(i)));
            if (ack.ok()) {
                ++accepted;
            } else if (ack.error().code() == "RATE_LIMITED") {
                ++limited;
            }
        }
        CHECK(accepted == 3);
        CHECK(limited == 2);
        // Another sender has its own budget.
        Client other(server.address(), token("agent://other"));
        expect_ok(other.send(envelope("Signal", "", "", "o-1")));
    }
    CHECK(jwks_server.requests() == 1);  // all within the TTL: no refetch
}

TEST_CASE("start-up: an unreachable JWKS URL without inline keys, or no key source at all, refuses to start",
          "[integration][auth][jwt]") {
    TempDir dir;
    const auto run = [&](std::map<std::string, std::string> env) {
        env.emplace("MACP_BIND_ADDR", "127.0.0.1:" + std::to_string(free_port()));
        env.emplace("MACP_DATA_DIR", (dir.path() / "data").string());
        env.emplace("MACP_ALLOW_INSECURE", "1");
        std::string out;
        const int status = ServerProcess::run_to_exit(env, {}, out, std::chrono::seconds(30));
        INFO(out);
        CHECK(status > 0);
        return out;
    };
    const std::string url = "http://127.0.0.1:" + std::to_string(free_port()) + "/jwks.json";
    auto out = run({{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_URL", url}});
    CHECK(out.find("cannot load the JWKS from MACP_AUTH_JWKS_URL " + url) != std::string::npos);
    out = run({{"MACP_AUTH_ISSUER", kIssuer}});
    CHECK(out.find("MACP_AUTH_JWKS_JSON") != std::string::npos);
    out = run({{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_JSON", "{\"keys\": []}"}});
    CHECK(out.find("no usable key") != std::string::npos);
    out = run({{"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_JSON", jwks()}, {"MACP_AUTH_JWT_ALGS", "none"}});
    CHECK(out.find("MACP_AUTH_JWT_ALGS") != std::string::npos);
}

TEST_CASE("--print-config and --list-plugins show auth-jwt's keys; the inline JWKS is masked",
          "[integration][auth][jwt]") {
    std::string out;
    const auto keys = jwks();
    int rc = ServerProcess::run_to_exit(
        {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_ISSUER", kIssuer}, {"MACP_AUTH_JWKS_JSON", keys}},
        {"--print-config"}, out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("MACP_AUTH_ISSUER") != std::string::npos);
    CHECK(out.find("MACP_AUTH_JWT_ALGS") != std::string::npos);
    CHECK(out.find("RS256,ES256") != std::string::npos);
    CHECK(out.find(keys.substr(0, 40)) == std::string::npos);
    rc = ServerProcess::run_to_exit({}, {"--list-plugins"}, out);
    CHECK(rc == 0);
    CHECK(out.find("auth-jwt") != std::string::npos);
    CHECK(out.find("MACP_AUTH_JWKS_URL") != std::string::npos);
    rc = ServerProcess::run_to_exit({{"MACP_ALLOW_INSECURE", "1"},
                                     {"MACP_AUTH_ISSUER", kIssuer},
                                     {"MACP_AUTH_JWKS_URL", "http://127.0.0.1:1/never-fetched"}},
                                    {"--check-config"}, out);
    CHECK(rc == 0);
}
