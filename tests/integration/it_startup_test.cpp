// Process start-up: command-line actions, configuration refusals, TLS, signals and logging
// (BEHAVIOR.md §7.6, §10; DELTA-0.6 AUTH-DEV-5, CFG-3, STO-REC-10; our config differences).
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "harness.hpp"

using namespace macp::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kTokens = R"([{"token":"tok-secret-value-123","sender":"agent://coord"}])";
constexpr const char* kTlsMessage = "TLS is required unless MACP_ALLOW_INSECURE=1 is set";
constexpr const char* kAuthMessage = "no authentication configured";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// A refusal must come quickly; a process still running after this is a server that started.
constexpr std::chrono::seconds kRefusalTimeout{10};

int run(std::map<std::string, std::string> env, const std::vector<std::string>& args, std::string& out,
        const fs::path& data_dir) {
    if (env.count("MACP_DATA_DIR") == 0) env["MACP_DATA_DIR"] = data_dir.string();
    return ServerProcess::run_to_exit(env, args, out, kRefusalTimeout);
}

// Self-signed certificate for 127.0.0.1 in `dir`: returns false if openssl failed.
bool make_cert(const fs::path& dir) {
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout '" + (dir / "k.pem").string() +
                            "' -out '" + (dir / "c.pem").string() +
                            "' -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0 && fs::exists(dir / "c.pem") && fs::exists(dir / "k.pem");
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

grpc::Status initialize(macp::v1::MACPRuntimeService::Stub& stub, macp::v1::InitializeResponse* resp,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    macp::v1::InitializeRequest req;
    req.add_supported_protocol_versions("1.0");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub.Initialize(&ctx, req, resp);
}

}  // namespace

// CLI actions: no BEHAVIOR row (the reference has no flags); ours per docs/--help.
TEST_CASE("CLI: --version and --help exit 0", "[integration][startup]") {
    TempDir dir;
    std::string out;
    CHECK(run({}, {"--version"}, out, dir.path()) == 0);
    CHECK(contains(out, "macp-runtime"));
    CHECK(run({}, {"--help"}, out, dir.path()) == 0);
    CHECK(contains(out, "MACP_BIND_ADDR"));
    // --help and --version work on a broken configuration too.
    CHECK(run({{"MACP_BIND_ADDR", "localhost:1"}}, {"--version"}, out, dir.path()) == 0);
    CHECK(contains(out, "macp-runtime"));
}

