// Transport security through the real server (issue #12, AUTH-TLS-*): mTLS with
// MACP_TLS_CLIENT_CA_PATH, the verified client certificate as an identity
// (MACP_TLS_CLIENT_IDENTITY=1) and how it chains with tokens, certificate/key reload without a
// restart, TLS 1.2 as the minimum, and precise start-up errors. Every certificate is made here
// with the openssl command (EC P-256, valid for a day).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "test_pki.hpp"

using namespace macp::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kTokens = R"([{"token":"tok-coord-secret","sender":"agent://coord"}])";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Client credentials trusting `ca`, presenting `leaf` (a Pki name) when not empty.
std::shared_ptr<grpc::ChannelCredentials> creds(const Pki& pki, const std::string& ca, const std::string& leaf = "") {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = slurp(pki.pem(ca));
    if (!leaf.empty()) {
        o.pem_private_key = slurp(pki.key(leaf));
        o.pem_cert_chain = slurp(pki.pem(leaf));
    }
    return grpc::SslCredentials(o);
}

// Starts a session over a fresh connection; returns the transport status and the ack.
grpc::Status start_session(const std::string& address, const std::string& token,
                           const std::shared_ptr<grpc::ChannelCredentials>& c, macp::v1::Ack* ack = nullptr,
                           std::string* sid_out = nullptr) {
    ClientOptions options;
    options.deadline = 5s;
    Client client(address, token, c);
    const auto sid = new_session_id();
    grpc::Status st;
    auto a = client.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice"})), &st);
    if (ack != nullptr) *ack = a;
    if (sid_out != nullptr) *sid_out = sid;
    return st;
}

// "ok", the ack's error code, or "transport" when the call never reached the service (handshake).
std::string attempt(const std::string& address, const std::string& token,
                    const std::shared_ptr<grpc::ChannelCredentials>& c) {
    macp::v1::Ack ack;
    auto st = start_session(address, token, c, &ack);
    if (!st.ok()) return "transport";
    return ack.ok() ? "ok" : ack.error().code();
}

std::string initiator(const std::string& address, const std::string& token,
                      const std::shared_ptr<grpc::ChannelCredentials>& c, const std::string& sid) {
    Client client(address, token, c);
    macp::v1::SessionMetadata md;
    if (!client.get_session(sid, &md).ok()) return "<GetSession failed>";
    return md.initiator();
}

struct Fixture {
    TempDir tmp;
    Pki pki{tmp.path()};
    Fixture() {
        REQUIRE(pki.ca("ca1"));
        REQUIRE(pki.ca("other-ca"));
        REQUIRE(pki.leaf("server", "ca1", "localhost", "IP:127.0.0.1,DNS:localhost"));
        REQUIRE(pki.leaf("alice", "ca1", "alice-cn", "DNS:alice.agents.example"));
        REQUIRE(pki.leaf("cn-only", "ca1", "bob-by-cn", "email:bob@example.org"));
        REQUIRE(pki.leaf("mallory", "other-ca", "mallory", "DNS:mallory.example"));
    }
    std::map<std::string, std::string> env(bool client_ca, bool identity) const {
        std::map<std::string, std::string> e{{"MACP_TLS_CERT_PATH", pki.pem("server")},
                                             {"MACP_TLS_KEY_PATH", pki.key("server")},
                                             {"MACP_AUTH_TOKENS_JSON", kTokens}};
        if (client_ca) e["MACP_TLS_CLIENT_CA_PATH"] = pki.pem("ca1");
        if (identity) e["MACP_TLS_CLIENT_IDENTITY"] = "1";
        return e;
    }
};

}  // namespace

TEST_CASE("mTLS: only clients with a certificate the client CA signed get in", "[integration][tls]") {
    Fixture f;
    ServerProcess server(f.env(true, false), f.tmp.path() / "data");
    REQUIRE(server.start());
    CHECK(server.log().find("TLS, client certificates required") != std::string::npos);

    macp::v1::Ack ack;
    auto st = start_session(server.address(), "tok-coord-secret", creds(f.pki, "ca1", "alice"), &ack);
    INFO(st.error_message());
    REQUIRE(st.ok());
    CHECK(ack.ok());

    // No certificate, or one from another CA: the handshake fails, nothing reaches the service.
    CHECK(attempt(server.address(), "tok-coord-secret", creds(f.pki, "ca1")) == "transport");
    CHECK(attempt(server.address(), "tok-coord-secret", creds(f.pki, "ca1", "mallory")) == "transport");
    // A certificate alone is no identity unless MACP_TLS_CLIENT_IDENTITY=1.
    CHECK(attempt(server.address(), "", creds(f.pki, "ca1", "alice")) == "UNAUTHENTICATED");
}

