// Selecting and finding plugins through the real server (issue #9): MACP_AUTH_PLUGINS with the
// fixture resolver auth-good (tests/plugin_abi/fixtures/auth-good.cpp: "t1" -> alice, other opaque
// tokens rejected), the auth chain order, flags for plugin-declared keys, --list-plugins and
// --print-config with plugin keys, the start-up log naming every plugin file, and the build-tree
// search path that `make run` relies on.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdlib>
#include <string>

#include "harness.hpp"

using namespace macp::test;

namespace {

std::string fixture_dir() {
    const char* d = std::getenv("MACP_TEST_FIXTURE_PLUGIN_DIR");
    return d == nullptr ? std::string() : std::string(d);
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Fixture plugins first, then the build's real plugins (storage-file, auth-static).
std::map<std::string, std::string> fixture_env(std::map<std::string, std::string> extra = {}) {
    extra.emplace("MACP_PLUGIN_PATH", fixture_dir() + ":" + ServerProcess::plugin_dir());
    extra.emplace("MACP_ALLOW_INSECURE", "1");  // plaintext; dev-mode must still stay off
    return extra;
}

int run(std::map<std::string, std::string> env, const std::vector<std::string>& args, std::string& out,
        const TempDir& dir) {
    env.emplace("MACP_DATA_DIR", (dir.path() / "data").string());
    return ServerProcess::run_to_exit(env, args, out, std::chrono::seconds(10));
}

// Starts a session as `bearer`; returns the initiator the server recorded, or the ack's error code.
std::string start_as(const ServerProcess& server, const std::string& bearer) {
    Client client(server.address(), bearer);
    const auto sid = new_session_id();
    const auto ack =
        client.send(envelope("SessionStart", sid, kMultiRound, "s0", session_start_payload({"agent://peer"})));
    if (!ack.ok()) return "error " + ack.error().code();
    macp::v1::SessionMetadata md;
    const auto st = client.get_session(sid, &md);
    return st.ok() ? md.initiator() : "error " + st.error_message();
}

constexpr const char* kStaticTokens = R"([{"token":"t1","sender":"agent://static-t1"}])";

}  // namespace

TEST_CASE("MACP_AUTH_PLUGINS=good: the listed plugin authenticates, a bad token is UNAUTHENTICATED",
          "[integration][plugin][auth]") {
    REQUIRE_FALSE(fixture_dir().empty());
    TempDir dir;
    ServerProcess server(fixture_env({{"MACP_AUTH_PLUGINS", "good"}}), dir.path() / "data");
    REQUIRE(server.start());
    CHECK(start_as(server, "t1") == "alice");
    CHECK(start_as(server, "not-a-token") == "error UNAUTHENTICATED");
    {
        INFO("no dev-mode fallback: a bearer nobody claims is refused, not taken as the sender");
        CHECK(start_as(server, "agent.coordinator.jwtish") == "error UNAUTHENTICATED");
        macp::v1::SessionMetadata md;
        Client unknown(server.address(), "nobody");
        CHECK(unknown.get_session(new_session_id(), &md).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    }
    const auto log = server.log();
    INFO(log);
    CHECK_FALSE(contains(log, "dev-mode"));
    CHECK(contains(log, "| auth: good |"));
    // One line per loaded plugin: kind, name, version and the file it came from.
    CHECK(contains(log, "loaded auth plugin 'good' version 2.0.0 from " + fixture_dir() + "/auth-good.so"));
    CHECK(contains(
        log, "loaded storage plugin 'file' version 1.0.0 from " + ServerProcess::plugin_dir() + "/storage-file.so"));
    CHECK(server.stop(SIGTERM) == 0);
}

TEST_CASE("auth chain: static tokens before MACP_AUTH_PLUGINS, unless the list places static",
          "[integration][plugin][auth]") {
    REQUIRE_FALSE(fixture_dir().empty());
    TempDir dir;
    SECTION("MACP_AUTH_PLUGINS=good: static, then good") {
        ServerProcess server(fixture_env({{"MACP_AUTH_PLUGINS", "good"}, {"MACP_AUTH_TOKENS_JSON", kStaticTokens}}),
                             dir.path() / "data");
        REQUIRE(server.start());
        CHECK(start_as(server, "t1") == "agent://static-t1");
        // Static rejects an opaque token it does not know, which ends the chain (AUTH-CHAIN-1).
        CHECK(start_as(server, "t2") == "error UNAUTHENTICATED");
        CHECK(contains(server.log(), "| auth: static, good |"));
    }
    SECTION("MACP_AUTH_PLUGINS=good,static: good, then static") {
        ServerProcess server(
            fixture_env({{"MACP_AUTH_PLUGINS", "good,static"}, {"MACP_AUTH_TOKENS_JSON", kStaticTokens}}),
            dir.path() / "data");
        REQUIRE(server.start());
        CHECK(start_as(server, "t1") == "alice");
        CHECK(contains(server.log(), "| auth: good, static |"));
    }
}

TEST_CASE("MACP_AUTH_PLUGINS problems stop start-up with a precise message", "[integration][plugin][auth]") {
    TempDir dir;
    std::string out;
    {
        INFO("a listed plugin that does not exist: the not-found message with the search path in order");
        const int rc = run(fixture_env({{"MACP_AUTH_PLUGINS", "good,nosuch"}}), {}, out, dir);
        INFO(out);
        CHECK(rc == 1);
        CHECK(contains(out, "plugin auth-nosuch not found: no auth-nosuch.so in " + fixture_dir() + ", " +
                                ServerProcess::plugin_dir() + ", "));
        CHECK(contains(out, "install the Debian package macp-runtime-auth-nosuch"));
        CHECK_FALSE(contains(out, "listening on"));
    }
    {
        INFO("a name listed twice is a configuration error");
        const int rc = run(fixture_env({{"MACP_AUTH_PLUGINS", "good,auth-good"}}), {}, out, dir);
        INFO(out);
        CHECK(rc == 2);
        CHECK(contains(out,
                       "MACP_AUTH_PLUGINS (--auth-plugins): 'good,auth-good': 'auth-good' names auth-good.so, "
                       "which is listed twice"));
    }
    {
        INFO("the flag, with a name that breaks the rule: the error states the rule");
        const int rc = run(fixture_env(), {"--auth-plugins=Good"}, out, dir);
        INFO(out);
        CHECK(rc == 2);
        CHECK(contains(out,
                       "'Good' is not a valid plugin name: a plugin name starts with a lower-case letter or "
                       "digit and continues with lower-case letters, digits, '-' and '_', at most 64 characters"));
    }
    {
        INFO("MACP_AUTH_PLUGINS is authentication: without MACP_ALLOW_INSECURE only TLS is missing");
        const int rc = run({{"MACP_PLUGIN_PATH", fixture_dir()}, {"MACP_AUTH_PLUGINS", "good"}}, {}, out, dir);
        INFO(out);
        CHECK(rc == 2);
        CHECK(contains(out, "TLS is required unless MACP_ALLOW_INSECURE=1"));
        CHECK_FALSE(contains(out, "no authentication configured"));
    }
}

TEST_CASE("CLI: --list-plugins prints the search path, each plugin's file and its keys with flags",
          "[integration][plugin][cli]") {
    TempDir dir;
    std::string out;
    const int rc = run({{"MACP_PLUGIN_PATH", fixture_dir()}}, {"--list-plugins"}, out, dir);
    INFO(out);
    CHECK(rc == 0);
    CHECK(contains(out, "Plugin search path, in order"));
    CHECK(contains(out, "\n  " + fixture_dir() + "  (MACP_PLUGIN_PATH)\n"));
    CHECK(contains(out, "storage-needskey.so\n    file: " + fixture_dir() + "/storage-needskey.so\n"));
    CHECK(contains(out, "MACP_TEST_OPTIONAL  --test-optional  PATH  default: /var/lib/default\n"));
    CHECK(contains(out, "MACP_TEST_REQUIRED_A  --test-required-a  REQUIRED  no default\n"));
    CHECK(contains(out, "MACP_TEST_SECRET  --test-secret  SECRET  no default\n"));
    CHECK(contains(out, "MACP_TEST_AUTH_REALM  --test-auth-realm  -  default: test\n"));
    // Keys that are core settings show their core flag.
    CHECK(contains(out, "MACP_DATA_DIR  --data-dir  PATH  default: .macp-data\n"));
}

TEST_CASE("CLI: a build-tree server finds the build's plugins, and nothing beside an installed one",
          "[integration][plugin][cli]") {
    // `make run` starts build/bin/macp-runtime with no MACP_PLUGIN_PATH: the marker the build
    // writes next to it names build/plugins.
    TempDir dir;
    std::string out;
    const int rc = run({{"MACP_PLUGIN_PATH", "/nonexistent-macp-plugins"}}, {"--list-plugins"}, out, dir);
    INFO(out);
    CHECK(rc == 0);
    CHECK(contains(out, "\n  " + ServerProcess::plugin_dir() + "  (build tree)\n"));
    CHECK(contains(out, "storage-file.so\n    file: " + ServerProcess::plugin_dir() + "/storage-file.so\n"));
    CHECK_FALSE(contains(out, "/bin/plugins  ("));
}

TEST_CASE("CLI: --print-config shows the configured plugins' keys, defaults marked, secrets masked",
          "[integration][plugin][cli]") {
    TempDir dir;
    std::string out;
    const int rc = run(fixture_env({{"MACP_STORAGE_BACKEND", "needskey"},
                                    {"MACP_AUTH_PLUGINS", "good"},
                                    {"MACP_TEST_REQUIRED_A", "from-env"},
                                    {"MACP_TEST_SECRET", "s3cret-value"}}),
                       {"--print-config", "--test-required-a", "from-flag", "--test-required-b=b"}, out, dir);
    INFO(out);
    CHECK(rc == 0);
    CHECK(contains(out, "# plugin storage-needskey 1.2.3 (" + fixture_dir() +
                            "/storage-needskey.so)\n"
                            "MACP_TEST_REQUIRED_A=from-flag\n"  // the flag wins over the environment
                            "MACP_TEST_REQUIRED_B=b\n"
                            "MACP_TEST_OPTIONAL=/var/lib/default  # default\n"
                            "MACP_TEST_UNSET=  # unset\n"
                            "MACP_TEST_SECRET=***\n"));
    CHECK(contains(
        out, "# plugin auth-good 2.0.0 (" + fixture_dir() + "/auth-good.so)\nMACP_TEST_AUTH_REALM=test  # default\n"));
    CHECK_FALSE(contains(out, "s3cret-value"));
    CHECK_FALSE(contains(out, "from-env"));
}

TEST_CASE("CLI: a configured plugin's keys are accepted as flags; other plugins' are unknown options",
          "[integration][plugin][cli]") {
    TempDir dir;
    std::string out;
    const auto needskey = fixture_env({{"MACP_STORAGE_BACKEND", "needskey"}, {"MACP_TEST_REQUIRED_B", "b"}});
    {
        INFO("without the flag the required key is missing");
        const int rc = run(needskey, {"--check-config"}, out, dir);
        INFO(out);
        CHECK(rc == 1);
        CHECK(contains(out, "MACP_TEST_REQUIRED_A"));
    }
    {
        INFO("--test-required-a supplies it");
        const int rc = run(needskey, {"--check-config", "--test-required-a=a"}, out, dir);
        INFO(out);
        CHECK(rc == 0);
        CHECK(contains(out, "configuration OK"));
    }
    {
        INFO("the same flag while storage-needskey is not configured");
        const int rc = run(fixture_env(), {"--check-config", "--test-required-a=a"}, out, dir);
        INFO(out);
        CHECK(rc == 2);
        CHECK(contains(out, "unknown option '--test-required-a' (see --help)"));
    }
}