TEST_CASE("CFG-1, CFG-3, CFG-9: --check-config accepts a good configuration and lists every problem",
          "[integration][startup][config]") {
    TempDir dir;
    std::string out;
    {
        INFO("a valid configuration");
        int rc = run({{"MACP_ALLOW_INSECURE", "1"}}, {"--check-config"}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc == 0);
    }
    {
        INFO("all problems are reported at once");
        int rc = run({{"MACP_ALLOW_INSECURE", "1"},
                      {"MACP_BIND_ADDR", "localhost:1"},
                      {"MACP_MAX_PAYLOAD_BYTES", "abc"},
                      {"MACP_CLEANUP_INTERVAL_SECS", "0"},
                      {"MACP_SESSION_RETENTION_SECS", "soon"},
                      {"MACP_MESSAGE_LIMIT_PER_MINUTE", "0"}},
                     {"--check-config"}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);  // it exited by itself
        CHECK(contains(out, "MACP_BIND_ADDR"));
        CHECK(contains(out, "localhost:1"));
        CHECK(contains(out, "MACP_MAX_PAYLOAD_BYTES"));
        CHECK(contains(out, "'abc'"));
        // Our difference to CFG-9 / Q-43: 0 and unparsable numbers are errors, not defaults or panics.
        CHECK(contains(out, "MACP_CLEANUP_INTERVAL_SECS"));
        CHECK(contains(out, "MACP_SESSION_RETENTION_SECS"));
        CHECK(contains(out, "MACP_MESSAGE_LIMIT_PER_MINUTE"));
    }
    {
        INFO("the same problems also stop a normal start");
        int rc = run({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_CLEANUP_INTERVAL_SECS", "0"}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, "MACP_CLEANUP_INTERVAL_SECS"));
    }
}

TEST_CASE("AUTH-TLS-2, AUTH-DEV-5: no TLS and no MACP_ALLOW_INSECURE is refused", "[integration][startup][tls]") {
    TempDir dir;
    std::string out;
    {
        INFO("auth configured, no TLS: the TLS message only");
        int rc = run({{"MACP_AUTH_TOKENS_JSON", kTokens}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, kTlsMessage));
        CHECK_FALSE(contains(out, kAuthMessage));
    }
    {
        INFO("neither auth nor TLS: both problems are listed");
        int rc = run({}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, kTlsMessage));
        CHECK(contains(out, kAuthMessage));
    }
    {
        INFO("MACP_ALLOW_INSECURE must be exactly 1");
        int rc =
            run({{"MACP_AUTH_TOKENS_JSON", kTokens}, {"MACP_ALLOW_INSECURE", "true"}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, kTlsMessage));
    }
}

TEST_CASE("AUTH-TLS-2/3: half or missing TLS files are refused", "[integration][startup][tls]") {
    TempDir dir;
    REQUIRE(make_cert(dir.path()));
    const auto cert = (dir.path() / "c.pem").string();
    const auto key = (dir.path() / "k.pem").string();
    std::string out;
    {
        INFO("only a certificate, no key (an error even with MACP_ALLOW_INSECURE=1)");
        int rc = run({{"MACP_AUTH_TOKENS_JSON", kTokens}, {"MACP_ALLOW_INSECURE", "1"}, {"MACP_TLS_CERT_PATH", cert}},
                     {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, "MACP_TLS_KEY_PATH"));
    }
    {
        INFO("only a certificate, no key, no insecure opt-in");
        int rc = run({{"MACP_AUTH_TOKENS_JSON", kTokens}, {"MACP_TLS_CERT_PATH", cert}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
    }
    {
        INFO("a certificate path that does not exist");
        const auto missing = (dir.path() / "nope.pem").string();
        int rc = run({{"MACP_AUTH_TOKENS_JSON", kTokens}, {"MACP_TLS_CERT_PATH", missing}, {"MACP_TLS_KEY_PATH", key}},
                     {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, "MACP_TLS_CERT_PATH"));
        CHECK(contains(out, missing));
    }
    {
        INFO("a key path that does not exist");
        const auto missing = (dir.path() / "nokey.pem").string();
        int rc = run({{"MACP_AUTH_TOKENS_JSON", kTokens}, {"MACP_TLS_CERT_PATH", cert}, {"MACP_TLS_KEY_PATH", missing}},
                     {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, "MACP_TLS_KEY_PATH"));
        CHECK(contains(out, missing));
    }
    {
        INFO("AUTH-DEV-5: TLS configured but no authentication and no opt-in");
        int rc = run({{"MACP_TLS_CERT_PATH", cert}, {"MACP_TLS_KEY_PATH", key}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, kAuthMessage));
        CHECK_FALSE(contains(out, kTlsMessage));
    }
}

TEST_CASE("AUTH-STATIC-5 (our difference): an empty static token list is a start-up error",
          "[integration][startup][auth]") {
    TempDir dir;
    std::string out;
    for (const char* tokens : {"[]", R"({"tokens":[]})"}) {
        INFO("MACP_AUTH_TOKENS_JSON=" << tokens);
        int rc = run({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_TOKENS_JSON", tokens}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, "empty"));
    }
    {
        INFO("invalid JSON aborts start-up (AUTH-STATIC-1)");
        int rc = run({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_TOKENS_JSON", "[{"}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, "MACP_AUTH_TOKENS_JSON"));
    }
    {
        INFO("an unreadable token file aborts start-up (AUTH-STATIC-1)");
        const auto missing = (dir.path() / "no-tokens.json").string();
        int rc = run({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_TOKENS_FILE", missing}}, {}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc != 0);
        CHECK(rc != -1000);
        CHECK(contains(out, missing));
    }
}

TEST_CASE("CFG-7: a storage backend whose plugin is not installed names its package", "[integration][startup]") {
    // rocksdb is built in this tree now; a backend nobody ships shows the same message.
    TempDir dir;
    std::string out;
    int rc = run({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_STORAGE_BACKEND", "cassandra"}}, {}, out, dir.path() / "data");
    INFO(out);
    CHECK(rc != 0);
    CHECK(rc != -1000);
    CHECK(contains(out, "macp-runtime-storage-cassandra"));
}

TEST_CASE("CLI: --list-plugins shows the plugin keys; --print-config masks secrets (CFG-1, CFG-11)",
          "[integration][startup]") {
    TempDir dir;
    std::string out;
    {
        INFO("--list-plugins");
        int rc = run({}, {"--list-plugins"}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc == 0);
        CHECK(contains(out, "storage-file.so"));
        CHECK(contains(out, "auth-static.so"));
        CHECK(contains(out, "MACP_DATA_DIR"));
        CHECK(contains(out, "MACP_AUTH_TOKENS_JSON"));
        CHECK(contains(out, "MACP_AUTH_TOKENS_FILE"));
    }
    {
        INFO("--print-config masks the token table");
        int rc =
            run({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_TOKENS_JSON", kTokens}, {"MACP_MAX_PAYLOAD_BYTES", "4096"}},
                {"--print-config"}, out, dir.path() / "data");
        INFO(out);
        CHECK(rc == 0);
        CHECK(contains(out, "MACP_AUTH_TOKENS_JSON=***"));
        CHECK_FALSE(contains(out, "tok-secret-value-123"));
        CHECK(contains(out, "MACP_MAX_PAYLOAD_BYTES=4096"));
        CHECK(contains(out, "MACP_BIND_ADDR=127.0.0.1:50051"));  // CFG-1 default
    }
}

TEST_CASE(
    "CFG-14, OBS-3, STO-REC-10: unknown MACP_* variables are ignored; 'listening on'; SIGTERM exits 0 with "
    "'goodbye'",
    "[integration][startup]") {
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_FOO", "bar"}, {"MACP_NOT_A_SETTING", "42"}},
                         dir.path() / "data");
    REQUIRE(server.start());
    {
        // Scoped: an idle connected client delays the drain by several seconds (see the report).
        Client c(server.address(), "coordinator");
        macp::v1::InitializeResponse resp;
        auto st = initialize(c.stub(), &resp);
        REQUIRE(st.ok());
        CHECK(resp.selected_protocol_version() == "1.0");
        const auto sid = new_session_id();
        REQUIRE(c.send(envelope("SessionStart", sid, kMultiRound, "s0", session_start_payload({"alice"}))).ok());
    }
    CHECK(contains(server.log(), "listening on"));
    CHECK(contains(server.log(), server.address()));
    CHECK(server.stop(SIGTERM) == 0);
    const auto log = server.log();
    INFO(log);
    CHECK(contains(log, "goodbye"));
}

TEST_CASE("STO-REC-10: SIGINT also shuts down cleanly", "[integration][startup]") {
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, dir.path() / "data");
    REQUIRE(server.start());
    CHECK(server.stop(SIGINT) == 0);
    CHECK(contains(server.log(), "goodbye"));
}

TEST_CASE("AUTH-TLS-1: TLS with a PEM identity; plaintext clients fail", "[integration][startup][tls]") {
    TempDir dir;
    REQUIRE(make_cert(dir.path()));
    const auto cert = (dir.path() / "c.pem").string();
    const auto key = (dir.path() / "k.pem").string();
    // MACP_ALLOW_INSECURE=1 does not turn TLS off when both paths are set.
    ServerProcess server({{"MACP_AUTH_TOKENS_JSON", kTokens},
                          {"MACP_TLS_CERT_PATH", cert},
                          {"MACP_TLS_KEY_PATH", key},
                          {"MACP_ALLOW_INSECURE", "1"}},
                         dir.path() / "data");
    REQUIRE(server.start());
    {
        grpc::SslCredentialsOptions ssl;
        ssl.pem_root_certs = slurp(cert);
        // The certificate's SAN is IP:127.0.0.1, which matches the target; no name override is needed.
        grpc::ChannelArguments args;
        auto channel = grpc::CreateCustomChannel(server.address(), grpc::SslCredentials(ssl), args);
        auto stub = macp::v1::MACPRuntimeService::NewStub(channel);
        macp::v1::InitializeResponse resp;
        auto st = initialize(*stub, &resp);
        INFO(st.error_message());
        REQUIRE(st.ok());
        CHECK(resp.selected_protocol_version() == "1.0");

        // A session over TLS with the static token (the harness Client with TLS credentials).
        Client tls_client(server.address(), "tok-secret-value-123", grpc::SslCredentials(ssl));
        const auto sid = new_session_id();
        auto ack = tls_client.send(envelope("SessionStart", sid, kMultiRound, "s0", session_start_payload({"alice"})));
        CHECK(ack.ok());
        macp::v1::SessionMetadata md;
        REQUIRE(tls_client.get_session(sid, &md).ok());
        CHECK(md.initiator() == "agent://coord");

        // Plaintext against the TLS port fails.
        auto plain = macp::v1::MACPRuntimeService::NewStub(
            grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
        macp::v1::InitializeResponse plain_resp;
        auto plain_st = initialize(*plain, &plain_resp, std::chrono::seconds(3));
        CHECK_FALSE(plain_st.ok());
    }
    CHECK(contains(server.log(), "(TLS)"));
    CHECK(server.stop(SIGTERM) == 0);
}