TEST_CASE("MACP_TLS_CLIENT_IDENTITY: no token = the certificate's identity; a token wins", "[integration][tls]") {
    Fixture f;
    ServerProcess server(f.env(true, true), f.tmp.path() / "data");
    REQUIRE(server.start());
    std::string sid;
    macp::v1::Ack ack;
    auto st = start_session(server.address(), "", creds(f.pki, "ca1", "alice"), &ack, &sid);
    INFO(st.error_message() << " " << ack.error().code());
    REQUIRE(st.ok());
    REQUIRE(ack.ok());
    // The first subject alternative name is the sender.
    CHECK(initiator(server.address(), "", creds(f.pki, "ca1", "alice"), sid) == "alice.agents.example");

    // A token on the same connection decides instead: the certificate only admitted it.
    REQUIRE(start_session(server.address(), "tok-coord-secret", creds(f.pki, "ca1", "alice"), &ack, &sid).ok());
    REQUIRE(ack.ok());
    CHECK(initiator(server.address(), "tok-coord-secret", creds(f.pki, "ca1", "alice"), sid) == "agent://coord");
    // A bad token is refused; it does not fall back to the certificate (AUTH-CHAIN-1).
    CHECK(attempt(server.address(), "not-a-token", creds(f.pki, "ca1", "alice")) == "UNAUTHENTICATED");

    // An envelope claiming another sender than the certificate's identity is refused.
    {
        Client alice(server.address(), "", creds(f.pki, "ca1", "alice"));
        auto env = envelope("SessionStart", new_session_id(), kMultiRound, "s", session_start_payload({"alice"}));
        env.set_sender("agent://coord");
        auto spoof = alice.send(env);
        CHECK_FALSE(spoof.ok());
        INFO(spoof.error().code());
    }
    // The identity property gRPC reports: SANs first; an e-mail SAN is one too.
    REQUIRE(start_session(server.address(), "", creds(f.pki, "ca1", "cn-only"), &ack, &sid).ok());
    REQUIRE(ack.ok());
    CHECK(initiator(server.address(), "", creds(f.pki, "ca1", "cn-only"), sid) == "bob@example.org");
}

