// The installed server with two out-of-tree plugins (run.sh builds them against the installed
// SDK): storage-sqlite and auth-hmac, selected by MACP_STORAGE_BACKEND and MACP_AUTH_PLUGINS.
// A session runs, survives kill -9, and a bad credential is UNAUTHENTICATED (issue #9).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <string>

#include "harness.hpp"

using namespace macp::test;

namespace {

const std::string kSecret = "sdk-consumer-test-secret-0123456789";

std::string sign(const std::string& agent, const std::string& secret = kSecret) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(agent.data()), agent.size(), mac, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 0xf];
    }
    return out;
}

Client signed_client(const std::string& address, const std::string& agent, const std::string& signature) {
    Client c(address);
    c.set_header("x-hmac-agent", agent);
    c.set_header("x-hmac-signature", signature);
    return c;
}

std::map<std::string, std::string> server_env() {
    // MACP_PLUGIN_PATH (the out-of-tree build dir) comes from MACP_TEST_PLUGIN_DIR via the harness.
    return {{"MACP_ALLOW_INSECURE", "1"},  // plaintext on loopback; auth is the plugin's, not dev mode
            {"MACP_STORAGE_BACKEND", "sqlite"},
            {"MACP_AUTH_PLUGINS", "hmac"},
            {"MACP_HMAC_SECRET", kSecret}};
}

}  // namespace

TEST_CASE("out-of-tree storage and auth plugins serve a session that survives kill -9", "[sdk_consumer]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const std::string sid = new_session_id();
    {
        ServerProcess server(server_env(), data);
        REQUIRE(server.start());
        CHECK(server.log().find("storage-sqlite.so") != std::string::npos);  // resolved path logged
        CHECK(server.log().find("auth-hmac.so") != std::string::npos);

        Client coord = signed_client(server.address(), "coord", sign("coord"));
        auto ack =
            coord.send(envelope("SessionStart", sid, kMultiRound, "m1", session_start_payload({"alice", "coord"})));
        INFO(ack.DebugString());
        REQUIRE(ack.ok());
        Client alice = signed_client(server.address(), "alice", sign("alice"));
        ack = alice.send(envelope("Contribute", sid, kMultiRound, "m2", contribute_json("yes")));
        REQUIRE(ack.ok());

        // A bad signature, a malformed one, and none at all (no resolver claims the call and dev
        // mode is off): Send answers with an UNAUTHENTICATED ack (RPC-SEND), other RPCs with
        // the gRPC status; nothing is accepted.
        Client forger = signed_client(server.address(), "alice", sign("alice", "another-secret-0123456789"));
        Client sloppy = signed_client(server.address(), "alice", "abc");
        Client anonymous(server.address());
        anonymous.set_header("x-macp-agent-id", "alice");
        int n = 3;
        for (Client* c : {&forger, &sloppy, &anonymous}) {
            const auto refused =
                c->send(envelope("Contribute", sid, kMultiRound, "m" + std::to_string(n++), contribute_json("no")));
            CHECK_FALSE(refused.ok());
            CHECK(refused.error().code() == "UNAUTHENTICATED");
            macp::v1::SessionMetadata md;
            CHECK(c->get_session(sid, &md).error_code() == grpc::StatusCode::UNAUTHENTICATED);
        }
        CHECK(server.log().find("signature does not match") != std::string::npos);  // logged, never sent
        CHECK(server.log().find("plugin hmac: bad signature for agent alice") != std::string::npos);  // host logger

        server.kill9();
    }
    ServerProcess server(server_env(), data);
    REQUIRE(server.start());
    Client coord = signed_client(server.address(), "coord", sign("coord"));
    macp::v1::SessionMetadata md;
    REQUIRE(coord.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    // The acknowledged Contribute was replayed: resending it is a duplicate, not a new message.
    Client alice = signed_client(server.address(), "alice", sign("alice"));
    auto again = alice.send(envelope("Contribute", sid, kMultiRound, "m2", contribute_json("yes")));
    CHECK(again.ok());
    CHECK(again.duplicate());
    // And the restarted server keeps writing through the plugin.
    const std::string sid2 = new_session_id();
    auto started =
        coord.send(envelope("SessionStart", sid2, kMultiRound, "n1", session_start_payload({"alice", "coord"})));
    INFO(started.DebugString());
    CHECK(started.ok());
    CHECK(server.stop(15) == 0);
}