TEST_CASE("certificate, key and client CA are reloaded without a restart", "[integration][tls]") {
    Fixture f;
    REQUIRE(f.pki.ca("ca2"));
    REQUIRE(f.pki.leaf("server2", "ca2", "localhost", "IP:127.0.0.1,DNS:localhost"));
    REQUIRE(f.pki.leaf("carol", "ca2", "carol", "DNS:carol.example"));
    // The server reads copies, so the test can swap them underneath it.
    const auto live = f.tmp.path() / "live";
    fs::create_directories(live);
    fs::copy_file(f.pki.pem("server"), live / "cert.pem");
    fs::copy_file(f.pki.key("server"), live / "key.pem");
    fs::copy_file(f.pki.pem("ca1"), live / "client-ca.pem");
    auto env = f.env(true, true);
    env["MACP_TLS_CERT_PATH"] = (live / "cert.pem").string();
    env["MACP_TLS_KEY_PATH"] = (live / "key.pem").string();
    env["MACP_TLS_CLIENT_CA_PATH"] = (live / "client-ca.pem").string();
    env["MACP_TLS_RELOAD_SECS"] = "1";
    ServerProcess server(env, f.tmp.path() / "data");
    REQUIRE(server.start());
    REQUIRE(attempt(server.address(), "", creds(f.pki, "ca1", "alice")) == "ok");

    // Swap in a server identity from ca2 and a client CA that is ca2 (each file replaced by a
    // rename, as deployment tools do).
    auto replace = [&](const std::string& from, const fs::path& to) {
        fs::copy_file(from, to.string() + ".new", fs::copy_options::overwrite_existing);
        fs::rename(to.string() + ".new", to);
    };
    replace(f.pki.key("server2"), live / "key.pem");
    replace(f.pki.pem("server2"), live / "cert.pem");
    replace(f.pki.pem("ca2"), live / "client-ca.pem");
    bool switched = false;
    for (int i = 0; i < 100 && !switched; ++i) {  // bounded: about 20 s
        switched = attempt(server.address(), "", creds(f.pki, "ca2", "carol")) == "ok";
        if (!switched) std::this_thread::sleep_for(200ms);
    }
    INFO(server.log());
    REQUIRE(switched);
    // The old identity and the old client CA are gone for new connections.
    CHECK(attempt(server.address(), "", creds(f.pki, "ca1", "alice")) == "transport");
    CHECK(attempt(server.address(), "", creds(f.pki, "ca2", "alice")) == "transport");

    // A broken replacement is not taken: the server keeps the last good pair.
    std::ofstream(live / "cert.pem", std::ios::trunc) << "-----BEGIN CERTIFICATE-----\ngarbage\n";
    const bool logged = [&] {
        for (int i = 0; i < 100; ++i) {  // bounded: about 10 s
            if (server.log().find("still serving the previous certificate") != std::string::npos) return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }();
    CHECK(logged);
    std::this_thread::sleep_for(1500ms);  // past gRPC's own re-read of the staged copies
    CHECK(attempt(server.address(), "", creds(f.pki, "ca2", "carol")) == "ok");
    CHECK(server.running());
}

TEST_CASE("TLS 1.2 is the minimum protocol version", "[integration][tls]") {
    Fixture f;
    ServerProcess server(f.env(false, false), f.tmp.path() / "data");
    REQUIRE(server.start());
    const std::string port = server.address().substr(server.address().rfind(':') + 1);
    // OPENSSL_CONF=/dev/null: Debian's system configuration would stop this client from offering
    // TLS 1.0/1.1 itself; without it the client offers them and only the server can refuse.
    const std::string base = "OPENSSL_CONF=/dev/null openssl s_client -connect 127.0.0.1:" + port +
                             " -alpn h2 -CAfile '" + f.pki.pem("ca1") + "' </dev/null";
    // SECLEVEL=0 lets this client use the old versions' ciphers, so a refusal is the server's.
    CHECK_FALSE(sh(base + " -tls1_1 -cipher DEFAULT@SECLEVEL=0"));
    CHECK_FALSE(sh(base + " -tls1 -cipher DEFAULT@SECLEVEL=0"));
    CHECK(sh(base + " -tls1_2"));
    CHECK(sh(base + " -tls1_3"));
}

TEST_CASE("start-up refuses broken TLS settings with the reason", "[integration][tls][startup]") {
    Fixture f;
    auto refused = [&](std::map<std::string, std::string> env) {
        env.emplace("MACP_DATA_DIR", (f.tmp.path() / "data").string());
        env.emplace("MACP_BIND_ADDR", "127.0.0.1:" + std::to_string(free_port()));
        std::string out;
        const int rc = ServerProcess::run_to_exit(env, {}, out, 20s);
        INFO(out);
        CHECK(rc > 0);
        return out;
    };
    {
        auto env = f.env(false, false);
        env["MACP_TLS_KEY_PATH"] = f.pki.key("alice");  // not the certificate's key
        const auto out = refused(env);
        CHECK(out.find("does not belong to the certificate") != std::string::npos);
    }
    {
        auto env = f.env(false, false);
        env["MACP_TLS_CERT_PATH"] = f.pki.key("server");  // a key where the certificate should be
        CHECK(refused(env).find("holds no PEM certificate") != std::string::npos);
    }
    {
        INFO("issue #15: an empty certificate file is named as such, and --check-config finds what start-up would");
        const auto empty = (f.tmp.path() / "empty.pem").string();
        std::ofstream(empty).close();
        auto env = f.env(false, false);
        env["MACP_TLS_CERT_PATH"] = empty;
        CHECK(refused(env).find("MACP_TLS_CERT_PATH: '" + empty + "' holds no PEM certificate") != std::string::npos);
        std::string out;
        CHECK(ServerProcess::run_to_exit(env, {"--check-config"}, out, 20s) == 1);
        CHECK(out.find("holds no PEM certificate") != std::string::npos);
        auto mismatched = f.env(false, false);
        mismatched["MACP_TLS_KEY_PATH"] = f.pki.key("alice");
        CHECK(ServerProcess::run_to_exit(mismatched, {"--check-config"}, out, 20s) == 1);
        CHECK(out.find("does not belong to the certificate") != std::string::npos);
        CHECK(ServerProcess::run_to_exit(f.env(false, false), {"--check-config"}, out, 20s) == 0);
        CHECK(out.find("TLS: certificate and key readable and matching") != std::string::npos);
    }
    {
        auto env = f.env(false, true);  // an identity without client certificates
        CHECK(refused(env).find("MACP_TLS_CLIENT_IDENTITY") != std::string::npos);
    }
    {
        std::map<std::string, std::string> env{{"MACP_ALLOW_INSECURE", "1"},
                                               {"MACP_TLS_CLIENT_CA_PATH", f.pki.pem("ca1")}};
        CHECK(refused(env).find("client certificates need TLS") != std::string::npos);
    }
}
